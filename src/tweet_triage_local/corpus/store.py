"""Read the bundled corpus (or another built one): the X stand-in and the data stage use this."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from pathlib import Path
from typing import Any

from tweet_triage.config import CORPUS_DIR
from tweet_triage.errors import TriageError
from tweet_triage_local.corpus.builder import ANNOTATIONS_FILE, TWEETS_FILE

BUNDLED_TWEETS = CORPUS_DIR / TWEETS_FILE
BUNDLED_ANNOTATIONS = CORPUS_DIR / ANNOTATIONS_FILE
_REBUILD = "rebuild it with `tweet-triage corpus build` (or reinstall the package)"


class CorpusError(TriageError):
    """A corpus file is missing or corrupt; the message names the file and the fix."""


def _read_gzip_text(path: Path) -> str:
    if not path.is_file():
        raise CorpusError(f"corpus file {path} is missing; {_REBUILD}")
    try:
        return gzip.decompress(path.read_bytes()).decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise CorpusError(f"corpus file {path} is corrupt ({exc}); {_REBUILD}") from exc


def load_tweets(path: Path = BUNDLED_TWEETS) -> list[dict[str, Any]]:
    """Every Tweet object of a `tweets.jsonl.gz`, validated enough to replay them safely."""
    tweets: list[dict[str, Any]] = []
    for number, line in enumerate(_read_gzip_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            tweet = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path} line {number}: not JSON ({exc}); {_REBUILD}") from exc
        if (
            not isinstance(tweet, dict)
            or not isinstance(tweet.get("id"), str)
            or not tweet["id"].isdigit()
            or not isinstance(tweet.get("text"), str)
            or not isinstance(tweet.get("created_at"), str)
        ):
            raise CorpusError(
                f"{path} line {number}: not a Tweet object with string id, text and "
                f"created_at; {_REBUILD}"
            )
        tweets.append(tweet)
    if not tweets:
        raise CorpusError(f"corpus file {path} holds no tweets; {_REBUILD}")
    return tweets


def load_annotations(path: Path = BUNDLED_ANNOTATIONS) -> dict[str, int]:
    """`{tweet id: sentiment}` from an `annotations.csv.gz` (0 negative, 1 neutral, 2 positive)."""
    reader = csv.DictReader(io.StringIO(_read_gzip_text(path)))
    if reader.fieldnames != ["id", "sentiment"]:
        raise CorpusError(f"{path}: header must be 'id,sentiment'; {_REBUILD}")
    annotations: dict[str, int] = {}
    for row in reader:
        if not row["id"].isdigit() or row["sentiment"] not in ("0", "1", "2"):
            raise CorpusError(f"{path} line {reader.line_num}: bad row {row}; {_REBUILD}")
        annotations[row["id"]] = int(row["sentiment"])
    return annotations
