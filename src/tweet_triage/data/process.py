"""Process: the model's input text and the features the analysis uses, near-duplicates removed.

The original text stays untouched in `text`; `model_text` is what the model reads. Hour,
weekday and time of day are UTC, from `created_at`. Of tweets whose normalised text is the
same (ignoring case, punctuation and spacing: retweeted-by-hand copies, bots), only the
earliest stays, and it records how many copies were removed.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from tweet_triage.data.textcols import duplicate_key, spark_normalise, spark_word_count

# 4-hour bins of the UTC hour, with the names the reports show.
TIME_OF_DAY: tuple[tuple[int, str], ...] = (
    (4, "Late Night"),
    (8, "Early Morning"),
    (12, "Morning"),
    (16, "Afternoon"),
    (20, "Evening"),
    (24, "Night"),
)
EMPTY_MODEL_TEXT = "empty_model_text"
NEAR_DUPLICATE = "near_duplicate"


def add_features(tweets: DataFrame) -> DataFrame:
    """model_text, word_count, is_original, hour, weekday and time_of_day (all UTC)."""
    hour = F.hour("created_at")
    (first_upper, first_name), *later = TIME_OF_DAY
    time_of_day = F.when(hour < first_upper, first_name)
    for upper, name in later:
        time_of_day = time_of_day.when(hour < upper, name)
    return tweets.select(
        "*",
        spark_normalise(F.col("text")).alias("model_text"),
        spark_word_count(F.col("text")).alias("word_count"),
        (~(F.col("is_reply") | F.col("is_retweet") | F.col("is_quote"))).alias("is_original"),
        F.date_format("created_at", "EEE").alias("weekday"),
        time_of_day.alias("time_of_day"),
    ).withColumn("hour", hour)


def drop_near_duplicates(tweets: DataFrame) -> DataFrame:
    """Keep the earliest tweet of each duplicate key; `near_duplicates` counts the others."""
    by_key = Window.partitionBy("_key")
    earliest = by_key.orderBy("created_at", "id")
    return (
        tweets.withColumn("_key", duplicate_key(F.col("model_text")))
        .withColumn("near_duplicates", (F.count(F.lit(1)).over(by_key) - 1).cast("int"))
        .withColumn("_rank", F.row_number().over(earliest))
        .where(F.col("_rank") == 1)
        .drop("_key", "_rank")
    )


def normalise(tweets: DataFrame) -> DataFrame:
    """The per-row part of process: features added, tweets with no model text left out.

    No window and no shuffle, so it runs on a streaming frame too (the live scorer).
    """
    return add_features(tweets).where(F.col("model_text") != "")


def process(kept: DataFrame) -> DataFrame:
    """Filtered tweets -> model-ready rows, one per distinct text."""
    return drop_near_duplicates(normalise(kept))
