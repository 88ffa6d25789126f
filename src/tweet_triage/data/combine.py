"""Combine: raw Firehose objects -> one de-duplicated table of tweets, bad records quarantined.

Every raw line is one stored payload. A line that is not UTF-8 or not JSON, holds no tweet,
or lacks an id, text or creation time goes to quarantine with its source object and the
reason, and so does an object that cannot be read (a gzip cut short); the job never stops
for a record or an object. Delivery is at-least-once, so the same tweet id can arrive more
than once: one copy is kept and the number of deliveries recorded. Date and hour come from
the tweet's `created_at` (UTC), not from the Firehose folder, which is arrival time.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from tweet_triage.data.errors import DataInputError
from tweet_triage.data.schema import CORRUPT_COLUMN, PAYLOAD_SCHEMA

GZIP_MAGIC = b"\x1f\x8b"
# Two payloads glued together without the newline between them: a '}' then an object that
# opens with a key ('{"data":'). Inside a JSON string a '"' is escaped, and a '{"' whose
# quote closes a string ('..}{"') is followed by ',', ':', '}' or ']', never by a key.
GLUED_RECORDS = r'(?<=\})[ \t\r]*(?=\{"[A-Za-z_][A-Za-z0-9_]*"[ \t]*:)'

# Why a raw record was quarantined, in the order they are checked.
NOT_UTF8 = "not_utf8"
NOT_JSON = "not_json"
NO_TWEET = "no_tweet_object"
BAD_ID = "bad_id"
NO_TEXT = "no_text"
BAD_CREATED_AT = "bad_created_at"
# Why a whole raw object was quarantined (before Spark reads it).
TRUNCATED_GZIP = "truncated_gzip"
CORRUPT_GZIP = "corrupt_gzip"
UNREADABLE = "unreadable"
QUARANTINE_SCHEMA = "source string, reason string, value string"


@dataclass(frozen=True)
class RawInput:
    """The lines of the usable raw objects, and the objects set aside (URI -> reason)."""

    lines: DataFrame
    bad_objects: dict[str, str]


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


def object_problem(path: Path) -> str | None:
    """Why Spark could not read this object (a gzip cut short or corrupt), or None.

    A gzip object is read to its end once: a truncated one (an interrupted upload or copy)
    would otherwise abort the whole Spark job with FAILED_READ_FILE.
    """
    try:
        if not is_gzip(path):
            return None
        with gzip.open(path, "rb") as stream:
            while stream.read(1 << 22):
                pass
    except EOFError:
        return TRUNCATED_GZIP
    except (gzip.BadGzipFile, zlib.error):
        return CORRUPT_GZIP
    except OSError:
        return UNREADABLE
    return None


def check_objects(files: list[Path], workers: int = 4) -> dict[Path, str]:
    """The objects Spark could not read, with the reason (zlib runs outside the GIL)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        problems = dict(zip(files, pool.map(object_problem, files), strict=True))
    return {path: reason for path, reason in problems.items() if reason}


def _lines_of_object(item: tuple[str, bytes]) -> Iterator[tuple[str, bytes]]:
    """Raw lines as bytes: Spark checks the encoding, nothing is replaced here."""
    source, content = item
    if content[:2] == GZIP_MAGIC:
        content = gzip.decompress(content)
    for line in content.split(b"\n"):
        yield source, line


def _text_lines(spark: SparkSession, paths: list[str]) -> DataFrame:
    reader = spark.read.option("recursiveFileLookup", "true").option("lineSep", "\n")
    return reader.text(paths).select(F.col("_metadata.file_path").alias("source"), "value")


def read_raw(spark: SparkSession, raw: str | Path) -> RawInput:
    """(source, value) for every payload of every readable raw object, and the bad objects.

    Hadoop picks the codec from the file name, so an object whose name disagrees with its
    content (gzip without `.gz`, or the reverse) is read by content instead, found by its
    magic bytes. Remote URIs (s3a://) are read by name (Firehose names GZIP objects `.gz`);
    there Spark's `spark.sql.files.ignoreCorruptFiles` decides what a cut object does.
    """
    if isinstance(raw, str) and "://" in raw and not raw.startswith("file:"):
        return RawInput(split_records(_text_lines(spark, [raw])), {})
    root = Path(str(raw).removeprefix("file://"))
    files = raw_object_files(root)
    bad = check_objects(files)
    usable = [p for p in files if p not in bad]
    misnamed = [p for p in usable if is_gzip(p) != (p.suffix == ".gz")]
    named = [str(p) for p in usable if p not in set(misnamed)]
    parts = [_text_lines(spark, named)] if named else []
    if misnamed:
        by_content = spark.createDataFrame(
            spark.sparkContext.binaryFiles(",".join(str(p) for p in misnamed)).flatMap(
                _lines_of_object
            ),
            "source string, value binary",
        )
        parts.append(by_content.withColumn("value", F.col("value").cast("string")))
    if not parts:
        parts.append(spark.createDataFrame([], "source string, value string"))
    lines = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
    return RawInput(split_records(lines), {p.as_uri(): reason for p, reason in bad.items()})


def read_raw_lines(spark: SparkSession, raw: str | Path) -> DataFrame:
    """The payload lines of the readable raw objects (see `read_raw`)."""
    return read_raw(spark, raw).lines


def split_records(lines: DataFrame) -> DataFrame:
    """(source, value) lines -> one row per stored payload: glued payloads split, blanks gone.

    Works on a batch or a streaming frame; `source` passes through untouched. Only a line
    that holds '}{' pays for the split, and a line that is not UTF-8 stays whole (and
    byte for byte) so `parse_records` quarantines it.
    """
    value = F.col("value")
    records = F.when(
        value.contains("}{") & F.is_valid_utf8(value), F.split(value, GLUED_RECORDS)
    ).otherwise(F.array(value))
    return (
        lines.select("source", F.explode(records).alias("value"))
        .withColumn("value", F.rtrim(F.col("value"), F.lit("\r")))
        .where(F.length(F.trim("value")) > 0)
    )


def bad_objects_frame(spark: SparkSession, bad_objects: dict[str, str]) -> DataFrame:
    """The quarantined objects as quarantine rows (no raw line: the object is the record)."""
    rows = [(source, reason, None) for source, reason in sorted(bad_objects.items())]
    return spark.createDataFrame(rows, QUARANTINE_SCHEMA)


def _has_reference(kind: str) -> Column:
    return F.coalesce(
        F.exists(F.col("data.referenced_tweets"), lambda ref: ref["type"] == kind), F.lit(False)
    )


def parse_records(lines: DataFrame) -> DataFrame:
    """Parse each line with the explicit payload schema; `reason` is null for a good tweet.

    The raw line stays in `value` only for a quarantined record (a good tweet's columns say
    it all), so persisting or shuffling the parsed rows does not carry every line twice.
    Works on a batch or a streaming frame.
    """
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
        F.when(~F.is_valid_utf8("value"), NOT_UTF8)
        .when(F.col(CORRUPT_COLUMN).isNotNull(), NOT_JSON)
        .when(F.col("data").isNull(), NO_TWEET)
        .when(~F.coalesce(F.col("data.id").rlike(r"^[0-9]{1,20}$"), F.lit(False)), BAD_ID)
        .when(text.isNull(), NO_TEXT)
        .when(created_at.isNull(), BAD_CREATED_AT)
    )
    author = F.filter(F.col("includes.users"), lambda user: user["id"] == F.col("data.author_id"))
    return parsed.select(
        "source",
        F.when(reason.isNotNull(), F.col("value")).alias("value"),  # kept for quarantine only
        reason.alias("reason"),
        F.col("data.id").alias("id"),
        created_at.alias("created_at"),
        text.alias("text"),
        F.col("data.lang").alias("lang"),
        F.col("data.author_id").alias("author_id"),
        F.get(author, 0)["username"].alias("author_username"),
        F.get(author, 0)["name"].alias("author_name"),
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
    """Good tweets, one row per id (the first delivery), `deliveries` = copies received.

    Rows are gathered by creation date first: every copy of a tweet has the same
    `created_at`, so the window by (date, id) finds all copies with that one shuffle, and
    each date leaves in one piece (one file per date when written partitioned by date).
    """
    tweets = (
        parsed.where(F.col("reason").isNull())
        .drop("reason", "value")
        .withColumn("date", F.to_date("created_at"))
        .repartition("date")
    )
    by_id = Window.partitionBy("date", "id")
    first = by_id.orderBy("source", F.col("created_at"))
    return (
        tweets.withColumn("deliveries", F.count(F.lit(1)).over(by_id).cast("int"))
        .withColumn("_copy", F.row_number().over(first))
        .where(F.col("_copy") == 1)
        .drop("_copy")
        .withColumnRenamed("source", "source_object")
        .withColumn("hour", F.hour("created_at"))
    )
