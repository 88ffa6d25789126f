"""Turn a tweet's id and text into an X API v2 Tweet object, deriving only what the text shows.

- `created_at` comes from the snowflake id: `(id >> 22) + 1288834974657` ms since the epoch
  (X's Twitter epoch), written as X writes it: `2015-12-29T18:51:58.874Z`.
- `entities` (hashtags, mentions, urls) are found in the text with X's rules in short: a
  hashtag needs a letter and no word character or `&` just before it, a username is 1-15 ASCII
  letters/digits/underscores, links are http(s) URLs without trailing punctuation. `start`/`end`
  are character (code point) offsets into `text`, end exclusive, as X gives them. Mentions carry
  `username` but no user `id` (the source has none); urls carry `url` only (the t.co target is
  unknown, so no `expanded_url`/`display_url` is invented).
- `referenced_tweets`: X marks retweets (`RT @user: ...`) with `{"type": "retweeted"}` and replies
  with `{"type": "replied_to"}`. The source has no parent ids, so the stand-in writes the
  placeholder id "0" (never a real tweet id; tweepy's `ReferencedTweet` needs a numeric id).
  A reply is a tweet whose text starts with an @mention not followed by ':' (X puts the
  replied-to username first; `@user: quote` is the old manual-retweet style, not a reply).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

TWITTER_EPOCH_MS = 1288834974657
UNKNOWN_REFERENCED_ID = "0"
LANG = "en"  # SemEval selected English tweets (Twitter's own lang at collection time)

_URL = re.compile(r"https?://[^\s\u2026]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\"()[]{}<>«»“”‘’…*"
_HASHTAG = re.compile(r"(?<![\w&])[#＃](\w*[^\W\d_]\w*)")
_MENTION = re.compile(r"(?<![A-Za-z0-9_!#$%&*@＠])[@＠]([A-Za-z0-9_]{1,15})(?![A-Za-z0-9_@＠])")
_RETWEET = re.compile(r"RT [@＠][A-Za-z0-9_]{1,15}:")


def snowflake_ms(tweet_id: int) -> int:
    """Milliseconds since the Unix epoch at which X created the tweet with this id."""
    return (tweet_id >> 22) + TWITTER_EPOCH_MS


def snowflake_datetime(tweet_id: int) -> datetime:
    return datetime.fromtimestamp(snowflake_ms(tweet_id) / 1000, tz=UTC)


def iso_millis(moment: datetime) -> str:
    """X's timestamp format: ISO 8601, UTC, milliseconds, 'Z'."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def created_at(tweet_id: int) -> str:
    return iso_millis(snowflake_datetime(tweet_id))


def snowflake_from_ms(epoch_ms: int, sequence: int = 0) -> int:
    """A snowflake for a moment (used for rule ids and for `--start` by time)."""
    return ((epoch_ms - TWITTER_EPOCH_MS) << 22) | (sequence & 0x3FFFFF)


def _url_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in _URL.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in _URL_TRAILING:
            end -= 1
        if end - start > len("http://"):
            spans.append((start, end))
    return spans


def _inside(position: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= position < end for start, end in spans)


def extract_entities(text: str) -> dict[str, list[dict[str, Any]]]:
    """X v2 `entities` for the text; only the kinds present, as X omits empty ones."""
    url_spans = _url_spans(text)
    entities: dict[str, list[dict[str, Any]]] = {}
    hashtags = [
        {"start": m.start(), "end": m.end(), "tag": m.group(1)}
        for m in _HASHTAG.finditer(text)
        if not _inside(m.start(), url_spans)
    ]
    mentions = [
        {"start": m.start(), "end": m.end(), "username": m.group(1)}
        for m in _MENTION.finditer(text)
        if not _inside(m.start(), url_spans)
    ]
    urls = [{"start": s, "end": e, "url": text[s:e]} for s, e in url_spans]
    for key, items in (("hashtags", hashtags), ("mentions", mentions), ("urls", urls)):
        if items:
            entities[key] = items
    return entities


def is_retweet(text: str) -> bool:
    return _RETWEET.match(text) is not None


def is_reply(text: str, entities: dict[str, list[dict[str, Any]]]) -> bool:
    mentions = entities.get("mentions") or []
    if not mentions or mentions[0]["start"] != 0:
        return False
    end = mentions[0]["end"]
    return text[end : end + 1] != ":"


def tweet_object(tweet_id: int, text: str) -> dict[str, Any]:
    """The X API v2 Tweet object (all fields the corpus can honestly fill)."""
    entities = extract_entities(text)
    tweet: dict[str, Any] = {
        "id": str(tweet_id),
        "text": text,
        "created_at": created_at(tweet_id),
        "lang": LANG,
        "edit_history_tweet_ids": [str(tweet_id)],
    }
    if entities:
        tweet["entities"] = entities
    if is_retweet(text):
        tweet["referenced_tweets"] = [{"type": "retweeted", "id": UNKNOWN_REFERENCED_ID}]
    elif is_reply(text, entities):
        tweet["referenced_tweets"] = [{"type": "replied_to", "id": UNKNOWN_REFERENCED_ID}]
    return tweet
