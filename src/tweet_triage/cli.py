"""`tweet-triage`: one command per stage, thin over the library functions."""

from __future__ import annotations

import sys

import typer

from tweet_triage import __version__
from tweet_triage.cloud.cli import app as aws_app
from tweet_triage.data.cli import register as register_data
from tweet_triage.errors import TriageError
from tweet_triage.model.cli import register as register_model
from tweet_triage.stream.cli import app as stream_app

app = typer.Typer(
    name="tweet-triage",
    help="Flag the tweets that need a support team: infrastructure, streaming, data, model.",
from tweet_triage.triage.cli import app as triage_app
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(aws_app, name="aws", help="Stage 1: create, inspect, destroy the AWS stack.")
app.add_typer(stream_app, name="stream", help="Stage 2: X filtered stream -> Firehose -> S3.")
register_data(app)
register_model(app)
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
    """Entry point: domain errors become one clear line on stderr and exit code 2."""
    try:
        app()
    except TriageError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
app.add_typer(triage_app, name="triage", help="Live triage: the store and the web inbox.")
