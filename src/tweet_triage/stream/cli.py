"""`tweet-triage stream ...`: run the streamer, show or sync the stream rules."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import typer

from tweet_triage.cli_options import JsonFlag
from tweet_triage.config import Settings, load_settings
from tweet_triage.logs import configure_logging
from tweet_triage.profile import MissionProfile, load_profile
from tweet_triage.stream.errors import TransientStreamError
from tweet_triage.stream.rules import diff_rules, live_rules, sync_rules
from tweet_triage.stream.sinks import parse_sink
from tweet_triage.stream.streamer import Streamer, StreamLimits
from tweet_triage.stream.x_client import XStreamingClient

app = typer.Typer(no_args_is_help=True)

PROFILE_HELP = "Mission profile name or YAML path; default MISSION_PROFILE."


@contextmanager
def _transient_errors_exit_1() -> Iterator[None]:
    """One line and exit 1 (a supervisor restarts it); bad input stays exit 2 (final)."""
    try:
        yield
    except TransientStreamError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc


@app.command("run")
def run(
    sink: str = typer.Option(
        "firehose", help="'firehose' (the stack's delivery stream) or 'file:PATH'."
    ),
    max_tweets: int = typer.Option(None, min=1, help="Stop after this many tweets."),
    max_seconds: float = typer.Option(None, min=0.1, help="Stop after this many seconds."),
    profile: str = typer.Option(None, help=PROFILE_HELP),
    sync_rules_first: bool = typer.Option(
        True, "--sync-rules/--no-sync-rules", help="Make X's rules equal the profile's first."
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Delete rules on X that the profile lacks without asking."
    ),
) -> None:
    """Stream tweets matching the profile's rules into Firehose (or a file) until stopped.

    SIGTERM or Ctrl-C: stop reading, send everything received, exit 0.
    """
    settings = load_settings()
    configure_logging(settings, json_file=settings.stream_paths.log_file)
    mission = load_profile(profile or settings.mission_profile)
    if sync_rules_first and not yes and sys.stdin.isatty():
        yes = _confirm_rule_deletes(settings, mission)
    streamer = Streamer(
        settings,
        mission,
        parse_sink(sink, settings),
        limits=StreamLimits(max_tweets=max_tweets, max_seconds=max_seconds),
        sync=sync_rules_first,
        allow_rule_deletes=yes,
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        streamer.request_stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with _transient_errors_exit_1():
        stats = streamer.run()
    typer.echo(f"stopped ({streamer.stop_reason}): {streamer.summary()}")
    typer.echo(stats.line())


def _confirm_rule_deletes(settings: Settings, mission: MissionProfile) -> bool:
    """On a terminal: show the dry run of the rule sync and ask before deleting rules on X."""
    settings.require("x_bearer_token")
    assert settings.x_bearer_token is not None
    client = XStreamingClient(
        settings.x_bearer_token.get_secret_value(), base_url=settings.x_api_base_url
    )
    with _transient_errors_exit_1():
        diff = diff_rules(mission, live_rules(client))
    if not diff.delete:
        return False
    for line in diff.lines():
        typer.echo(line)
    return typer.confirm(
        f"Delete {len(diff.delete)} rule(s) on X that profile {mission.name!r} does not have?"
    )


@app.command("rules")
def rules(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show the diff and let X validate it; change nothing."
    ),
    profile: str = typer.Option(None, help=PROFILE_HELP),
    as_json: JsonFlag = False,
) -> None:
    """Make X's stream rules equal the profile's (add missing, delete stale); print the diff."""
    settings = load_settings()
    configure_logging(settings)
    settings.require("x_bearer_token")
    assert settings.x_bearer_token is not None
    mission = load_profile(profile or settings.mission_profile)
    client = XStreamingClient(
        settings.x_bearer_token.get_secret_value(),
        base_url=settings.x_api_base_url,
        wait_on_rate_limit=True,
    )
    with _transient_errors_exit_1():
        diff = sync_rules(client, mission, dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps({"profile": mission.name, "dry_run": dry_run, **diff.as_dict()}))
        return
    for line in diff.lines():
        typer.echo(line)
    verb = "would be" if dry_run else "were"
    typer.echo(
        f"profile {mission.name!r}: {len(diff.add)} rule(s) {verb} added, "
        f"{len(diff.delete)} {verb} deleted, {len(diff.keep)} unchanged"
    )
