"""Split: chronological train/val/test of the labelled tweets, no text shared between splits.

Test is the latest slice, val the slice before it, train everything earlier: the model is
judged on tweets from after the ones it learned from, as in production. A text that occurs
in two splits (same duplicate key as `process` uses) stays only in the earliest, and the
removals are counted, so nothing leaks from train into val or test.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from tweet_triage.data.errors import DataInputError
from tweet_triage.data.textcols import duplicate_key

SPLITS = ("train", "val", "test")
DEFAULT_VAL_SIZE = 0.15
DEFAULT_TEST_SIZE = 0.15
CROSS_SPLIT_DUPLICATE = "cross_split_duplicate"


def resolve_size(size: float, total: int, name: str) -> int:
    """A fraction (< 1) of `total`, or an absolute number of rows (>= 1)."""
    if size <= 0:
        raise DataInputError(f"--{name}-size={size}: use a fraction in (0, 1) or a row count >= 1")
    return round(size * total) if size < 1 else int(size)


def _order_key() -> Column:
    """Time order with the id as tie-breaker (microseconds: no timezone round trip)."""
    return F.struct(F.unix_micros("created_at").alias("micros"), F.col("id").alias("id"))


def _start_of_latest(rows: DataFrame, count: int) -> Column:
    """The (created_at, id) key of the earliest of the `count` latest rows, as a literal."""
    latest = rows.select(_order_key().alias("k")).orderBy(F.col("k").desc()).limit(count)
    first = latest.agg(F.min("k").alias("k")).first()
    start = first["k"] if first is not None else None
    if start is None:
        raise DataInputError("no labelled tweets to split")
    return F.struct(F.lit(start["micros"]).alias("micros"), F.lit(start["id"]).alias("id"))


def assign_splits(labelled: DataFrame, val_rows: int, test_rows: int) -> DataFrame:
    """Add `split` (train/val/test, by time) and flag texts already in an earlier split."""
    test_start = _start_of_latest(labelled, test_rows)
    val_start = _start_of_latest(labelled, test_rows + val_rows)
    key = _order_key()
    split_order = F.when(key >= test_start, 2).when(key >= val_start, 1).otherwise(0)
    ordered = labelled.withColumn("_order", split_order).withColumn(
        "_key", duplicate_key(F.col("model_text"))
    )
    earliest_split = F.min("_order").over(Window.partitionBy("_key"))
    names = F.array(*[F.lit(name) for name in SPLITS])
    return (
        ordered.withColumn("split", F.element_at(names, F.col("_order") + 1))
        .withColumn(CROSS_SPLIT_DUPLICATE, F.col("_order") > earliest_split)
        .drop("_order", "_key")
    )


def split_sizes(total: int, val_size: float, test_size: float) -> tuple[int, int]:
    """Rows for val and test; refuses sizes that leave no training data."""
    val_rows = resolve_size(val_size, total, "val")
    test_rows = resolve_size(test_size, total, "test")
    if total == 0:
        raise DataInputError(
            "no labelled tweets to split: run `tweet-triage label` with annotations that match "
            "the processed tweets (see data/summaries/label.json)"
        )
    if val_rows < 1 or test_rows < 1 or val_rows + test_rows >= total:
        raise DataInputError(
            f"{total} labelled tweets cannot give {val_rows} val + {test_rows} test rows and "
            "leave some for train; lower --val-size/--test-size or label more tweets"
        )
    return val_rows, test_rows
