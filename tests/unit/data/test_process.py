"""Process: model text, features in UTC, near-duplicates removed keeping the earliest."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import SparkSession
from pyspark.testing import assertDataFrameEqual

from tweet_triage.data.process import process

SCHEMA = (
    "id string, created_at timestamp, text string, is_reply boolean, is_retweet boolean,"
    " is_quote boolean"
)


def at(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return datetime(2022, 1, day, hour, minute)  # the session time zone is UTC


def test_features_and_time_of_day_bins(spark: SparkSession) -> None:
    rows = [
        ("1", at(0), "@NASA\tlaunch  day! https://t.co/x &amp; more", True, False, False),
        ("2", at(3, 59), "bin edge three", False, False, False),
        ("3", at(4), "bin edge four", False, False, True),
        ("4", at(12), "noon tweet here", False, False, False),
        ("5", at(23, 30), "late evening tweet", False, False, False),
    ]
    out = process(spark.createDataFrame(rows, SCHEMA)).select(
        "id", "text", "model_text", "word_count", "is_original", "hour", "weekday", "time_of_day"
    )
    expected = [
        ("1", rows[0][2], "@user launch day! http & more", 6, False, 0, "Mon", "Late Night"),
        ("2", "bin edge three", "bin edge three", 3, True, 3, "Mon", "Late Night"),
        ("3", "bin edge four", "bin edge four", 3, False, 4, "Mon", "Early Morning"),
        ("4", "noon tweet here", "noon tweet here", 3, True, 12, "Mon", "Afternoon"),
        ("5", "late evening tweet", "late evening tweet", 3, True, 23, "Mon", "Night"),
    ]
    schema = (
        "id string, text string, model_text string, word_count int, is_original boolean,"
        " hour int, weekday string, time_of_day string"
    )
    assertDataFrameEqual(out, spark.createDataFrame(expected, schema))


def test_near_duplicates_keep_the_earliest_and_are_counted(spark: SparkSession) -> None:
    rows = [
        ("later", at(9), "JWST is  unfolding!! @a https://t.co/1", False, False, False),
        ("first", at(8), "jwst is unfolding @b https://t.co/2", False, False, False),
        ("tie-b", at(7), "same minute", False, False, False),
        ("tie-a", at(7), "Same minute.", False, False, False),
        ("solo", at(6), "!!!", False, False, False),
        ("solo2", at(6, 1), "???", False, False, False),  # punctuation-only texts stay apart
        ("empty", at(5), "https://t.co/only", False, False, False),
    ]
    out = process(spark.createDataFrame(rows, SCHEMA)).select("id", "near_duplicates")
    expected = [("first", 1), ("tie-a", 1), ("solo", 0), ("solo2", 0), ("empty", 0)]
    assertDataFrameEqual(out, spark.createDataFrame(expected, "id string, near_duplicates int"))
