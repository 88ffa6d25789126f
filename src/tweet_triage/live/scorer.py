"""The streaming scorer: raw Firehose objects in, scored tweets in the triage store and Parquet.

One Spark Structured Streaming query, the same code locally and on a cluster (only the paths
differ: a folder that `sync --follow` keeps current, or `s3a://<bucket>/<raw prefix>`):

1. the raw objects are read as text (gzip by name, as Firehose names them) and each line is
   parsed with combine's schema (`data.combine.parse_records`);
2. every record is de-duplicated by tweet id in Spark's checkpointed state (Firehose delivers
   at least once), so a tweet reaches step 3 once in the life of the checkpoint; malformed
   records are de-duplicated by object and content and quarantined;
3. each micro-batch (`ScoreBatch`): quarantine written and counted, the mission profile's
   filter (`data.filtering.apply_filter`), the normalisation `process` uses
   (`data.process.add_features`), and P(needs support) through `predict_batch_udf` with the
   model's public scorer API; the model is the registry's `champion`, resolved again for
   every micro-batch, so a new champion scores the next batch without a restart;
4. the batch is written to the Parquet table `scored/date=/hour=/batch=<run>-<n>/` (a replayed
   batch overwrites its own partition: nothing written twice) and upserted into the triage
   store by tweet id (idempotent). A store that cannot be reached is retried; if it stays
   away the micro-batch fails, its checkpoint commit is not written, and the batch is
   replayed (same files, same state) by the next run.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from tweet_triage.config import Settings
from tweet_triage.data import combine, filtering, process
from tweet_triage.data.paths import DataPaths
from tweet_triage.errors import TriageError
from tweet_triage.live.store import DatabaseUnavailableError, ScoredRecord, TriageStore
from tweet_triage.model.registry import ResolvedModel, resolve_model
from tweet_triage.profile import load_profile, profile_path

log = logging.getLogger(__name__)

DEDUPE_KEY = "_dedupe_key"
# Spark settings of the scorer's session. The state (one key per tweet id ever seen) lives
# in RocksDB on local disk, not the JVM heap; its partition count is fixed by the checkpoint.
SCORER_CONF: dict[str, str] = {
    "spark.sql.streaming.stateStore.providerClass": (
        "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
    ),
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
}
STORE_RETRY_DELAYS = (2.0, 5.0, 10.0, 20.0, 30.0, 60.0)
SCORED_COLUMNS = (
    "id",
    "created_at",
    "received_at",
    "scored_at",
    "text",
    "model_text",
    "lang",
    "author_username",
    "matching_rules",
    "matched_rule",
    "is_reply",
    "is_original",
    "word_count",
    "weekday",
    "time_of_day",
    "p_needs_support",
    "needs_support",
    "model_version",
    "date",
    "hour",
    "batch",
)


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


@dataclass(frozen=True)
class ScorerPaths:
    """Where the scorer reads and writes; local folders or s3a:// URIs."""

    raw: str
    scored: str
    checkpoint: str

    @classmethod
    def from_settings(cls, settings: Settings) -> ScorerPaths:
        data = DataPaths.from_settings(settings)
        return cls(
            raw=settings.triage_raw_dir or str(data.raw),
            scored=settings.triage_scored_dir or str(data.root / "scored"),
            checkpoint=settings.triage_checkpoint_dir
            or str(settings.state_dir.expanduser().resolve() / "triage" / "checkpoint"),
        )

    @property
    def quarantine(self) -> str:
        """Inside the table folder under a '_' name, so readers of the table skip it."""
        return f"{self.scored.rstrip('/')}/_quarantine"

    def create_local(self) -> None:
        for path in (self.raw, self.scored):
            if "://" not in path or path.startswith("file:"):
                Path(path.removeprefix("file://")).mkdir(parents=True, exist_ok=True)


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


# --- one micro-batch ----------------------------------------------------------------------


def kept_tweets(records: DataFrame, compiled: filtering.CompiledFilter) -> DataFrame:
    """The good records the profile keeps, normalised as `process` does."""
    tweets = records.where(F.col("reason").isNull()).drop("reason", "value", DEDUPE_KEY)
    kept = filtering.apply_filter(tweets, compiled).where(F.col("decision") == filtering.KEPT)
    featured = process.add_features(kept).where(F.col("model_text") != "")
    return featured.withColumn("date", F.to_date("created_at")).withColumn(
        "received_at", F.col("source.received_at")
    )


def scored_records(rows: Sequence[Any]) -> list[ScoredRecord]:
    """Spark rows of the scored table -> the store's records, times in UTC.

    PySpark hands timestamps back as naive datetimes in this process's local time zone;
    `astimezone` reads a naive value exactly that way.
    """

    def utc(value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    return [
        ScoredRecord(
            id=row["id"],
            created_at=utc(row["created_at"]),  # type: ignore[arg-type]
            received_at=utc(row["received_at"]),
            scored_at=utc(row["scored_at"]),  # type: ignore[arg-type]
            text=row["text"],
            rule_tags=[t for t in (row["matching_rules"] or []) if t],
            p_needs_support=float(row["p_needs_support"]),
            flagged=bool(row["needs_support"]),
            model_version=row["model_version"],
        )
        for row in rows
    ]


@dataclass
class ScorerStats:
    """Running totals, written to <state>/triage/scorer-stats.json after every batch."""

    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    batches: int = 0
    records: int = 0
    quarantined: int = 0
    dropped_by_filter: int = 0
    unscorable: int = 0
    scored: int = 0
    flagged: int = 0
    model_version: str | None = None
    model_source: str | None = None
    last_batch_id: int | None = None
    last_batch_at: str | None = None
    last_batch_seconds: float | None = None
    last_batch_records: int = 0
    last_batch_scored: int = 0
    store_failures: int = 0

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=1))
        temporary.replace(path)


class ScoreBatch:
    """The foreachBatch function: filter, normalise, score, write Parquet, upsert the store."""

    def __init__(
        self,
        settings: Settings,
        paths: ScorerPaths,
        compiled: filtering.CompiledFilter,
        store: TriageStore,
        model: str | None = None,
        batch_size: int = 64,
        retry_delays: Sequence[float] = STORE_RETRY_DELAYS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.paths = paths
        self.compiled = compiled
        self.store = store
        self.model = model
        self.batch_size = batch_size
        self.retry_delays = tuple(retry_delays)
        self.sleep = sleep
        self.stats = ScorerStats()
        self.stats_path = settings.state_dir.expanduser() / "triage" / "scorer-stats.json"
        self.run_tag: str | None = None  # the query id (kept by the checkpoint), set at start
        self.started = threading.Event()
        self.failure: BaseException | None = None
        self._resolved: ResolvedModel | None = None
        self._udf: tuple[str, Any, float] | None = None

    # The model: resolved again for each batch; the UDF (and the model loaded in each Python
    # worker) is rebuilt only when the version changes.
    def current_model(self) -> ResolvedModel:
        try:
            resolved = resolve_model(self.settings, self.model)
        except Exception:
            if self._resolved is None:
                raise
            log.warning(
                "cannot resolve the model; batch scored with version %s",
                self._resolved.version,
                exc_info=True,
            )
            return self._resolved
        if self._resolved is None or resolved.version != self._resolved.version:
            log.info("scoring with model version %s (%s)", resolved.version, resolved.source)
        self._resolved = resolved
        return resolved

    def _scorer_udf(self, model: ResolvedModel) -> tuple[Any, float]:
        if self._udf is None or self._udf[0] != model.version:
            from pyspark.ml.functions import predict_batch_udf
            from pyspark.sql.types import DoubleType

            from tweet_triage.model.folder import ModelMeta
            from tweet_triage.model.inference import make_spark_predict_fn

            threshold = ModelMeta.load(model.folder).threshold
            udf = predict_batch_udf(
                make_spark_predict_fn(str(model.folder.resolve()), self.batch_size, device="cpu"),
                return_type=DoubleType(),
                batch_size=self.batch_size,
            )
            self._udf = (model.version, udf, threshold)
        return self._udf[1], self._udf[2]

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        self.started.wait(60)
        started = time.perf_counter()
        tag = f"{self.run_tag or 'run'}-{batch_id:08d}"
        batch = batch.persist()
        try:
            self._process(batch, batch_id, tag)
        except DatabaseUnavailableError as exc:
            self.failure = exc
            raise
        finally:
            batch.unpersist()
        self.stats.batches += 1
        self.stats.last_batch_id = batch_id
        self.stats.last_batch_at = datetime.now(UTC).isoformat()
        self.stats.last_batch_seconds = round(time.perf_counter() - started, 3)
        self.stats.save(self.stats_path)

    def _process(self, batch: DataFrame, batch_id: int, tag: str) -> None:
        counts = batch.agg(
            F.count(F.lit(1)).alias("records"),
            F.count("reason").alias("bad"),
        ).first()
        records, bad = int(counts["records"]), int(counts["bad"])  # type: ignore[index]
        if records == 0:
            return
        if bad:
            bad_rows = batch.where(F.col("reason").isNotNull()).select(
                F.col("source.path").alias("source"), "reason", "value"
            )
            bad_rows.coalesce(1).write.mode("overwrite").parquet(
                f"{self.paths.quarantine}/batch={tag}"
            )
            log.warning("batch %d: %d malformed record(s) quarantined", batch_id, bad)
        model = self.current_model()
        udf, threshold = self._scorer_udf(model)
        # One scoring task per batch (a few dozen to a few thousand tweets): one Python worker
        # loads the model, not one per state partition; torch uses the cores within it.
        kept = kept_tweets(batch, self.compiled).coalesce(1)
        raw_p = udf(F.coalesce(F.col("text"), F.lit("")))
        scored = (
            kept.withColumn("p_needs_support", F.when(~F.isnan(raw_p), raw_p))
            .withColumn("needs_support", (F.col("p_needs_support") >= F.lit(threshold)).cast("int"))
            .withColumn("model_version", F.lit(model.version))
            .withColumn("batch", F.lit(tag))
            .persist()
        )
        try:
            kept_count = scored.count()
            usable = scored.where(F.col("p_needs_support").isNotNull())
            scored_at = datetime.now(UTC)
            table = usable.withColumn("scored_at", F.lit(scored_at).cast("timestamp")).select(
                *SCORED_COLUMNS
            )
            (
                table.write.mode("overwrite")
                .option("partitionOverwriteMode", "dynamic")
                .partitionBy("date", "hour", "batch")
                .parquet(self.paths.scored)
            )
            rows = table.drop("model_text").collect()
        finally:
            scored.unpersist()
        written = scored_records(rows)
        self._upsert(written, batch_id)
        flagged = sum(r.flagged for r in written)
        self.stats.records += records
        self.stats.quarantined += bad
        self.stats.dropped_by_filter += records - bad - kept_count
        self.stats.unscorable += kept_count - len(written)
        self.stats.scored += len(written)
        self.stats.flagged += flagged
        self.stats.model_version = model.version
        self.stats.last_batch_records = records
        self.stats.last_batch_scored = len(written)
        self.stats.model_source = model.source
        log.info(
            "batch %d: %d record(s), %d kept and scored, %d flagged, %d quarantined (model %s)",
            batch_id,
            records,
            len(written),
            flagged,
            bad,
            model.version,
        )

    def _upsert(self, records: list[ScoredRecord], batch_id: int) -> None:
        for delay in (*self.retry_delays, None):
            try:
                self.store.upsert_scored(records)
                return
            except DatabaseUnavailableError as exc:
                self.stats.store_failures += 1
                if delay is None:
                    raise
                log.warning(
                    "batch %d: the triage store is unavailable (%s); retrying in %.0f s",
                    batch_id,
                    exc,
                    delay,
                )
                self.sleep(delay)


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
        retry_delays=retry_delays[: settings.triage_store_retries],
    )
    score_batch.current_model()  # no model: say "train first" before anything starts
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
