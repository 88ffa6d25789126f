"""Label (annotations, needs_support, export sample) and the chronological split."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from tweet_triage.data.errors import DataInputError
from tweet_triage.data.label import annotate, read_annotations, sample_unlabelled
from tweet_triage.data.split import CROSS_SPLIT_DUPLICATE, assign_splits, split_sizes

START = datetime(2022, 1, 1)


def processed(spark: SparkSession, n: int, texts: dict[int, str] | None = None) -> DataFrame:
    texts = texts or {}
    rows = [
        (str(1000 + i), START + timedelta(hours=i), texts.get(i, f"tweet number {i}"))
        for i in range(n)
    ]
    return spark.createDataFrame(rows, "id string, created_at timestamp, text string").withColumn(
        "model_text", F.col("text")
    )


def test_annotations_checked_and_needs_support_only_for_labelled(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = tmp_path / "annotations.csv.gz"
    content = (
        "\ufeffID, Sentiment ,annotator\n"  # Excel's BOM, stray spaces, extra column
        "1000,0,a\n1001, 1 ,a\n1002,2,a\n"
        "1003,1,a\n1003,1,b\n"  # agreeing duplicates count once
        "1004,0,a\n1004,2,b\n"  # disagreement: left unlabelled
        "1.0E+3,2,a\n1005,neutral,a\n1006,,a\n"  # Excel-mangled id, words, blank
        '9999,2,"a, with comma"\n'  # no such tweet
    )
    path.write_bytes(gzip.compress(content.encode()))
    found = read_annotations(spark, path)
    rejected = found.rejected.groupBy("reason").count()
    assertDataFrameEqual(
        rejected,
        spark.createDataFrame(
            [("invalid_annotation", 3), ("conflicting_annotation", 2)], "reason string, count long"
        ),
    )
    labelled = annotate(processed(spark, 6), found.valid).select(
        "id", "sentiment", "needs_support", "labelled"
    )
    expected = [
        ("1000", 0, 1, True),
        ("1001", 1, 1, True),
        ("1002", 2, 0, True),
        ("1003", 1, 1, True),
        # unlabelled: no needs_support at all, never "no support"
        ("1004", None, None, False),
        ("1005", None, None, False),
    ]
    schema = "id string, sentiment int, needs_support int, labelled boolean"
    assertDataFrameEqual(labelled, spark.createDataFrame(expected, schema))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "annotations file not found"),
        ("tweet,label\n1,0\n", r"no column\(s\) \['id', 'sentiment'\]"),
    ],
)
def test_bad_annotation_files_are_clear_errors(
    spark: SparkSession, tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "labels.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataInputError, match=f"labels.csv.*{message}.*ANNOTATIONS_PATH"):
        read_annotations(spark, path)


def test_export_sample_is_seeded_and_unlabelled_only(spark: SparkSession) -> None:
    tweets = processed(spark, 40).withColumn("labelled", F.col("id") < "1010")
    first = [r["id"] for r in sample_unlabelled(tweets, 10, seed=7).collect()]
    again = [r["id"] for r in sample_unlabelled(tweets, 10, seed=7).collect()]
    other = [r["id"] for r in sample_unlabelled(tweets, 10, seed=8).collect()]
    assert first == again and first != other
    assert len(first) == 10 and all(i >= "1010" for i in first) and first == sorted(first)


def test_split_is_chronological_without_shared_text(spark: SparkSession) -> None:
    # 20 tweets an hour apart; tweet 17 (test) repeats tweet 2 (train), 13 (val) repeats 3.
    rows = processed(spark, 20, {2: "Seen before!", 17: "seen before", 3: "again", 13: "Again."})
    val_rows, test_rows = split_sizes(20, 0.25, 4)
    assert (val_rows, test_rows) == (5, 4)
    assigned = assign_splits(rows, val_rows, test_rows).select(
        (F.col("id").cast("int") - 1000).alias("i"), "split", CROSS_SPLIT_DUPLICATE
    )
    expected = [(i, "train", False) for i in range(11)]
    expected += [(i, "val", i == 13) for i in range(11, 16)]
    expected += [(i, "test", i == 17) for i in range(16, 20)]
    schema = f"i int, split string, {CROSS_SPLIT_DUPLICATE} boolean"
    assertDataFrameEqual(assigned, spark.createDataFrame(expected, schema))


def test_split_sizes_refuse_to_leave_no_training_data() -> None:
    with pytest.raises(DataInputError, match="lower --val-size/--test-size"):
        split_sizes(10, 5, 5)
    with pytest.raises(DataInputError, match="no labelled tweets"):
        split_sizes(0, 0.1, 0.1)
    with pytest.raises(DataInputError, match="--val-size=-1"):
        split_sizes(10, -1, 0.1)
