"""`tweet-triage`: one command per stage, thin over the library functions."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from tweet_triage import __version__
from tweet_triage.cloud.cli import app as aws_app
from tweet_triage.config import load_settings
from tweet_triage.data.cli import register as register_data
from tweet_triage.errors import TriageError
from tweet_triage.logs import set_default_level
from tweet_triage.model.cli import register as register_model
from tweet_triage.stream.cli import app as stream_app
from tweet_triage.triage.cli import app as triage_app

app = typer.Typer(
    name="tweet-triage",
    help="Flag the tweets that need a support team: infrastructure, streaming, data, model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every command
)
# Commands that talk to a service print the deployment first; the local stand-ins they need
# must run (no guessing: the error names the fix).
SERVICE_COMMANDS: dict[str, tuple[str, ...]] = {
    "aws": ("aws",),
    "sync": ("aws",),
    "stream": (),
    "triage": (),
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
    needs = SERVICE_COMMANDS.get(ctx.invoked_subcommand or "")
    if needs is None or any(flag in sys.argv[1:] for flag in HELP_FLAGS):
        return
    settings = load_settings()
    typer.echo(f"deployment: {settings.describe_deployment()}", err=True)
    settings.require_stand_ins(*needs)


app.add_typer(aws_app, name="aws", help="Stage 1: create, inspect, destroy the AWS stack.")
app.add_typer(stream_app, name="stream", help="Stage 2: X filtered stream -> Firehose -> S3.")
register_data(app)
register_model(app)
app.add_typer(triage_app, name="triage", help="Live triage: the store and the web inbox.")
# The stand-ins and demo tooling register themselves where installed; the streamer host's
# wheel ships the runtime package only.
try:
    from tweet_triage_local.cli import register as register_local
except ModuleNotFoundError as exc:
    if exc.name != "tweet_triage_local":
        raise
else:
    register_local(app)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    """Entry point: domain errors become one clear line on stderr and exit code 2.
    `--version` after any command prints the version, as the AWS CLI does."""
    if "--version" in sys.argv[2:]:
        typer.echo(__version__)
        return
    try:
        app()
    except TriageError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
