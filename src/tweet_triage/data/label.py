"""Label: join the human annotations and derive `needs_support`; sample tweets for annotators.

Annotations are a CSV with at least `id` and `sentiment` (0 negative, 1 neutral, 2 positive),
the same file the export hands to annotators with the sentiment filled in. Needs support
means negative or neutral. A tweet without a (valid) annotation stays unlabelled: it never
reaches the training sets as "does not need support", and it is counted.

The inbox team's decisions (`DATA_DIR/labels/decisions.csv`, written by `tweet-triage triage
export-decisions`) are read beside the annotations: binary needs-support labels without a
sentiment. Conflicts are settled by `tweet_triage.data.decisions.resolve_labels` (an
annotator's sentiment outranks a decision; the latest decision wins among decisions), and
the rows it sets aside are counted with their reason.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from tweet_triage.atomic_files import atomic_path
from tweet_triage.data.errors import DataInputError
from tweet_triage.data.sampling import seeded_order_columns

SENTIMENTS = {0: "negative", 1: "neutral", 2: "positive"}
NEEDS_SUPPORT = (0, 1)
EXPORT_COLUMNS = ("id", "created_at", "text", "sentiment")
INVALID = "invalid_annotation"
CONFLICTING = "conflicting_annotation"


@dataclass(frozen=True)
class Annotations:
    """Usable annotations (id, sentiment) and the rows set aside, with their reason."""

    valid: DataFrame
    rejected: DataFrame


def read_annotations(spark: SparkSession, path: Path, decisions: Path | None = None) -> Annotations:
    """Read and check an annotations CSV (plain or .gz; Excel's UTF-8 BOM is fine).

    With `decisions` (a decisions CSV), `valid` also holds the team's binary labels
    (sentiment null) and `label_source`; conflicts join `rejected` with their reason.
    """
    fix = (
        "set ANNOTATIONS_PATH to a CSV with a header row and the columns id,sentiment "
        "(0 negative, 1 neutral, 2 positive); `tweet-triage export-for-labelling` writes one "
        "to fill in"
    )
    if not path.is_file():
        raise DataInputError(f"{path}: annotations file not found; {fix}")
    table = (
        spark.read.option("header", "true")
        .option("multiLine", "true")  # exported tweet text may span lines inside quotes
        .option("escape", '"')
        .csv(str(path))
    )
    # Header names as people write them: Excel's UTF-8 BOM, stray spaces, any case.
    names = {c: c.replace("\ufeff", "").strip().lower() for c in table.columns}
    table = table.select([F.col(f"`{c}`").alias(n) for c, n in names.items()])
    missing = [c for c in ("id", "sentiment") if c not in names.values()]
    if missing:
        raise DataInputError(f"{path}: no column(s) {missing} in {sorted(names.values())}; {fix}")
    rows = table.select(
        F.trim("id").alias("id"), F.trim("sentiment").alias("sentiment_text")
    ).withColumn("sentiment_text", F.coalesce("sentiment_text", F.lit("")))
    ok = F.col("id").rlike(r"^[0-9]{1,20}$") & F.col("sentiment_text").isin("0", "1", "2")
    checked = rows.withColumn("sentiment", F.when(ok, F.col("sentiment_text").cast("int")))
    by_id = Window.partitionBy("id")
    good = (
        checked.where(F.col("sentiment").isNotNull())
        .withColumn("_labels", F.size(F.collect_set("sentiment").over(by_id)))
        .withColumn("_copy", F.row_number().over(by_id.orderBy("sentiment")))
    )
    valid = good.where((F.col("_labels") == 1) & (F.col("_copy") == 1)).select("id", "sentiment")
    rejected = (
        checked.where(F.col("sentiment").isNull())
        .select("id", "sentiment_text", F.lit(INVALID).alias("reason"))
        .unionByName(
            good.where(F.col("_labels") > 1).select(
                "id",
                F.col("sentiment").cast("string").alias("sentiment_text"),
                F.lit(CONFLICTING).alias("reason"),
            )
        )
    )
    if decisions is not None:
        return _with_decisions(spark, Annotations(valid, rejected), decisions)
    return Annotations(valid, rejected)


def _with_decisions(spark: SparkSession, found: Annotations, decisions: Path) -> Annotations:
    """Annotations plus the team's decisions, one label per id by the documented rule."""
    import pandas as pd

    from tweet_triage.data.decisions import read_decisions_csv, resolve_labels

    resolved = resolve_labels(found.valid.toPandas(), read_decisions_csv(decisions))
    rows = [
        (r.id, None if pd.isna(r.sentiment) else int(r.sentiment), int(r.needs_support), r.source)
        for r in resolved.labels.itertuples()
    ]
    valid = spark.createDataFrame(
        rows,
        "id string, sentiment int, needs_support int, source string",
    ).withColumnRenamed("source", "label_source")
    conflicts = spark.createDataFrame(
        [(r.id, "", r.reason) for r in resolved.conflicts.itertuples()],
        "id string, sentiment_text string, reason string",
    )
    return Annotations(valid, found.rejected.unionByName(conflicts))


def annotate(processed: DataFrame, annotations: DataFrame) -> DataFrame:
    """Every processed tweet with sentiment, needs_support (null when unlabelled), labelled."""
    from_sentiment = (
        F.when(F.col("sentiment").isNull(), None)
        .when(F.col("sentiment").isin(*NEEDS_SUPPORT), 1)
        .otherwise(0)
    )
    if "needs_support" in annotations.columns:  # decisions: binary labels, no sentiment
        joined = processed.join(
            annotations.select(
                "id", "sentiment", F.col("needs_support").alias("_given"), "label_source"
            ),
            on="id",
            how="left",
        )
        needs_support = F.coalesce(from_sentiment, F.col("_given"))
    else:
        joined = processed.join(annotations.select("id", "sentiment"), on="id", how="left")
        needs_support = from_sentiment
    return (
        joined.withColumn("needs_support", needs_support.cast("int"))
        .withColumn("labelled", F.col("needs_support").isNotNull())
        .drop("_given")
    )


def sample_unlabelled(labelled: DataFrame, size: int, seed: int) -> DataFrame:
    """A reproducible sample (`data.sampling`'s seeded order), in time order."""
    return (
        labelled.where(~F.col("labelled"))
        .orderBy(*seeded_order_columns(seed))
        .limit(size)
        .orderBy("created_at", "id")
        .select(
            "id",
            F.date_format("created_at", "yyyy-MM-dd HH:mm:ss").alias("created_at"),
            "text",
            F.lit("").alias("sentiment"),
        )
    )


def write_labelling_csv(sample: DataFrame, path: Path) -> int:
    """Write the sample as a CSV annotators can open in a spreadsheet; returns rows written."""
    rows = sample.toPandas()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:  # a failed write keeps the old file
        columns = list(EXPORT_COLUMNS)
        rows.to_csv(partial, index=False, columns=columns, quoting=csv.QUOTE_NONNUMERIC)
    return len(rows)
