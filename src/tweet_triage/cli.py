"""`tweet-triage`: one command per stage, thin over the library functions."""

from __future__ import annotations

import json
import sys
import traceback
from enum import StrEnum
from importlib.metadata import entry_points
from typing import Annotated, Any, get_args

import typer
from pydantic import SecretStr
from typer.core import TyperGroup

from tweet_triage import __version__
from tweet_triage.cli_options import JsonFlag
from tweet_triage.cloud.cli import app as aws_app
from tweet_triage.config import as_env_text, env_name, load_settings
from tweet_triage.data.cli import register as register_data
from tweet_triage.errors import TriageError
from tweet_triage.hosts.cli import app as host_app
from tweet_triage.live.cli import app as triage_app
from tweet_triage.live.loop_cli import register as register_loop
from tweet_triage.logs import redact_text, set_default_level
from tweet_triage.model.cli import register as register_model
from tweet_triage.setting_origins import setting_origins
from tweet_triage.stream.cli import app as stream_app


class _RootGroup(TyperGroup):
    """Keeps the arguments after the command's name for the root callback, which runs before
    they are parsed: `aws status -h` is a help request, not a call to AWS."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        ctx.meta["command_args"] = list(rest)
        return name, command, rest


app = typer.Typer(
    cls=_RootGroup,
    name="tweet-triage",
    help="Flag the tweets that need a support team: infrastructure, streaming, data, model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every command
)
# Commands that talk to a service print the deployment first; the local stand-ins they need
# must run (no guessing: the error names the fix). Keyed by command, then sub-command ("": any).
SERVICE_COMMANDS: dict[str, dict[str, tuple[str, ...]]] = {
    "aws": {"": ("aws",)},
    "sync": {"": ("aws",)},
    "stream": {"run": ("xapi",), "rules": ("xapi",), "": ()},
    "host": {"": ()},
    "triage": {"": ()},
}
HELP_FLAGS = ("-h", "--help")


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    log_level: Annotated[
        LogLevel,
        typer.Option("--log-level", envvar="TT_LOG_LEVEL", help="Log level of every command."),
    ] = LogLevel.INFO,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Flag the tweets that need a support team: infrastructure, streaming, data, model."""
    set_default_level(log_level.value)
    services = SERVICE_COMMANDS.get(ctx.invoked_subcommand or "")
    rest: list[str] = ctx.meta.get("command_args", [])
    if services is None or any(flag in rest for flag in HELP_FLAGS):
        return
    settings = load_settings()
    typer.echo(f"deployment: {settings.describe_deployment()}", err=True)
    sub_command = rest[0] if rest else ""
    settings.require_stand_ins(*services.get(sub_command, services[""]))


app.add_typer(aws_app, name="aws", help="Stage 1: create, inspect, destroy the AWS stack.")
app.add_typer(stream_app, name="stream", help="Stage 2: X filtered stream -> Firehose -> S3.")
app.add_typer(
    host_app, name="host", help="Hosts: their wheels and settings, services without systemd."
)
register_data(app)
register_model(app)
app.add_typer(triage_app, name="triage", help="Live triage: the store and the web inbox.")
register_loop(app, triage_app)  # retrain, model promote|rollback, triage export-decisions


def _plugins(group: str) -> list[Any]:
    """What other installed packages add (entry points); a plugin whose package is not
    installed here (the streamer host's wheel ships the runtime only) is left out."""
    loaded = []
    for plugin in entry_points(group=group):
        try:
            loaded.append(plugin.load())
        except ModuleNotFoundError as exc:
            if exc.name != plugin.module.split(".")[0]:
                raise
    return loaded


# The stand-ins and demo tooling register their commands where they are installed.
for register_plugin in _plugins("tweet_triage.commands"):
    register_plugin(app)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def doctor(as_json: JsonFlag = False) -> None:
    """Check Java, the extras, the settings, the stand-ins or AWS, the X token and the profile;
    one pass/fail line each, with the fix. Exit 1 if any check fails."""
    from tweet_triage.doctor import as_json as checks_json
    from tweet_triage.doctor import run_checks

    checks = run_checks()
    typer.echo(checks_json(checks) if as_json else "\n".join(c.line() for c in checks))
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


config_app = typer.Typer(no_args_is_help=True)
app.add_typer(config_app, name="config", help="The effective settings.")


@config_app.command("show")
def config_show(as_json: JsonFlag = False) -> None:
    """Every setting's effective value and where it came from (environment, running stand-in,
    .env, default); secrets masked."""
    settings = load_settings()
    origins = setting_origins(settings)
    rows = []
    for field in type(settings).model_fields:
        value = getattr(settings, field)
        if isinstance(value, SecretStr):
            shown = "***" if value.get_secret_value() else ""
        else:
            shown = "" if value is None else str(value)
        rows.append({"name": env_name(field), "value": shown, "origin": origins[field]})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    width = max(len(row["name"]) for row in rows)
    typer.echo(f"deployment: {settings.describe_deployment()}")
    for row in rows:
        typer.echo(f"{row['name']:<{width}}  {row['value'] or '-'}  [{row['origin']}]")


@config_app.command("get")
def config_get(
    name: Annotated[str, typer.Argument(help="Environment variable name, e.g. DATA_DIR.")],
) -> None:
    """One setting's effective value, for scripts and make (`make inference` reads DATA_DIR)."""
    settings = load_settings()
    fields = {env_name(field).upper(): field for field in type(settings).model_fields}
    field = fields.get(name.upper())
    if field is None:
        raise typer.BadParameter(f"{name!r} is not a setting; `tweet-triage config show` lists all")
    annotation = type(settings).model_fields[field].annotation
    if SecretStr in (annotation, *get_args(annotation)):
        raise typer.BadParameter(f"{name} is a secret and is not printed")
    value = getattr(settings, field)
    typer.echo("" if value is None else as_env_text(value))


profile_app = typer.Typer(no_args_is_help=True)
app.add_typer(profile_app, name="profile", help="Mission profiles: check them offline.")


@profile_app.command("validate")
def profile_validate(
    name: Annotated[str, typer.Argument(help="Profile name (demo, jwst) or YAML path.")],
    jvm: Annotated[
        bool, typer.Option("--jvm", help="Also compile the filter patterns in a JVM (5-10 s).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Check a profile's schema, rules (with the X stand-in's rule engine) and filter patterns
    (Java syntax), and count the bundled tweets each rule matches."""
    from tweet_triage.java_regex import java_refusals
    from tweet_triage.profile import ProfileError, load_profile

    profile = load_profile(name)
    patterns = [*profile.filter.keep_patterns]
    patterns += [p for group in profile.filter.drop_patterns.values() for p in group]
    if jvm and patterns:
        refused = java_refusals(patterns)
        if refused:
            problems = "; ".join(f"{p!r}: {why}" for p, why in refused.items())
            raise ProfileError(f"profile {profile.name!r}: java.util.regex refuses {problems}")
    result: dict[str, object] = {"profile": profile.name, "patterns": len(patterns)}
    counters = _plugins("tweet_triage.rule_counters")
    if not counters:
        result["rules"] = [{"tag": r.tag, "matched": None} for r in profile.stream.rules]
    else:
        matches = counters[0](profile)
        result["corpus_tweets"], result["any_rule"] = matches.tweets, matches.any_rule
        result["rules"] = [{"tag": r.tag, "matched": r.matched} for r in matches.rules]
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    checked = "Java syntax" + (" and the JVM" if jvm else "")
    typer.echo(f"{profile.name}: valid; {len(patterns)} filter patterns checked ({checked})")
    if "corpus_tweets" not in result:
        typer.echo("rule counts skipped: the bundled corpus (tweet_triage_local) is not installed")
        return
    for rule in matches.rules:
        typer.echo(f"  {rule.matched:7,}  {rule.tag}")
    share = matches.any_rule / max(matches.tweets, 1)
    typer.echo(f"  {matches.any_rule:7,}  any rule ({share:.1%} of {matches.tweets:,} bundled)")
    if matches.any_rule == 0:
        typer.echo(
            "warning: no bundled tweet matches; against the X stand-in this profile streams "
            "nothing (MISSION_PROFILE=demo is made for the bundled corpus)",
            err=True,
        )


def main() -> None:
    """Entry point: domain errors become one clear line on stderr and exit code 2.
    `--version` after any command prints the version, as the AWS CLI does."""
    if _asks_for_version(sys.argv[1:]):
        typer.echo(__version__)
        return
    try:
        app()
    except TriageError as exc:
        typer.secho(f"error: {_redacted(str(exc))}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except Exception:
        # A bug rather than bad input: the traceback is kept for the report, secrets are not.
        sys.stderr.write(_redacted(traceback.format_exc()))
        sys.exit(1)


def _asks_for_version(args: list[str]) -> bool:
    """`--version` with no value after it, anywhere: the project's version. Followed by a value
    it belongs to the command (`model promote --version 3`)."""
    for index, arg in enumerate(args):
        if arg == "--version":
            following = args[index + 1] if index + 1 < len(args) else None
            if following is None or following.startswith("-"):
                return True
    return False


def _redacted(text: str) -> str:
    try:
        return redact_text(load_settings(), text)
    except TriageError:  # settings that do not load hold no secret we could know
        return text
