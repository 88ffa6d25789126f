"""The stage jobs: read the previous stage's output, run the library functions, write the
output (beside the previous run's, swapped in when complete) and `summaries/<stage>.json`.

Counts come from the written output (Parquet metadata and small columns), so no stage reads
its input twice just to count it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from tweet_triage.config import Settings
from tweet_triage.data import combine as combine_lib
from tweet_triage.data import filtering, label, process, split
from tweet_triage.data.errors import DataInputError
from tweet_triage.data.output import has_parquet, replace_output, stage_output, swap_in, write_empty
from tweet_triage.data.paths import DataPaths, default_annotations_path
from tweet_triage.data.summary import StageSummary, write_summary
from tweet_triage.data.sync import raw_bucket_name, s3_client, sync_raw
from tweet_triage.profile import load_profile, profile_path


def _require_stage_output(path: Path, stage: str, producer: str) -> None:
    if not has_parquet(path):
        raise DataInputError(
            f"{path}: no {stage} output to read; run `tweet-triage {producer}` "
            f"(make {producer}) first"
        )


def _counts(frame: DataFrame, column: str) -> dict[str, int]:
    return {str(row[0]): int(row[1]) for row in frame.groupBy(column).count().collect()}


def _iso(column: Column) -> Column:
    """A timestamp as ISO-8601 UTC text, formatted by Spark (session time zone UTC)."""
    return F.date_format(column, "yyyy-MM-dd'T'HH:mm:ss'Z'")


def run_sync(settings: Settings, paths: DataPaths) -> StageSummary:
    started = time.perf_counter()
    bucket = raw_bucket_name(settings)
    result = sync_raw(s3_client(settings), bucket, settings.raw_prefix, paths.raw)
    summary = StageSummary(
        stage="sync",
        rows_in=result.listed,
        rows_out=result.copied,
        reasons={"already_present": result.already_present},
        details={
            "unit": "objects",
            "source": f"s3://{bucket}/{settings.raw_prefix}",
            "destination": str(paths.raw),
            "bytes_copied": result.bytes_copied,
            "gzip_objects": result.gzip_objects,
        },
        seconds=time.perf_counter() - started,
    )
    write_summary(paths, summary)
    return summary


def run_combine(spark: SparkSession, paths: DataPaths, raw: str | None = None) -> StageSummary:
    """Raw objects -> combined/ (Parquet by date, one file a day) and quarantine/."""
    started = time.perf_counter()
    source = raw or str(paths.raw)
    raw_input = combine_lib.read_raw(spark, source)
    parsed = combine_lib.parse_records(raw_input.lines)
    parsed = parsed.persist(StorageLevel.DISK_ONLY)  # parse the JSON once for both outputs
    bad = combine_lib.quarantined(parsed).unionByName(
        combine_lib.bad_objects_frame(spark, raw_input.bad_objects)
    )
    # One quarantine file; repartition, not coalesce, so the parsing above stays parallel.
    quarantine = stage_output(bad.repartition(1), paths.quarantine)
    try:
        tweets = combine_lib.deduplicate(parsed)
        combined = stage_output(tweets, paths.combined, ("date",))
    except BaseException:
        shutil.rmtree(quarantine, ignore_errors=True)
        raise
    finally:
        parsed.unpersist()
    swap_in(quarantine, paths.quarantine)
    swap_in(combined, paths.combined)

    written = spark.read.parquet(str(paths.combined))
    stats = written.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum("deliveries").alias("deliveries"),
        _iso(F.min("created_at")).alias("first"),
        _iso(F.max("created_at")).alias("last"),
        F.countDistinct("date", "hour").alias("hours"),
    ).first()
    assert stats is not None
    rows_out, deliveries = int(stats["rows"]), int(stats["deliveries"] or 0)
    records = spark.read.parquet(str(paths.quarantine)).where(F.col("value").isNotNull())
    quarantined = {f"quarantined:{reason}": n for reason, n in _counts(records, "reason").items()}
    rows_in = deliveries + sum(quarantined.values())
    notes = [f"{uri}: {reason}" for uri, reason in sorted(raw_input.bad_objects.items())]
    if rows_out == 0 and rows_in:
        notes.append(f"all {rows_in:,} records were quarantined; see {paths.quarantine}")
    summary = StageSummary(
        stage="combine",
        rows_in=rows_in,
        rows_out=rows_out,
        reasons={"duplicate_id": deliveries - rows_out, **quarantined},
        details={
            "source": source,
            "first_created_at": stats["first"],
            "last_created_at": stats["last"],
            "hours": int(stats["hours"]),
            "quarantine": str(paths.quarantine),
            "quarantined_objects": raw_input.bad_objects,
            "all_quarantined": rows_out == 0 and rows_in > 0,
        },
        seconds=time.perf_counter() - started,
        notes=notes,
    )
    write_summary(paths, summary)
    return summary


def run_filter(spark: SparkSession, paths: DataPaths, profile: str) -> StageSummary:
    """combined/ -> filtered/decision=kept|dropped, with the reason and rule per tweet."""
    started = time.perf_counter()
    _require_stage_output(paths.combined, "combine", "combine")
    spec = load_profile(profile).filter
    compiled = filtering.compile_filter(spec)
    filtering.check_java_regexes(spark, compiled, str(profile_path(profile)))
    tweets = spark.read.parquet(str(paths.combined))
    replace_output(filtering.apply_filter(tweets, compiled), paths.filtered, ("decision",))

    outcomes = (
        spark.read.parquet(str(paths.filtered))
        .groupBy("reason", "matched_rule", "drop_rule")
        .count()
        .collect()
    )
    reasons: dict[str, int] = Counter()
    rules: dict[str, int] = Counter()
    drop_rules: dict[str, int] = Counter()
    for row in outcomes:
        reasons[row["reason"]] += row["count"]
        if row["reason"] == filtering.KEPT:
            rules[row["matched_rule"]] += row["count"]
        if row["drop_rule"] is not None:
            drop_rules[row["drop_rule"]] += row["count"]
    kept = reasons.pop(filtering.KEPT, 0)
    summary = StageSummary(
        stage="filter",
        rows_in=kept + sum(reasons.values()),
        rows_out=kept,
        reasons=dict(reasons),
        details={
            "profile": str(profile_path(profile)),
            "kept_by_rule": dict(Counter(rules).most_common()),
            "drop_rule_hits": dict(Counter(drop_rules).most_common()),
            "min_words": spec.min_words,
            "exclude_retweets": spec.exclude_retweets,
        },
        seconds=time.perf_counter() - started,
    )
    write_summary(paths, summary)
    return summary


def run_process(spark: SparkSession, paths: DataPaths) -> StageSummary:
    """filtered/decision=kept -> processed/ (model text, features, near-duplicates removed)."""
    started = time.perf_counter()
    _require_stage_output(paths.filtered, "filter", "filter")
    kept = spark.read.parquet(str(paths.filtered)).where(F.col("decision") == filtering.KEPT)
    rows_in = kept.count()
    replace_output(process.process(kept).drop("decision", "reason", "drop_rule"), paths.processed)

    written = spark.read.parquet(str(paths.processed))
    stats = written.agg(
        F.count(F.lit(1)),
        F.sum("near_duplicates"),
        F.count_if("is_reply"),
        F.count_if("is_original"),
    ).first()
    assert stats is not None
    rows_out, duplicates = int(stats[0]), int(stats[1] or 0)
    summary = StageSummary(
        stage="process",
        rows_in=rows_in,
        rows_out=rows_out,
        reasons={
            process.NEAR_DUPLICATE: duplicates,
            process.EMPTY_MODEL_TEXT: rows_in - rows_out - duplicates,
        },
        details={
            "time_of_day": "4-hour bins of the UTC hour",
            "replies": int(stats[2]),
            "originals": int(stats[3]),
        },
        seconds=time.perf_counter() - started,
    )
    write_summary(paths, summary)
    return summary


def run_label(
    spark: SparkSession, paths: DataPaths, settings: Settings, annotations: Path | None = None
) -> StageSummary:
    """processed/ + annotations -> labelled/ (every tweet; sentiment null when unlabelled)."""
    started = time.perf_counter()
    _require_stage_output(paths.processed, "process", "process")
    annotations_path = annotations or default_annotations_path(settings)
    decisions_path = paths.root / "labels" / "decisions.csv"  # `triage export-decisions`
    decisions = decisions_path if decisions_path.is_file() else None
    found = label.read_annotations(spark, annotations_path, decisions)
    # A CSV that may hold quoted line breaks is read by one task: read the valid rows once.
    valid_annotations = found.valid.persist(StorageLevel.DISK_ONLY)
    processed = spark.read.parquet(str(paths.processed))
    try:
        replace_output(label.annotate(processed, valid_annotations), paths.labelled)
        valid = valid_annotations.count()
    finally:
        valid_annotations.unpersist()

    written = spark.read.parquet(str(paths.labelled))
    labelled = written.where("labelled")
    classes = _counts(labelled, "sentiment")
    total, n_labelled = written.count(), labelled.count()
    rejected = _counts(found.rejected, "reason")
    summary = StageSummary(
        stage="label",
        rows_in=total,
        rows_out=n_labelled,
        reasons={"unlabelled": total - n_labelled},
        details={
            "annotations": str(annotations_path),
            "annotations_valid": valid,
            "annotations_rejected": rejected,
            "annotations_without_tweet": valid - n_labelled,
            "sentiment": {
                label.SENTIMENTS[int(k)]: v for k, v in sorted(classes.items()) if k != "None"
            },
            "decisions": str(decisions) if decisions else None,
            "label_sources": _counts(labelled, "label_source") if decisions else None,
            "needs_support": _counts(labelled, "needs_support"),
        },
        seconds=time.perf_counter() - started,
    )
    write_summary(paths, summary)
    return summary


def run_export_for_labelling(
    spark: SparkSession, paths: DataPaths, size: int, seed: int, output: Path | None = None
) -> StageSummary:
    """A seeded sample of unlabelled tweets as CSV for annotators."""
    started = time.perf_counter()
    _require_stage_output(paths.labelled, "label", "label")
    target = output or paths.for_labelling / f"to-label-seed{seed}.csv"
    labelled = spark.read.parquet(str(paths.labelled))
    unlabelled = labelled.where(~F.col("labelled")).count()
    written = label.write_labelling_csv(label.sample_unlabelled(labelled, size, seed), target)
    summary = StageSummary(
        stage="export-for-labelling",
        rows_in=unlabelled,
        rows_out=written,
        reasons={"not_sampled": unlabelled - written},
        details={"output": str(target), "seed": seed, "requested": size},
        seconds=time.perf_counter() - started,
    )
    write_summary(paths, summary)
    return summary


def run_split(
    spark: SparkSession,
    paths: DataPaths,
    val_size: float = split.DEFAULT_VAL_SIZE,
    test_size: float = split.DEFAULT_TEST_SIZE,
) -> StageSummary:
    """labelled/ -> splits/{train,val,test}/ and splits/manifest.json."""
    started = time.perf_counter()
    _require_stage_output(paths.labelled, "label", "label")
    all_rows = spark.read.parquet(str(paths.labelled))
    labelled = all_rows.where("labelled").drop("labelled")
    total = labelled.count()
    val_rows, test_rows = split.split_sizes(total, val_size, test_size)
    # Written and counted: the window that finds cross-split duplicates runs once.
    assigned = split.assign_splits(labelled, val_rows, test_rows).persist(StorageLevel.DISK_ONLY)

    kept = assigned.where(~F.col(split.CROSS_SPLIT_DUPLICATE)).drop(split.CROSS_SPLIT_DUPLICATE)
    ordered = kept.repartition("split").sortWithinPartitions("created_at", "id")
    staging = stage_output(ordered, paths.splits, ("split",))
    try:
        removed = _counts(assigned.where(F.col(split.CROSS_SPLIT_DUPLICATE)), "split")
        for name in split.SPLITS:
            written = staging / f"split={name}"
            if written.is_dir():
                written.rename(staging / name)
            else:  # every row went elsewhere: still a readable, empty split with the schema
                write_empty(kept.drop("split"), staging / name)

        manifest: dict[str, Any] = {
            "requested": {"val_size": val_size, "test_size": test_size},
            "rows": {"labelled": total, "val_target": val_rows, "test_target": test_rows},
            "time_basis": "created_at, UTC",
            "order": "train < val < test in time; test is the latest slice",
            "unlabelled_excluded": all_rows.count() - total,
            "splits": {},
        }
        for name in split.SPLITS:
            manifest["splits"][name] = _split_stats(spark, staging / name, removed.get(name, 0))
        manifest["fractions"] = {
            name: round(stats["rows"] / max(1, total), 4)
            for name, stats in manifest["splits"].items()
        }
        (staging / paths.manifest.name).write_text(json.dumps(manifest, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        assigned.unpersist()
    swap_in(staging, paths.splits)
    summary = StageSummary(
        stage="split",
        rows_in=total,
        rows_out=sum(s["rows"] for s in manifest["splits"].values()),
        reasons={f"{split.CROSS_SPLIT_DUPLICATE}:{k}": v for k, v in removed.items()},
        details={"manifest": str(paths.manifest), **manifest["fractions"]},
        seconds=time.perf_counter() - started,
    )
    write_summary(paths, summary)
    return summary


def _split_stats(spark: SparkSession, path: Path, removed: int) -> dict[str, Any]:
    if not path.is_dir():
        return {"rows": 0, "removed_cross_split_duplicates": removed}
    rows = spark.read.parquet(str(path))
    stats = rows.agg(
        F.count(F.lit(1)), _iso(F.min("created_at")), _iso(F.max("created_at"))
    ).first()
    assert stats is not None
    return {
        "rows": int(stats[0]),
        "first_created_at": stats[1],
        "last_created_at": stats[2],
        "needs_support": {k: v for k, v in sorted(_counts(rows, "needs_support").items())},
        "sentiment": {
            label.SENTIMENTS[int(k)]: v for k, v in sorted(_counts(rows, "sentiment").items())
        },
        "removed_cross_split_duplicates": removed,
    }
