"""Helpers that build raw X stream payloads by hand (the data tests' SparkSession is the
session-wide `spark` fixture of tests/conftest.py)."""

from __future__ import annotations

import json
from typing import Any


def tweet(
    tweet_id: str | int,
    text: str,
    created_at: str = "2022-01-09T01:18:13.000Z",
    **fields: Any,
) -> dict[str, Any]:
    """An X API v2 Tweet object."""
    return {
        "id": str(tweet_id),
        "text": text,
        "created_at": created_at,
        "lang": "en",
        "edit_history_tweet_ids": [str(tweet_id)],
        **fields,
    }


def payload(data: dict[str, Any], tag: str = "mission", **extra: Any) -> str:
    """One stored line: the stream payload exactly as the streamer writes it."""
    body = {"data": data, "matching_rules": [{"id": "1", "tag": tag}], **extra}
    return json.dumps(body) + "\n"
