"""`tweet-triage`: one command per stage, thin over the library functions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tweet_triage import __version__
from tweet_triage.cloud.cli import app as aws_app
from tweet_triage.config import PROJECT_ROOT
from tweet_triage.corpus.cli import app as corpus_app
from tweet_triage.data.cli import register as register_data
from tweet_triage.errors import TriageError
from tweet_triage.local.cli import app as local_app
from tweet_triage.model.cli import register as register_model
from tweet_triage.stream.cli import app as stream_app
from tweet_triage.xapi.cli import app as xapi_app

app = typer.Typer(
    name="tweet-triage",
    help="Flag the tweets that need a support team: infrastructure, streaming, data, model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(aws_app, name="aws", help="Stage 1: create, inspect, destroy the AWS stack.")
app.add_typer(stream_app, name="stream", help="Stage 2: X filtered stream -> Firehose -> S3.")
app.add_typer(local_app, name="local", help="Local stand-ins: AWS (moto), X API, SSH host.")
app.add_typer(xapi_app, name="xapi", help="The local X API v2 filtered-stream stand-in.")
app.add_typer(corpus_app, name="corpus", help="Build the bundled demo corpus.")
register_data(app)
register_model(app)


@app.command()
def demo(
    replay_rate: float = typer.Option(2000.0, help="X stand-in replay rate, tweets/s."),
    train_args: str = typer.Option("--budget demo", help="Arguments passed to `train`."),
) -> None:
    """From nothing to a trained model and report, then tear everything down."""
    from tweet_triage.demo import run_demo

    run_demo(replay_rate=replay_rate, train_args=train_args)


EXECUTED_NOTEBOOKS = PROJECT_ROOT / "notebooks" / "executed"
notebooks_app = typer.Typer(no_args_is_help=True)
app.add_typer(notebooks_app, name="notebooks", help="Run the notebooks headless (papermill).")


@notebooks_app.command("run")
def notebooks_run(
    output_dir: Annotated[Path, typer.Option(help="Executed copies.")] = EXECUTED_NOTEBOOKS,
    only: Annotated[
        list[str] | None, typer.Option(help="Run only these notebooks (by name, repeatable).")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(help="NOTEBOOK.NAME=VALUE (JSON value), e.g. 07-train-evaluate.max_steps=5"),
    ] = None,
) -> None:
    """Run the notebooks in order against the local stand-ins (started if needed)."""
    from tweet_triage.notebooks import run_notebooks

    parameters: dict[str, dict[str, object]] = {}
    for item in param or []:
        target, _, value = item.partition("=")
        notebook, _, name = target.partition(".")
        if not (notebook and name and value):
            raise typer.BadParameter(f"--param {item!r}: use NOTEBOOK.NAME=VALUE")
        try:
            parameters.setdefault(notebook, {})[name] = json.loads(value)
        except json.JSONDecodeError:
            parameters.setdefault(notebook, {})[name] = value
    for name, seconds in run_notebooks(output_dir, parameters, only or None):
        typer.echo(f"{seconds:7.1f} s  {name}")


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
