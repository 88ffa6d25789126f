"""The corpus as the stream replays it: created_at order, stream lines pre-encoded, positions.

Only what replay needs is kept per tweet (the Tweet dicts themselves would double the memory):
its id, created_at, the rule matcher's view, and every field JSON-encoded once, so a stream
line is only concatenation.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from tweet_triage_local.corpus.tweets import iso_millis
from tweet_triage_local.xapi.authors import corpus_author, with_conversation
from tweet_triage_local.xapi.rules import TweetView
from tweet_triage_local.xapi.rulestore import StoredRule
from tweet_triage_local.xapi.state import StandInError


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class ReplayCorpus:
    def __init__(self, tweets: Iterable[Mapping[str, Any]]) -> None:
        ordered = [
            with_conversation(dict(t))
            for t in sorted(tweets, key=lambda t: (t["created_at"], int(t["id"])))
        ]
        self.ids: list[str] = [t["id"] for t in ordered]
        self._created_at: list[str] = [t["created_at"] for t in ordered]
        self.views = [TweetView.from_tweet(t) for t in ordered]
        self._fragments = [
            {key: json_bytes(key) + b":" + json_bytes(value) for key, value in t.items()}
            for t in ordered
        ]
        self._rules_json: dict[tuple[str, ...], bytes] = {}
        self._index = {tweet_id: index for index, tweet_id in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def tweet(self, tweet_id: str) -> dict[str, Any] | None:
        """One corpus tweet with all its fields (`GET /2/tweets/:id`), or None."""
        index = self._index.get(tweet_id)
        if index is None:
            return None
        return json.loads(b"{" + b",".join(self._fragments[index].values()) + b"}")

    def resolve_start(self, start: str | int) -> int:
        """An index into the replay order, or the first tweet created at/after a time."""
        if isinstance(start, int) or (isinstance(start, str) and start.strip().isdigit()):
            index = int(start)
            if not 0 <= index <= len(self.ids):
                raise StandInError(
                    f"start={start}: the corpus has {len(self.ids)} tweets; use 0.."
                    f"{len(self.ids)} or a created_at time such as 2013-01-01T00:00:00Z"
                )
            return index
        try:
            moment = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        except ValueError as exc:
            raise StandInError(
                f"start={start!r} is neither a tweet index nor an ISO time such as "
                "2013-01-01 or 2013-01-01T12:00:00Z"
            ) from exc
        if moment.tzinfo is None:  # X's times are UTC; so is a time given without a zone
            moment = moment.replace(tzinfo=UTC)
        return bisect.bisect_left(self._created_at, iso_millis(moment))

    def _encoded_data(self, index: int, fields: frozenset[str]) -> bytes:
        fragments = self._fragments[index]
        return b"{" + b",".join(v for k, v in fragments.items() if k in fields) + b"}"

    def _encoded_includes(self, index: int) -> bytes:
        return b',"includes":' + json_bytes({"users": [corpus_author(self.ids[index])]})

    def _matching_rules_json(self, matched: tuple[StoredRule, ...]) -> bytes:
        key = tuple(r.id for r in matched)
        encoded = self._rules_json.get(key)
        if encoded is None:
            encoded = json_bytes([{"id": r.id, "tag": r.tag or ""} for r in matched])
            self._rules_json[key] = encoded
        return encoded

    def line(
        self,
        tweet: dict[str, Any],
        author: dict[str, str],
        rules: Iterable[StoredRule],
        fields: frozenset[str],
        expand_authors: bool,
    ) -> bytes | None:
        """The stream line of a tweet from outside the corpus (an author's answer), if matched."""
        view = TweetView.from_tweet(tweet)
        matched = tuple(rule for rule in rules if rule.compiled.predicate(view))
        if not matched:
            return None
        data = json_bytes({key: value for key, value in tweet.items() if key in fields})
        includes = b',"includes":' + json_bytes({"users": [author]}) if expand_authors else b""
        rules_json = self._matching_rules_json(matched)
        return b'{"data":' + data + includes + b',"matching_rules":' + rules_json + b"}\r\n"

    def collect(
        self,
        rules: Iterable[StoredRule],
        start: int,
        stop: int,
        budget: int | None,
        fields: frozenset[str],
        expand_authors: bool = False,
    ) -> tuple[list[bytes], list[str], int]:
        """Lines for the matching tweets in [start, stop), at most `budget`; (lines, ids, end)."""
        predicates = [(rule, rule.compiled.predicate) for rule in rules]
        views, ids_by_index = self.views, self.ids
        limit = stop - start if budget is None else budget
        lines: list[bytes] = []
        ids: list[str] = []
        index = start
        while index < stop and len(lines) < limit:
            view = views[index]
            matched = tuple([rule for rule, predicate in predicates if predicate(view)])
            if matched:
                lines.append(
                    b'{"data":'
                    + self._encoded_data(index, fields)
                    + (self._encoded_includes(index) if expand_authors else b"")
                    + b',"matching_rules":'
                    + self._matching_rules_json(matched)
                    + b"}\r\n"
                )
                ids.append(ids_by_index[index])
            index += 1
        return lines, ids, index
