"""Explicit Spark schema of one stored record: the X API v2 filtered-stream payload.

The streamer stores every payload exactly as X sent it, one JSON object per line:
`{"data": <Tweet>, "matching_rules": [...], "includes": {...}}`. Reading with this schema
(never inferring one) keeps a job's columns stable whatever a given hour happens to contain;
fields X did not send read as null. It names only the fields the jobs use: the JSON parser
skips the rest (metrics, entity offsets, user profiles) without building values for them.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    StringType,
    StructField,
    StructType,
)


def _struct(**fields: object) -> StructType:
    return StructType([StructField(name, dtype, True) for name, dtype in fields.items()])  # type: ignore[arg-type]


ENTITIES = _struct(
    hashtags=ArrayType(_struct(tag=StringType())),
    mentions=ArrayType(_struct(username=StringType())),
    urls=ArrayType(_struct(expanded_url=StringType())),
)
TWEET = _struct(
    id=StringType(),
    text=StringType(),
    created_at=StringType(),
    lang=StringType(),
    author_id=StringType(),
    conversation_id=StringType(),
    in_reply_to_user_id=StringType(),
    source=StringType(),
    edit_history_tweet_ids=ArrayType(StringType()),
    referenced_tweets=ArrayType(_struct(type=StringType(), id=StringType())),
    entities=ENTITIES,
    # Posts longer than 280 characters: `text` is truncated, the whole text is here.
    note_tweet=_struct(text=StringType()),
)
USER = _struct(id=StringType(), username=StringType(), name=StringType())
CORRUPT_COLUMN = "_corrupt_record"
PAYLOAD_SCHEMA = _struct(
    data=TWEET,
    matching_rules=ArrayType(_struct(tag=StringType())),
    includes=_struct(users=ArrayType(USER)),
    **{CORRUPT_COLUMN: StringType()},
)
