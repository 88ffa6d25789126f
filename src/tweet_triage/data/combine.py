"""Combine: raw Firehose objects -> one de-duplicated table of tweets, bad records quarantined.

Every raw line is one stored payload. A line that is not JSON, holds no tweet, or lacks an
id, text or creation time goes to quarantine with its source object and the reason; the job
never stops for a record. Delivery is at-least-once, so the same tweet id can arrive more
than once: one copy is kept and the number of deliveries recorded. Date and hour come from
the tweet's `created_at` (UTC), not from the Firehose folder, which is arrival time.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from tweet_triage.data.errors import DataInputError
from tweet_triage.data.schema import CORRUPT_COLUMN, PAYLOAD_SCHEMA

GZIP_MAGIC = b"\x1f\x8b"
# Two payloads glued together without the newline between them: '}' then '{"' is never
# valid JSON outside a string, and inside a string the quote would be escaped.
GLUED_RECORDS = r"(?<=\})[ \t\r]*(?=\{\")"

# Why a raw record was quarantined, in the order they are checked.
NOT_JSON = "not_json"
NO_TWEET = "no_tweet_object"
BAD_ID = "bad_id"
NO_TEXT = "no_text"
BAD_CREATED_AT = "bad_created_at"


def _visible(path: Path, root: Path) -> bool:
    """Spark and Hadoop skip names starting with '_' or '.' (ledgers, temp files); so do we."""
    return not any(part.startswith(("_", ".")) for part in path.relative_to(root).parts)


def raw_object_files(raw_dir: Path) -> list[Path]:
    """The raw objects under a local folder, or a clear error when there are none."""
    files = (
        sorted(p for p in raw_dir.rglob("*") if p.is_file() and _visible(p, raw_dir))
        if raw_dir.is_dir()
        else []
    )
    if not files:
        raise DataInputError(
            f"{raw_dir}: no raw objects to combine. Run `tweet-triage sync` (make sync) to copy "
            "them from the bucket, or pass --raw with a folder or s3a:// URI that holds them."
        )
    return files


def is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def _lines_of_object(item: tuple[str, bytes]) -> Iterator[tuple[str, str]]:
    source, content = item
    if content[:2] == GZIP_MAGIC:
        content = gzip.decompress(content)
    for line in content.decode("utf-8", errors="replace").split("\n"):
        yield source, line


def read_raw_lines(spark: SparkSession, raw: str | Path) -> DataFrame:
    """(source, value) for every non-blank line of every raw object.

    Hadoop picks the codec from the file name, so an object whose name disagrees with its
    content (gzip without `.gz`, or the reverse) is read by content instead, found by its
    magic bytes. Remote URIs (s3a://) are read by name: Firehose names GZIP objects `.gz`.
    """
    reader = spark.read.option("recursiveFileLookup", "true").option("lineSep", "\n")
    if isinstance(raw, str) and "://" in raw and not raw.startswith("file:"):
        lines = reader.text(raw).select(F.col("_metadata.file_path").alias("source"), "value")
    else:
        root = Path(str(raw).removeprefix("file://"))
        files = raw_object_files(root)
        misnamed = [p for p in files if is_gzip(p) != (p.suffix == ".gz")]
        if misnamed:
            named = [str(p) for p in files if p not in set(misnamed)]
            by_content = spark.createDataFrame(
                spark.sparkContext.binaryFiles(",".join(str(p) for p in misnamed)).flatMap(
                    _lines_of_object
                ),
                "source string, value string",
            )
            lines = by_content
            if named:
                lines = (
                    reader.text(named)
                    .select(F.col("_metadata.file_path").alias("source"), "value")
                    .unionByName(by_content)
                )
        else:
            lines = reader.text(str(root)).select(
                F.col("_metadata.file_path").alias("source"), "value"
            )
    records = F.explode(F.split(F.col("value"), GLUED_RECORDS))
    return (
        lines.select("source", records.alias("value"))
        .withColumn("value", F.regexp_replace("value", r"\r$", ""))
        .where(F.trim("value") != "")
    )


def _has_reference(kind: str) -> Column:
    return F.coalesce(
        F.exists(F.col("data.referenced_tweets"), lambda ref: ref["type"] == kind), F.lit(False)
    )


def parse_records(lines: DataFrame) -> DataFrame:
    """Parse each line with the explicit payload schema; `reason` is null for a good tweet."""
    parsed = lines.select(
        "source",
        "value",
        F.from_json(
            "value",
            PAYLOAD_SCHEMA,
            {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_COLUMN},
        ).alias("payload"),
    ).select("source", "value", "payload.*")
    text = F.coalesce(F.col("data.note_tweet.text"), F.col("data.text"))
    created_at = F.try_to_timestamp(F.col("data.created_at"))
    reason = (
        F.when(F.col(CORRUPT_COLUMN).isNotNull(), NOT_JSON)
        .when(F.col("data").isNull(), NO_TWEET)
        .when(~F.coalesce(F.col("data.id").rlike(r"^[0-9]{1,20}$"), F.lit(False)), BAD_ID)
        .when(text.isNull(), NO_TEXT)
        .when(created_at.isNull(), BAD_CREATED_AT)
    )
    author = F.filter(F.col("includes.users"), lambda user: user["id"] == F.col("data.author_id"))
    return parsed.select(
        "source",
        "value",
        reason.alias("reason"),
        F.col("data.id").alias("id"),
        created_at.alias("created_at"),
        text.alias("text"),
        F.col("data.lang").alias("lang"),
        F.col("data.author_id").alias("author_id"),
        F.get(author, 0)["username"].alias("author_username"),
        F.col("data.conversation_id").alias("conversation_id"),
        F.col("data.in_reply_to_user_id").alias("in_reply_to_user_id"),
        F.col("data.source").alias("client"),
        F.col("data.referenced_tweets").alias("referenced_tweets"),
        F.col("data.edit_history_tweet_ids").alias("edit_history_tweet_ids"),
        F.col("data.entities.hashtags.tag").alias("hashtags"),
        F.col("data.entities.mentions.username").alias("mentions"),
        F.col("data.entities.urls.expanded_url").alias("urls"),
        F.col("matching_rules.tag").alias("matching_rules"),
        (
            _has_reference("retweeted")
            | F.coalesce(F.col("data.text").startswith("RT @"), F.lit(False))
        ).alias("is_retweet"),
        (F.col("data.in_reply_to_user_id").isNotNull() | _has_reference("replied_to")).alias(
            "is_reply"
        ),
        _has_reference("quoted").alias("is_quote"),
    )


def quarantined(parsed: DataFrame) -> DataFrame:
    """The records that did not parse: source object, raw line and reason."""
    return parsed.where(F.col("reason").isNotNull()).select("source", "reason", "value")


def deduplicate(parsed: DataFrame) -> DataFrame:
    """Good tweets, one row per id (the first delivery), `deliveries` = copies received."""
    tweets = parsed.where(F.col("reason").isNull()).drop("reason", "value")
    by_id = Window.partitionBy("id")
    first = by_id.orderBy("source", F.col("created_at"))
    return (
        tweets.withColumn("deliveries", F.count(F.lit(1)).over(by_id).cast("int"))
        .withColumn("_copy", F.row_number().over(first))
        .where(F.col("_copy") == 1)
        .drop("_copy")
        .withColumnRenamed("source", "source_object")
        .withColumn("date", F.to_date("created_at"))
        .withColumn("hour", F.hour("created_at"))
    )
