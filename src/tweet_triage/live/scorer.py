"""The streaming scorer: raw Firehose objects in, scored tweets in the triage store and Parquet.

One Spark Structured Streaming query, the same code locally and on a cluster (only the paths
differ: a folder that `sync --follow` keeps current, or `s3a://<bucket>/<raw prefix>`):

1. the raw objects are read as text (gzip by name, as Firehose names them), at most
   `TRIAGE_MAX_FILES_PER_TRIGGER` per micro-batch, and each line is parsed with combine's
   schema (`data.combine.parse_records`); an object Spark cannot read (a gzip cut short) does
   not fail the batch: its readable lines are kept, and a local object is checked as combine
   checks it and quarantined with its name and reason;
2. every record is de-duplicated by tweet id in Spark's checkpointed state (Firehose delivers
   at least once), so a tweet reaches step 3 once in the life of the checkpoint; malformed
   records are de-duplicated by object and content and quarantined;
3. each micro-batch (`ScoreBatch`) is read once: every record is classified (malformed, dropped
   by the mission profile's filter `data.filtering.apply_filter` or with no model text after
   `data.process.add_features`, or kept) and the kept ones scored with the model's public
   scorer API (`TRIAGE_SCORER_ENGINE`, ONNX int8 by default) in one Spark job whose result
   comes to the driver as Arrow; the model is the registry's `champion`, resolved again for
   every micro-batch, so a new champion scores the next batch without a restart;
4. the batch is written to the Parquet table `scored/date=/hour=/batch=<run>-<n>/` (a replayed
   batch overwrites its own partition: nothing written twice) and upserted into the triage
   store by tweet id (idempotent). A store that cannot be reached is retried; if it stays
   away the micro-batch fails, its checkpoint commit is not written, and the batch is
   replayed (same files, same state) by the next run.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from tweet_triage.config import Settings, SettingsError
from tweet_triage.data import combine, filtering
from tweet_triage.errors import TriageError
from tweet_triage.live.batch import (
    DEDUPE_KEY,
    STORE_RETRY_DELAYS,
    ScoreBatch,
    ScorerPaths,
    ScorerStats,
)
from tweet_triage.live.store import DatabaseUnavailableError, TriageStore
from tweet_triage.model.folder import ModelMeta
from tweet_triage.profile import load_profile, profile_path

log = logging.getLogger(__name__)

SCORER_CONF: dict[str, str] = {
    "spark.sql.streaming.stateStore.providerClass": (
        "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
    ),
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
    # An object Spark cannot read (a gzip cut short) must not stop the live path: its
    # readable lines are kept and the object is quarantined by `batch.unreadable_objects`.
    "spark.sql.files.ignoreCorruptFiles": "true",
}


class StoreUnavailableError(TriageError):
    """The triage store stayed unreachable through a micro-batch's retries; nothing was lost."""


class ScorerError(TriageError):
    """The streaming query failed for a reason other than the store."""


def parse_every(text: str) -> float:
    """'30s', '2m', '1h' or plain seconds -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise TriageError(f"--every {text!r}: use a positive duration like 30s, 2m or 1h")
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]
    return float(match.group(1)) * factor


def _torch_sees_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def scorer_device(
    engine: str, device: str, cuda_available: Callable[[], bool] = _torch_sees_cuda
) -> str:
    """Where the model runs (TRIAGE_SCORER_ENGINE, TRIAGE_SCORER_DEVICE): the ONNX engines on
    CPU; torch (or auto) on CUDA when asked for or, with `auto`, when torch sees a GPU.

    Decided on the driver and handed to every Python worker, so each loads the model on the
    same device and an `auto` engine resolves the same way in all of them.
    """
    if engine.startswith("onnx"):
        if device == "cuda":
            raise SettingsError(
                f"TRIAGE_SCORER_DEVICE=cuda with TRIAGE_SCORER_ENGINE={engine}: the ONNX engines "
                "run on CPU; set TRIAGE_SCORER_ENGINE=torch (or auto) to score on the GPU"
            )
        return "cpu"
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device == "cuda" and not cuda_available():
        raise SettingsError(
            "TRIAGE_SCORER_DEVICE=cuda, but torch sees no CUDA GPU here; use auto or cpu"
        )
    return device


# --- the streaming part: source, parse, de-duplicate ------------------------------------


def raw_lines(spark: SparkSession, raw: str, max_files_per_trigger: int) -> DataFrame:
    """Every line of every new raw object, with its object's path and arrival time.

    `source` is a struct (path, received_at): `parse_records` carries it through untouched,
    so each record keeps the object it came in and when that object landed.
    """
    stream = (
        spark.readStream.format("text")
        .option("recursiveFileLookup", "true")
        .option("maxFilesPerTrigger", max_files_per_trigger)
        .load(raw)
    )
    source = F.struct(
        F.col("_metadata.file_path").alias("path"),
        F.col("_metadata.file_modification_time").alias("received_at"),
    )
    return stream.select(source.alias("source"), "value")


def dedupe_key() -> Column:
    """The tweet id; for a malformed record, its object and content (quarantined once too)."""
    content = F.sha2(F.concat_ws("\n", F.col("source.path"), F.col("value")), 256)
    return F.when(F.col("reason").isNull(), F.col("id")).otherwise(F.concat(F.lit("bad:"), content))


def unique_records(lines: DataFrame) -> DataFrame:
    """Parsed records, each tweet id once across all micro-batches (checkpointed state)."""
    parsed = combine.parse_records(combine.split_records(lines))
    return parsed.withColumn(DEDUPE_KEY, dedupe_key()).dropDuplicates([DEDUPE_KEY])


# --- the query ----------------------------------------------------------------------------


@dataclass
class ScorerRun:
    stats: ScorerStats
    restarts: int = 0


def start_query(
    spark: SparkSession,
    paths: ScorerPaths,
    score_batch: ScoreBatch,
    every: float | None,
    max_files_per_trigger: int,
) -> Any:
    """Start the streaming query; `every` None means availableNow (catch up, then stop)."""
    records = unique_records(raw_lines(spark, paths.raw, max_files_per_trigger))
    writer = (
        records.writeStream.foreachBatch(score_batch)
        .option("checkpointLocation", paths.checkpoint)
        .queryName("triage-score")
    )
    writer = (
        writer.trigger(availableNow=True)
        if every is None
        else writer.trigger(processingTime=f"{every} seconds")
    )
    score_batch.started.clear()
    query = writer.start()
    score_batch.run_tag = str(query.id)[:8]
    score_batch.started.set()
    return query


def _wait(query: Any, stop: threading.Event) -> None:
    """Until the query ends, or `stop` is set: then let a running batch finish and stop."""
    from pyspark.errors import StreamingQueryException

    while query.isActive and not stop.is_set():
        try:
            query.awaitTermination(1)
        except StreamingQueryException:
            return  # the caller reads query.exception()
    if query.isActive:
        deadline = time.monotonic() + 120
        while query.status.get("isTriggerActive") and time.monotonic() < deadline:
            time.sleep(0.5)
        query.stop()


def run_scorer(
    settings: Settings,
    spark: SparkSession,
    *,
    every: float | None,
    model: str | None = None,
    store: TriageStore | None = None,
    stop: threading.Event | None = None,
    retry_delays: Sequence[float] = STORE_RETRY_DELAYS,
) -> ScorerRun:
    """Run the scorer until caught up (`every` None) or until `stop` is set.

    Continuous runs outlive an unreachable store: the failed batch is replayed from the
    checkpoint once the store answers again. A catch-up run reports it and exits.
    """
    stop = stop or threading.Event()
    for key, value in SCORER_CONF.items():
        spark.conf.set(key, value)
    paths = ScorerPaths.from_settings(settings)
    paths.create_local()
    profile = settings.mission_profile
    compiled = filtering.compile_filter(load_profile(profile).filter)
    filtering.check_java_regexes(spark, compiled, str(profile_path(profile)))
    store = store or TriageStore.from_settings(settings)
    score_batch = ScoreBatch(
        settings,
        paths,
        compiled,
        store,
        model=model or settings.triage_model,
        device=scorer_device(settings.triage_scorer_engine, settings.triage_scorer_device),
        retry_delays=retry_delays[: settings.triage_store_retries],
    )
    # No model: "train first"; TRIAGE_LIVE_PRIOR on a model that cannot follow the live
    # share: say so, before anything starts.
    score_batch.live.check(ModelMeta.load(score_batch.current_model().folder))
    try:
        store.migrate()
    except DatabaseUnavailableError as exc:  # the batches retry it; nothing is read yet
        log.warning("%s; micro-batches will retry it", exc)
    run = ScorerRun(score_batch.stats)
    log.info(
        "scoring %s -> %s and the triage store (%s)",
        paths.raw,
        paths.scored,
        "catch up and stop" if every is None else f"every {every:g} s",
    )
    while True:
        score_batch.failure = None
        try:
            query = start_query(
                spark, paths, score_batch, every, settings.triage_max_files_per_trigger
            )
            score_batch.stats.save(score_batch.stats_path)  # started: `triage status` shows it
            _wait(query, stop)
            error = query.exception()
        except Exception:
            # SIGTERM reaches the JVM too (its shutdown hook stops Spark mid-call): a stop.
            if stop.is_set():
                log.info("stopped; an unfinished micro-batch is replayed at the next start")
                return run
            raise
        if error is None or (stop.is_set() and score_batch.failure is None):
            return run
        if score_batch.failure is None:
            raise ScorerError(f"the streaming scorer failed: {_first_line(str(error))}")
        message = (
            f"{score_batch.failure}; the micro-batch was not committed and is replayed "
            "from the checkpoint, nothing is lost"
        )
        if every is None or stop.is_set():
            raise StoreUnavailableError(message)
        run.restarts += 1
        pause = max(every, 30.0)
        log.error("%s (restarting in %.0f s)", message, pause)
        if stop.wait(pause):
            return run


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:300]
    return "unknown error"


def latency_percentiles(seconds: Sequence[float]) -> dict[str, Any]:
    """p50 and p95 of a list of latencies (None when empty); shared by the demo and bench."""
    values = sorted(v for v in seconds if not math.isnan(v))
    if not values:
        return {"p50": None, "p95": None, "n": 0}

    def pick(q: float) -> float:
        return round(values[min(len(values) - 1, math.ceil(q * len(values)) - 1)], 3)

    return {"p50": pick(0.50), "p95": pick(0.95), "n": len(values)}
