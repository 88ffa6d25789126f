"""One micro-batch of the streaming scorer: classify, score, write Parquet, upsert the store.

The batch is read once. Every record gets its `kind` from column expressions (malformed,
dropped by the profile, or kept) and only the kept ones' texts reach the model (the others
go to the Python worker as '', which scores NaN without a forward pass), so one Spark job
returns the whole batch to the driver as Arrow: the counts, the quarantine rows and the
scored tweets. The Parquet table (with pyarrow, `scored_table`) and the store are written
from that.

Objects Spark cannot read: the scorer's session skips the unreadable rest of an object
(`spark.sql.files.ignoreCorruptFiles`) instead of failing the batch, so the inbox keeps
receiving tweets; for local raw folders each object of the batch is checked as combine
checks it (`data.combine.check_objects`) and an unreadable one is quarantined with its
name and reason, and counted (`quarantined_objects`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from tweet_triage.atomic_files import write_atomic
from tweet_triage.config import Settings
from tweet_triage.data import combine, filtering, process
from tweet_triage.data.paths import DataPaths
from tweet_triage.live.live_prior import LiveThreshold
from tweet_triage.live.scored_table import ScoredTable
from tweet_triage.live.scorer_status import scorer_stats_path
from tweet_triage.live.store import DatabaseUnavailableError, ScoredRecord, TriageStore
from tweet_triage.model.folder import ModelMeta
from tweet_triage.model.registry import ResolvedModel, resolve_model

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

DEDUPE_KEY = "_dedupe_key"
STORE_RETRY_DELAYS = (2.0, 5.0, 10.0, 20.0, 30.0, 60.0)
# Rows per Arrow batch sent to the Python worker; the model runs on the kept texts of each in
# forward passes of `FORWARD_BATCH`, so a profile that drops most rows still fills its passes.
UDF_ROWS = 512
FORWARD_BATCH = 64
RECENT_BAD_OBJECTS = 20  # the newest quarantined objects listed in the stats file
BAD, DROPPED, KEPT = "bad", "dropped", "kept"
# Columns of the scored table set after the model ran (the rest come from `classified`).
DERIVED_COLUMNS = ("scored_at", "p_needs_support", "needs_support", "model_version", "batch")
SCORED_COLUMNS = (
    "id",
    "created_at",
    "received_at",
    "scored_at",
    "text",
    "model_text",
    "lang",
    "author_username",
    "author_id",
    "author_name",
    "conversation_id",
    "in_reply_to_user_id",
    "in_reply_to_tweet_id",
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


def classified(records: DataFrame, compiled: filtering.CompiledFilter) -> DataFrame:
    """Every record with its `kind` (bad, dropped, kept), normalised as `process` does.

    Column expressions over the one frame (no union, no second scan of the batch). A bad
    record keeps its quarantine reason in `bad_reason`; near-duplicates are not dropped: in
    the live stream each copy is a tweet someone may have to answer. The tweet it replies to
    is its `replied_to` reference (null for a tweet that answers nobody).
    """
    tweets = records.withColumnRenamed("reason", "bad_reason").drop(DEDUPE_KEY)
    featured = process.add_features(filtering.apply_filter(tweets, compiled))
    kind = (
        F.when(F.col("bad_reason").isNotNull(), BAD)
        .when((F.col("decision") == filtering.KEPT) & (F.col("model_text") != ""), KEPT)
        .otherwise(DROPPED)
    )
    return (
        featured.withColumn("kind", kind)
        .withColumn("date", F.to_date("created_at"))
        .withColumn("received_at", F.col("source.received_at"))
        .withColumn("in_reply_to_tweet_id", _replied_to(F.col("referenced_tweets")))
    )


def _replied_to(references: Column) -> Column:
    replied = F.filter(references, lambda ref: ref["type"] == "replied_to")
    return F.get(replied, 0)["id"]


def scored_records(rows: Sequence[Any]) -> list[ScoredRecord]:
    """Rows of the scored table -> the store's records, times in UTC.

    Arrow hands timestamps back in UTC; a naive datetime (PySpark's rows) is in this
    process's local time zone, which is how `astimezone` reads it. The author and thread
    fields are null where X did not send them (a record from before the streamer asked).
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
            author_id=row.get("author_id"),
            author_name=row.get("author_name"),
            author_handle=row.get("author_username"),
            conversation_id=row.get("conversation_id"),
            in_reply_to_user_id=row.get("in_reply_to_user_id"),
            in_reply_to_tweet_id=row.get("in_reply_to_tweet_id"),
        )
        for row in rows
    ]


def batch_objects(checkpoint: str, batch_id: int) -> list[str]:
    """The raw objects the file source gave micro-batch `batch_id` (its log in the checkpoint).

    The log is `sources/0/<n>` (a version line, then one JSON entry per object), compacted
    every few batches into `<n>.compact` holding the entries of every batch so far.
    """
    folder = Path(checkpoint.removeprefix("file:")) / "sources" / "0"
    logs = [folder / str(batch_id), *sorted(folder.glob("*.compact"), reverse=True)]
    for path in logs:
        if not path.is_file():
            continue
        entries = [json.loads(line) for line in path.read_text().splitlines()[1:] if line]
        found = [e["path"] for e in entries if e.get("batchId") == batch_id]
        if found:
            return found
    return []


def unreadable_objects(uris: Sequence[str]) -> dict[str, str]:
    """object URI -> why Spark could not read it, for the local objects (combine's check)."""
    local = {uri: Path(unquote(urlparse(uri).path)) for uri in uris if uri.startswith("file:")}
    bad = combine.check_objects(list(local.values()))
    return {uri: bad[path] for uri, path in local.items() if path in bad}


def make_predict_fn(folder: str, engine: str, device: str) -> Callable[[], Callable[[Any], Any]]:
    """For `predict_batch_udf`: one model load per Python worker, kept across micro-batches
    (Spark reuses the worker and `predict_batch_udf` caches what this returns)."""

    def make() -> Callable[[Any], Any]:
        import os
        import sys

        import numpy as np

        from tweet_triage.model.inference import load_scorer

        scorer = load_scorer(folder, engine=engine, device=device)
        # The worker's stderr is the scorer's log: one line per model load shows the reuse.
        print(f"Python worker {os.getpid()} loaded {folder} ({scorer.engine})", file=sys.stderr)

        def predict(texts: Any) -> Any:
            p = scorer.predict_proba(texts.tolist(), batch_size=FORWARD_BATCH)
            return p.astype(np.float64)

        return predict

    return make


@dataclass
class ScorerStats:
    """Running totals, written to <state>/triage/scorer-stats.json after every batch.

    `busy_seconds` is the time spent in micro-batches, so `scored / busy_seconds` is the rate
    the scorer sustains; `score_seconds`, `parquet_seconds` and `store_seconds` split it.
    `threshold` is the cut the last batch was flagged with (live_prior.ThresholdInUse), and
    `live_prior_window` the size of the window of scores it follows (None: the option is off).
    """

    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    batches: int = 0
    records: int = 0
    quarantined: int = 0
    quarantined_objects: int = 0
    recent_bad_objects: list[dict[str, str]] = field(default_factory=list)
    dropped_by_filter: int = 0
    unscorable: int = 0
    scored: int = 0
    flagged: int = 0
    model_version: str | None = None
    model_source: str | None = None
    engine: str | None = None
    device: str | None = None
    threshold: float | None = None
    model_threshold: float | None = None
    live_prior: float | None = None
    live_prior_scores: int = 0
    live_prior_window: int | None = None
    last_batch_id: int | None = None
    last_batch_at: str | None = None
    last_batch_seconds: float | None = None
    last_batch_records: int = 0
    last_batch_scored: int = 0
    busy_seconds: float = 0.0
    score_seconds: float = 0.0
    parquet_seconds: float = 0.0
    store_seconds: float = 0.0
    store_failures: int = 0

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(asdict(self), indent=1))


class ScoreBatch:
    """The foreachBatch function: classify, score, write Parquet, upsert the store."""

    def __init__(
        self,
        settings: Settings,
        paths: ScorerPaths,
        compiled: filtering.CompiledFilter,
        store: TriageStore,
        model: str | None = None,
        device: str = "cpu",
        retry_delays: Sequence[float] = STORE_RETRY_DELAYS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.paths = paths
        self.table = ScoredTable.at(paths.scored, settings)
        self.compiled = compiled
        self.store = store
        self.model = model
        self.engine = settings.triage_scorer_engine
        self.retry_delays = tuple(retry_delays)
        self.sleep = sleep
        self.device = device
        self.live = LiveThreshold.from_settings(settings)
        window = settings.triage_live_prior_window if self.live.enabled else None
        self.stats = ScorerStats(engine=self.engine, device=device, live_prior_window=window)
        self.stats_path = scorer_stats_path(settings.state_dir)
        self.run_tag: str | None = None  # the query id (kept by the checkpoint), set at start
        self.started = threading.Event()
        self.failure: BaseException | None = None
        self._resolved: ResolvedModel | None = None
        self._udf: tuple[str, Any, ModelMeta] | None = None

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

    def _scorer_udf(self, model: ResolvedModel) -> tuple[Any, ModelMeta]:
        if self._udf is None or self._udf[0] != model.version:
            from pyspark.ml.functions import predict_batch_udf
            from pyspark.sql.types import DoubleType

            folder = model.folder.resolve()
            meta = ModelMeta.load(folder)
            if self.engine.startswith("onnx"):
                from tweet_triage.model.export import export_onnx, onnx_paths

                if not all(p.is_file() for p in onnx_paths(folder)):
                    log.info("%s: exporting the model to ONNX (once)", folder)
                    export_onnx(folder)  # here, not in each Python worker at once
            udf = predict_batch_udf(
                make_predict_fn(str(folder), self.engine, self.device),
                return_type=DoubleType(),
                batch_size=UDF_ROWS,
            )
            self._udf = (model.version, udf, meta)
        return self._udf[1], self._udf[2]

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        self.started.wait(60)
        started = time.perf_counter()
        tag = f"{self.run_tag or 'run'}-{batch_id:08d}"
        try:
            self._process(batch, batch_id, tag)
        except DatabaseUnavailableError as exc:
            self.failure = exc
            raise
        seconds = time.perf_counter() - started
        self.stats.batches += 1
        self.stats.busy_seconds = _add(self.stats.busy_seconds, started)
        self.stats.last_batch_id = batch_id
        self.stats.last_batch_at = datetime.now(UTC).isoformat()
        self.stats.last_batch_seconds = round(seconds, 3)
        self.stats.save(self.stats_path)

    def _process(self, batch: DataFrame, batch_id: int, tag: str) -> None:
        import pyarrow.compute as pc

        bad_objects = unreadable_objects(batch_objects(self.paths.checkpoint, batch_id))
        model = self.current_model()
        udf, meta = self._scorer_udf(model)
        started = time.perf_counter()
        frame = classified(batch, self.compiled).coalesce(1)  # one Python worker: one model
        raw_p = udf(F.when(F.col("kind") == KEPT, F.coalesce("text", F.lit(""))).otherwise(""))
        p = F.when(~F.isnan(raw_p), raw_p)
        # The plan holds no value that changes between batches (scored_at is added on the
        # driver below), so Spark's generated code is compiled once, not for every batch.
        table = frame.select(
            "kind",
            F.col("source.path").alias("source"),
            "bad_reason",
            "value",
            *[c for c in SCORED_COLUMNS if c not in DERIVED_COLUMNS],
            p.alias("p_needs_support"),
        )
        scored_at = datetime.now(UTC)
        rows = table.toArrow()  # the one pass over the batch
        self.stats.score_seconds = _add(self.stats.score_seconds, started)
        kinds = rows.column("kind")
        bad = rows.filter(pc.equal(kinds, BAD))
        kept = rows.filter(pc.equal(kinds, KEPT))
        usable = kept.filter(pc.is_valid(kept.column("p_needs_support")))
        self._quarantine(batch.sparkSession, bad, bad_objects, batch_id, tag)
        cut = self.live.cut(
            model.version, meta, usable.column("p_needs_support").to_numpy(zero_copy_only=False)
        )
        written = self._write(usable, model, cut.threshold, scored_at, tag, batch_id)
        for key, value in cut.as_dict().items():  # the stats name the cut's fields alike
            setattr(self.stats, key, value)
        flagged = sum(r.flagged for r in written)
        self.stats.records += rows.num_rows
        self.stats.quarantined += bad.num_rows
        self.stats.dropped_by_filter += rows.num_rows - bad.num_rows - kept.num_rows
        self.stats.unscorable += kept.num_rows - len(written)
        self.stats.scored += len(written)
        self.stats.flagged += flagged
        self.stats.model_version = model.version
        self.stats.model_source = model.source
        self.stats.last_batch_records = rows.num_rows
        self.stats.last_batch_scored = len(written)
        if rows.num_rows or bad_objects:
            log.info(
                "batch %d: %d record(s), %d kept and scored, %d flagged, %d quarantined, "
                "%d unreadable object(s) (model %s)",
                batch_id,
                rows.num_rows,
                len(written),
                flagged,
                bad.num_rows,
                len(bad_objects),
                model.version,
            )

    def _quarantine(
        self,
        spark: SparkSession,
        bad: pa.Table,
        bad_objects: dict[str, str],
        batch_id: int,
        tag: str,
    ) -> None:
        """Malformed records and unreadable objects (no line: the object is the record)."""
        if not bad.num_rows and not bad_objects:
            return
        rows = [
            (r["source"], r["bad_reason"], r["value"])
            for r in bad.select(["source", "bad_reason", "value"]).to_pylist()
        ] + [(uri, reason, None) for uri, reason in sorted(bad_objects.items())]
        spark.createDataFrame(rows, combine.QUARANTINE_SCHEMA).coalesce(1).write.mode(
            "overwrite"
        ).parquet(f"{self.paths.quarantine}/batch={tag}")
        if bad.num_rows:
            log.warning("batch %d: %d malformed record(s) quarantined", batch_id, bad.num_rows)
        for uri, reason in sorted(bad_objects.items()):
            log.warning("batch %d: object %s quarantined (%s)", batch_id, uri, reason)
        self.stats.quarantined_objects += len(bad_objects)
        recent = [{"object": uri, "reason": reason} for uri, reason in sorted(bad_objects.items())]
        self.stats.recent_bad_objects = (self.stats.recent_bad_objects + recent)[
            -RECENT_BAD_OBJECTS:
        ]

    def _write(
        self,
        usable: pa.Table,
        model: ResolvedModel,
        threshold: float,
        scored_at: datetime,
        tag: str,
        batch_id: int,
    ) -> list[ScoredRecord]:
        """The Parquet table's partition of this batch, then the store."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if not usable.num_rows:
            return []
        p = usable.column("p_needs_support")
        usable = (
            usable.append_column("needs_support", pc.greater_equal(p, threshold).cast(pa.int32()))
            .append_column(
                "scored_at", pa.array([scored_at] * usable.num_rows, pa.timestamp("us", "UTC"))
            )
            .append_column("model_version", pa.array([model.version] * usable.num_rows))
            .append_column("batch", pa.array([tag] * usable.num_rows))
            .select(list(SCORED_COLUMNS))
        )
        started = time.perf_counter()
        self.table.write_batch(usable, tag)
        self.stats.parquet_seconds = _add(self.stats.parquet_seconds, started)
        written = scored_records(usable.drop_columns(["model_text"]).to_pylist())
        started = time.perf_counter()
        try:
            self._upsert(written, batch_id)
        finally:
            self.stats.store_seconds = _add(self.stats.store_seconds, started)
        return written

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


def _add(total: float, since: float) -> float:
    return round(total + time.perf_counter() - since, 3)
