"""CLI commands of `tweet_triage.data`, registered flat on the root app (one per stage).

Each command is thin: settings, the SparkSession, one job from `tweet_triage.data.jobs`, and
the stage's summary printed (the same summary is in data/summaries/<stage>.json).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tweet_triage.config import load_settings
from tweet_triage.data.paths import DataPaths
from tweet_triage.data.summary import StageSummary
from tweet_triage.logs import configure_logging


def _echo(summary: StageSummary) -> None:
    typer.echo(summary.as_text())


def sync(
    follow: bool = typer.Option(
        False, "--follow", help="Keep going: a pass every --every seconds until stopped."
    ),
    every: float | None = typer.Option(
        None, min=0.1, help="Seconds between passes with --follow; default TRIAGE_FOLLOW_SECONDS."
    ),
) -> None:
    """Copy new raw objects from the bucket's raw prefix to DATA_DIR/raw (keeps key layout)."""
    settings = load_settings()
    configure_logging(settings)
    paths = DataPaths.from_settings(settings)
    if follow:
        import threading

        from tweet_triage.data.sync import follow_bucket
        from tweet_triage.signals import stop_on_signals

        with stop_on_signals(threading.Event()) as stop:
            totals = follow_bucket(
                settings, paths.raw, every or settings.triage_follow_seconds, stop
            )
        typer.echo(f"sync --follow: {totals.passes} pass(es), {totals.copied} object(s) copied")
        return
    from tweet_triage.data.jobs import run_sync

    _echo(run_sync(settings, paths))


def combine(
    raw: Annotated[
        str | None,
        typer.Option(
            help="Raw objects: a folder, or s3a://bucket/raw/ on a cluster. Default DATA_DIR/raw."
        ),
    ] = None,
) -> None:
    """Raw JSON Lines -> Parquet by date/hour, de-duplicated by id; bad records quarantined."""
    from tweet_triage.data.jobs import run_combine
    from tweet_triage.data.spark import spark_session

    settings = load_settings()
    configure_logging(settings)
    _echo(run_combine(spark_session(settings, "combine"), DataPaths.from_settings(settings), raw))


def filter_(
    profile: Annotated[
        str | None, typer.Option(help="Mission profile name or YAML path; default MISSION_PROFILE.")
    ] = None,
) -> None:
    """Keep the mission's tweets (profile keep/drop rules), recording the reason per tweet."""
    from tweet_triage.data.jobs import run_filter
    from tweet_triage.data.spark import spark_session

    settings = load_settings()
    configure_logging(settings)
    spark = spark_session(settings, "filter")
    _echo(run_filter(spark, DataPaths.from_settings(settings), profile or settings.mission_profile))


def process() -> None:
    """Normalised model text, features (UTC), near-duplicates removed keeping the earliest."""
    from tweet_triage.data.jobs import run_process
    from tweet_triage.data.spark import spark_session

    settings = load_settings()
    configure_logging(settings)
    _echo(run_process(spark_session(settings, "process"), DataPaths.from_settings(settings)))


def label(
    annotations: Annotated[
        Path | None,
        typer.Option(
            help="CSV id,sentiment (0/1/2); default ANNOTATIONS_PATH or the bundled demo file."
        ),
    ] = None,
) -> None:
    """Join human annotations and derive needs_support; unlabelled tweets are counted."""
    from tweet_triage.data.jobs import run_label
    from tweet_triage.data.spark import spark_session

    settings = load_settings()
    configure_logging(settings)
    spark = spark_session(settings, "label")
    _echo(run_label(spark, DataPaths.from_settings(settings), settings, annotations))


def split(
    val_size: float = typer.Option(
        None, help="Val slice: a fraction (<1) of the labelled tweets or a row count [0.15]."
    ),
    test_size: float = typer.Option(
        None, help="Test slice (the latest tweets): a fraction or a row count [0.15]."
    ),
) -> None:
    """Chronological train/val/test split with no text in two splits, plus a manifest."""
    # Imported here, not at the top: the streamer host runs this CLI without pyspark.
    from tweet_triage.data.jobs import run_split
    from tweet_triage.data.spark import spark_session
    from tweet_triage.data.split import DEFAULT_TEST_SIZE, DEFAULT_VAL_SIZE

    val_size = DEFAULT_VAL_SIZE if val_size is None else val_size
    test_size = DEFAULT_TEST_SIZE if test_size is None else test_size

    settings = load_settings()
    configure_logging(settings)
    spark = spark_session(settings, "split")
    _echo(run_split(spark, DataPaths.from_settings(settings), val_size, test_size))


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.command("sync")(sync)
    app.command("combine")(combine)
    app.command("filter")(filter_)
    app.command("process")(process)
    app.command("label")(label)
    app.command("split")(split)
