"""Combine: explicit-schema parsing, quarantine with reasons, de-duplication by id."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from tweet_triage.data.combine import deduplicate, parse_records, quarantined, read_raw_lines
from tweet_triage.data.errors import DataInputError

from .conftest import payload, tweet


def write_raw(root: Path, name: str, lines: list[str], gzipped: bool) -> Path:
    path = root / "2022" / "01" / "09" / "01" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(lines).encode()
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path


def test_reads_gzip_and_plain_by_content_whatever_the_name(
    spark: SparkSession, tmp_path: Path
) -> None:
    write_raw(
        tmp_path, "stream-1-2022-01-09-01-00-00-a", [payload(tweet(1, "a b c"))], gzipped=True
    )
    write_raw(
        tmp_path, "stream-1-2022-01-09-01-01-00-b.gz", [payload(tweet(2, "a b c"))], gzipped=True
    )
    write_raw(
        tmp_path, "stream-1-2022-01-09-01-02-00-c", [payload(tweet(3, "a b c"))], gzipped=False
    )
    write_raw(tmp_path, "mislabelled.gz", [payload(tweet(4, "a b c"))], gzipped=False)
    write_raw(tmp_path, ".partial-download", ["junk\n"], gzipped=False)
    (tmp_path / "_sync_ledger.json").write_text("{}")
    lines = read_raw_lines(spark, tmp_path)
    ids = sorted(json.loads(row["value"])["data"]["id"] for row in lines.collect())
    assert ids == ["1", "2", "3", "4"]


def test_an_empty_folder_is_a_clear_error(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(DataInputError, match=r"no raw objects.*tweet-triage sync"):
        read_raw_lines(spark, tmp_path / "missing")


def test_bad_records_are_quarantined_with_reason_and_source(
    spark: SparkSession, tmp_path: Path
) -> None:
    good = payload(tweet(1, "fine tweet here"))
    glued = payload(tweet(2, "first of two")).rstrip("\n") + payload(tweet(3, "second of two"))
    lines = [
        good,
        "not json at all\n",
        '{"errors": [{"title": "operational-disconnect"}]}\n',
        payload(tweet("12ab", "bad id")),
        json.dumps({"data": {"id": "5", "created_at": "2022-01-09T01:00:00.000Z"}}) + "\n",
        payload(tweet(6, "bad time", created_at="yesterday")),
        '{"data": {"id": "7", "text": "truncated\n',
        "\n",
        "\r\n",
        glued,
    ]
    source = write_raw(tmp_path, "object", lines, gzipped=True)
    parsed = parse_records(read_raw_lines(spark, tmp_path))
    bad = quarantined(parsed).select(
        F.regexp_extract("source", r"[^/]+$", 0).alias("object"), "reason"
    )
    expected = [
        ("object", "not_json"),
        ("object", "no_tweet_object"),
        ("object", "bad_id"),
        ("object", "no_text"),
        ("object", "bad_created_at"),
        ("object", "not_json"),
    ]
    assertDataFrameEqual(bad, spark.createDataFrame(expected, "object string, reason string"))
    good_ids = parsed.where(F.col("reason").isNull()).select("id")
    assertDataFrameEqual(good_ids, spark.createDataFrame([("1",), ("2",), ("3",)], "id string"))
    assert source.name == "object"


def test_fields_flags_and_hour_come_from_the_tweet(spark: SparkSession, tmp_path: Path) -> None:
    long_text = "word " * 70
    lines = [
        payload(
            tweet(
                1,
                "@nasa\twhen is #JWST up? https://t.co/x",
                created_at="2022-01-09T23:59:59.000Z",
                author_id="42",
                in_reply_to_user_id="11",
                source="Twitter for iPhone",
                entities={"hashtags": [{"start": 16, "end": 21, "tag": "JWST"}]},
            ),
            tag="jwst",
            includes={"users": [{"id": "42", "username": "stargazer", "name": "S"}]},
        ),
        payload(tweet(2, "RT @nasa: up", referenced_tweets=[{"type": "retweeted", "id": "1"}])),
        payload(tweet(3, "look", referenced_tweets=[{"type": "quoted", "id": "1"}])),
        payload(tweet(4, long_text[:277] + "…", note_tweet={"text": long_text})),
    ]
    write_raw(tmp_path, "2022-01-10-00-object", lines, gzipped=False)  # arrived next hour
    rows = deduplicate(parse_records(read_raw_lines(spark, tmp_path)))
    actual = rows.select(
        "id",
        "text",
        "author_username",
        "client",
        "hashtags",
        "matching_rules",
        "is_reply",
        "is_retweet",
        "is_quote",
        "date",
        "hour",
    )
    day = datetime(2022, 1, 9).date()
    expected = [
        (
            "1",
            "@nasa\twhen is #JWST up? https://t.co/x",
            "stargazer",
            "Twitter for iPhone",
            ["JWST"],
            ["jwst"],
            True,
            False,
            False,
            day,
            23,
        ),
        ("2", "RT @nasa: up", None, None, None, ["mission"], False, True, False, day, 1),
        ("3", "look", None, None, None, ["mission"], False, False, True, day, 1),
        ("4", long_text, None, None, None, ["mission"], False, False, False, day, 1),
    ]
    schema = (
        "id string, text string, author_username string, client string, hashtags array<string>,"
        " matching_rules array<string>, is_reply boolean, is_retweet boolean, is_quote boolean,"
        " date date, hour int"
    )
    assertDataFrameEqual(actual, spark.createDataFrame(expected, schema))


def test_duplicate_deliveries_keep_one_row_per_id(spark: SparkSession, tmp_path: Path) -> None:
    first = payload(tweet(1, "same tweet"))
    write_raw(tmp_path, "a", [first, payload(tweet(2, "other tweet"))], gzipped=True)
    write_raw(tmp_path, "b", [first, first], gzipped=False)
    rows = deduplicate(parse_records(read_raw_lines(spark, tmp_path)))
    actual = rows.select(
        "id", "deliveries", F.regexp_extract("source_object", r"[^/]+$", 0).alias("o")
    )
    expected = [("1", 3, "a"), ("2", 1, "a")]
    assertDataFrameEqual(
        actual, spark.createDataFrame(expected, "id string, deliveries int, o string")
    )


def test_text_ending_in_braces_is_not_split_but_glued_records_are(
    spark: SparkSession, tmp_path: Path
) -> None:
    compact = json.dumps({"data": tweet(1, "ends with }{")}, separators=(",", ":")) + "\n"
    key_like = json.dumps({"data": tweet(2, 'quoted }{"data": no')}, separators=(",", ":"))
    glued = payload(tweet(3, "first }{")).rstrip("\n") + payload(tweet(4, "{second"))
    write_raw(tmp_path, "object", [compact, key_like + "\n", glued], gzipped=False)
    parsed = parse_records(read_raw_lines(spark, tmp_path))
    actual = parsed.select("reason", "id", "text")
    expected = [
        (None, "1", "ends with }{"),
        (None, "2", 'quoted }{"data": no'),
        (None, "3", "first }{"),
        (None, "4", "{second"),
    ]
    assertDataFrameEqual(
        actual, spark.createDataFrame(expected, "reason string, id string, text string")
    )


def test_bytes_that_are_not_utf8_are_quarantined_not_replaced(
    spark: SparkSession, tmp_path: Path
) -> None:
    latin1 = (
        '{"data": {"id": "2", "text": "caf\xe9 au lait", "created_at": "2022-01-09T01:00:00Z"}}'
    )
    (tmp_path / "plain").write_bytes(
        payload(tweet(1, "café fine")).encode() + latin1.encode("latin-1") + b"\n"
    )
    (tmp_path / "zipped.gz").write_bytes(gzip.compress(latin1.encode("latin-1") + b"\n"))
    (tmp_path / "misnamed").write_bytes(gzip.compress(latin1.encode("latin-1") + b"\n"))
    parsed = parse_records(read_raw_lines(spark, tmp_path))
    kept_bytes = F.hex("value").contains("636166E920")  # 'caf\xe9' as stored, not replaced
    actual = parsed.select(
        F.regexp_extract("source", r"[^/]+$", 0).alias("o"), "reason", kept_bytes.alias("raw")
    )
    expected = [
        ("plain", None, None),
        ("plain", "not_utf8", True),
        ("zipped.gz", "not_utf8", True),
        ("misnamed", "not_utf8", True),
    ]
    assertDataFrameEqual(
        actual, spark.createDataFrame(expected, "o string, reason string, raw boolean")
    )
