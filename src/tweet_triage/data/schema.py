"""Explicit Spark schema of one stored record: the X API v2 filtered-stream payload.

The streamer stores every payload exactly as X sent it, one JSON object per line:
`{"data": <Tweet>, "matching_rules": [...], "includes": {...}}`. Reading with this schema
(never inferring one) keeps a job's columns stable whatever a given hour happens to contain;
fields X did not send read as null.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)


def _struct(**fields: object) -> StructType:
    return StructType([StructField(name, dtype, True) for name, dtype in fields.items()])  # type: ignore[arg-type]


_SPAN = {"start": IntegerType(), "end": IntegerType()}
ENTITIES = _struct(
    hashtags=ArrayType(_struct(**_SPAN, tag=StringType())),
    cashtags=ArrayType(_struct(**_SPAN, tag=StringType())),
    mentions=ArrayType(_struct(**_SPAN, username=StringType(), id=StringType())),
    urls=ArrayType(
        _struct(
            **_SPAN,
            url=StringType(),
            expanded_url=StringType(),
            display_url=StringType(),
            unwound_url=StringType(),
        )
    ),
)
PUBLIC_METRICS = _struct(
    retweet_count=LongType(),
    reply_count=LongType(),
    like_count=LongType(),
    quote_count=LongType(),
    bookmark_count=LongType(),
    impression_count=LongType(),
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
    possibly_sensitive=BooleanType(),
    edit_history_tweet_ids=ArrayType(StringType()),
    referenced_tweets=ArrayType(_struct(type=StringType(), id=StringType())),
    entities=ENTITIES,
    public_metrics=PUBLIC_METRICS,
    # Posts longer than 280 characters: `text` is truncated, the whole text is here.
    note_tweet=_struct(text=StringType()),
)
USER = _struct(id=StringType(), username=StringType(), name=StringType(), verified=BooleanType())
CORRUPT_COLUMN = "_corrupt_record"
PAYLOAD_SCHEMA = _struct(
    data=TWEET,
    matching_rules=ArrayType(_struct(id=StringType(), tag=StringType())),
    includes=_struct(users=ArrayType(USER)),
    **{CORRUPT_COLUMN: StringType()},
)
