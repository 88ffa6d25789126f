"""The stage jobs end to end on a small hand-made raw folder: outputs, summaries, errors."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from tweet_triage.config import Settings
from tweet_triage.data import jobs
from tweet_triage.data.errors import DataInputError
from tweet_triage.data.output import replace_output
from tweet_triage.data.paths import DataPaths
from tweet_triage.profile import ProfileError

from .conftest import payload, tweet

PROFILE = """
name: test
stream: {rules: [{value: jwst, tag: jwst}]}
filter:
  keep_terms: [jwst]
  drop_terms: {crypto: [dogecoin]}
  min_words: 3
"""


def raw_folder(paths: DataPaths) -> None:
    hour = paths.raw / "2022" / "01" / "09" / "01"
    hour.mkdir(parents=True)
    lines = [
        payload(
            tweet(i, f"jwst update number {i} today", f"2022-01-{9 + i // 10:02d}T0{i % 10}:00:00Z")
        )
        for i in range(1, 31)
    ]
    lines += [payload(tweet(99, "dogecoin jwst to the moon")), "garbage\n", lines[0]]
    (hour / "object-1.gz").write_bytes(gzip.compress("".join(lines).encode()))


def test_stages_write_outputs_summaries_and_manifest(spark: SparkSession, tmp_path: Path) -> None:
    paths = DataPaths(tmp_path / "data")
    raw_folder(paths)
    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE)
    annotations = tmp_path / "annotations.csv"
    annotations.write_text("id,sentiment\n" + "".join(f"{i},{i % 3}\n" for i in range(1, 29)))

    combined = jobs.run_combine(spark, paths)
    assert (combined.rows_in, combined.rows_out) == (33, 31)
    assert combined.reasons == {"duplicate_id": 1, "quarantined:not_json": 1}
    assert jobs.run_filter(spark, paths, str(profile)).reasons == {"drop:crypto": 1}
    assert jobs.run_process(spark, paths).rows_out == 30
    labelled = jobs.run_label(spark, paths, Settings(), annotations)
    assert (labelled.rows_out, labelled.reasons) == (28, {"unlabelled": 2})
    split = jobs.run_split(spark, paths, val_size=4, test_size=0.25)

    manifest = json.loads(paths.manifest.read_text())
    counts = {name: s["rows"] for name, s in manifest["splits"].items()}
    assert counts == {"train": 17, "val": 4, "test": 7} and split.rows_out == 28
    assert (
        manifest["splits"]["train"]["last_created_at"]
        < manifest["splits"]["val"]["first_created_at"]
    )
    assert manifest["splits"]["test"]["last_created_at"] == "2022-01-11T08:00:00Z"
    assert sum(manifest["splits"]["test"]["needs_support"].values()) == 7
    train = spark.read.parquet(str(paths.splits / "train"))
    assert {"id", "created_at", "text", "model_text", "needs_support", "time_of_day"} <= set(
        train.columns
    )
    for stage in ("combine", "filter", "process", "label", "split"):
        summary = json.loads((paths.summaries / f"{stage}.json").read_text())
        if stage != "label":  # label's reasons explain the unlabelled, not removed rows
            assert summary["rows_in"] == summary["rows_out"] + sum(summary["reasons"].values())

    exported = jobs.run_export_for_labelling(spark, paths, size=5, seed=1)
    assert exported.rows_out == 2  # only two tweets are unlabelled


def test_errors_name_the_input_and_the_fix(spark: SparkSession, tmp_path: Path) -> None:
    paths = DataPaths(tmp_path / "data")
    with pytest.raises(DataInputError, match=r"no raw objects.*tweet-triage sync"):
        jobs.run_combine(spark, paths)
    with pytest.raises(DataInputError, match=r"combined: no combine output.*tweet-triage combine"):
        jobs.run_filter(spark, paths, "demo")
    raw_folder(paths)
    jobs.run_combine(spark, paths)
    bad = tmp_path / "bad.yaml"
    bad.write_text(PROFILE.replace("min_words: 3", "min_word: 3"))
    with pytest.raises(ProfileError, match=r"bad.yaml.*min_word"):
        jobs.run_filter(spark, paths, str(bad))


def test_a_split_emptied_by_duplicates_is_still_readable(
    spark: SparkSession, tmp_path: Path
) -> None:
    paths = DataPaths(tmp_path / "data")
    start = datetime(2022, 1, 1)
    rows = [
        (
            str(i),
            start + timedelta(hours=i),
            "same text" if i in (0, 8, 9) else f"text {i}",
            True,
            1,
            1,
        )
        for i in range(10)
    ]
    schema = (
        "id string, created_at timestamp, model_text string, labelled boolean, sentiment int,"
        " needs_support int"
    )
    spark.createDataFrame(rows, schema).write.parquet(str(paths.labelled))
    summary = jobs.run_split(spark, paths, val_size=1, test_size=1)
    assert summary.reasons == {"cross_split_duplicate:val": 1, "cross_split_duplicate:test": 1}
    test = spark.read.parquet(str(paths.splits / "test"))
    assert test.count() == 0 and "needs_support" in test.columns


def test_a_truncated_gzip_object_is_quarantined_and_the_good_ones_combined(
    spark: SparkSession, tmp_path: Path
) -> None:
    paths = DataPaths(tmp_path / "data")
    hour = paths.raw / "2022" / "01" / "09" / "01"
    hour.mkdir(parents=True)
    for n in (1, 2, 3):
        lines = [payload(tweet(n * 1000 + i, f"jwst tweet {n} {i} here")) for i in range(200)]
        (hour / f"object-{n}.gz").write_bytes(gzip.compress("".join(lines).encode()))
    cut = hour / "object-2.gz"
    cut.write_bytes(cut.read_bytes()[:200])

    summary = jobs.run_combine(spark, paths)
    assert (summary.rows_in, summary.rows_out) == (400, 400)
    assert summary.details["quarantined_objects"] == {cut.as_uri(): "truncated_gzip"}
    assert "object-2.gz: truncated_gzip" in summary.as_text()
    ids = {r.id for r in spark.read.parquet(str(paths.combined)).select("id").collect()}
    assert ids == {str(n * 1000 + i) for n in (1, 3) for i in range(200)}
    bad = spark.read.parquet(str(paths.quarantine)).collect()
    assert [(r.source, r.reason, r.value) for r in bad] == [(cut.as_uri(), "truncated_gzip", None)]


def test_all_records_quarantined_writes_an_empty_output_that_filter_reads(
    spark: SparkSession, tmp_path: Path
) -> None:
    paths = DataPaths(tmp_path / "data")
    paths.raw.mkdir(parents=True)
    no_time = json.dumps({"data": {"id": "5", "text": "no time"}})
    (paths.raw / "object").write_text(f"not json\n{no_time}\n")

    summary = jobs.run_combine(spark, paths)
    assert (summary.rows_in, summary.rows_out) == (2, 0)
    assert summary.reasons == {
        "duplicate_id": 0,
        "quarantined:not_json": 1,
        "quarantined:bad_created_at": 1,
    }
    assert summary.details["all_quarantined"] is True
    assert "all 2 records were quarantined" in summary.as_text()
    combined = spark.read.parquet(str(paths.combined))
    assert combined.count() == 0 and {"id", "text", "date", "hour"} <= set(combined.columns)
    filtered = jobs.run_filter(spark, paths, "demo")
    assert (filtered.rows_in, filtered.rows_out) == (0, 0)
    assert jobs.run_process(spark, paths).rows_out == 0


def test_a_failed_write_leaves_the_previous_output_intact(
    spark: SparkSession, tmp_path: Path
) -> None:
    target = tmp_path / "stage"
    replace_output(spark.range(3), target)
    failing = spark.range(5).select(F.raise_error(F.lit("disk on fire")).alias("id"))
    with pytest.raises(Exception, match="disk on fire"):
        replace_output(failing, target)
    assert sorted(r.id for r in spark.read.parquet(str(target)).collect()) == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["stage"]  # nothing left beside it
