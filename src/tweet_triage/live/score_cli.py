"""`tweet-triage triage score|up|down|status`: the streaming scorer and the local live stack."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from typing import Annotated

import typer

from tweet_triage.config import load_settings
from tweet_triage.logs import configure_logging


def score(
    every: Annotated[
        str | None,
        typer.Option(help="Micro-batch interval (30s, 2m); default TRIAGE_SCORE_EVERY."),
    ] = None,
    available_now: Annotated[
        bool,
        typer.Option("--available-now", help="Score everything not scored yet, then exit."),
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(help="'champion' (the MLflow alias) or a model folder; default TRIAGE_MODEL."),
    ] = None,
) -> None:
    """Score arriving tweets (Spark Structured Streaming) into the triage store and Parquet."""
    from tweet_triage.data.spark import spark_session
    from tweet_triage.live.scorer import StoreUnavailableError, parse_every, run_scorer
    from tweet_triage.live.scorer_status import quarantine_lines, threshold_line
    from tweet_triage.signals import stop_on_signals

    settings = load_settings()
    configure_logging(settings)
    if available_now and every is not None:
        raise typer.BadParameter("use either --every or --available-now")
    interval = None if available_now else parse_every(every or f"{settings.triage_score_every}")
    spark = spark_session(settings, "triage-score")
    with stop_on_signals(threading.Event()) as stop:
        try:
            run = run_scorer(settings, spark, every=interval, model=model, stop=stop)
        except StoreUnavailableError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc  # transient: a timer or supervisor runs it again
    stats = run.stats
    rate = f"; {stats.scored / stats.busy_seconds:.1f} tweets/s" if stats.busy_seconds else ""
    typer.echo(
        f"scorer: {stats.batches} batch(es), {stats.records} record(s), {stats.scored} scored, "
        f"{stats.flagged} flagged, {stats.quarantined} quarantined, "
        f"{stats.quarantined_objects} unreadable object(s) quarantined, "
        f"{stats.dropped_by_filter} dropped by the profile; model {stats.model_version} "
        f"({stats.engine} on {stats.device}){rate}"
    )
    found = asdict(stats)
    for line in filter(None, [threshold_line(found), *quarantine_lines(found)]):
        typer.echo(line)


def up() -> None:
    """Start the sync follower, the streaming scorer and the inbox locally (safe to repeat)."""
    from tweet_triage.live.services import start_live

    for line in start_live(load_settings()):
        typer.echo(line)


def down() -> None:
    """Stop the local inbox, scorer and sync follower (safe to repeat)."""
    from tweet_triage.live.services import stop_live

    for line in stop_live(load_settings()):
        typer.echo(line)


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Running or not, the scorer's totals and the inbox URL."""
    from tweet_triage.live.services import live_status, status_lines

    found = live_status(load_settings())
    typer.echo(json.dumps(found, indent=1) if as_json else "\n".join(status_lines(found)))


def register(app: typer.Typer) -> None:
    app.command()(score)
    app.command()(up)
    app.command()(down)
    app.command()(status)
