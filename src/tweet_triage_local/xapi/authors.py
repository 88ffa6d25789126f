"""Authors and conversations for the replayed corpus, and the scripted authors who answer back.

The SemEval corpus has no authors and no conversation ids, but X's stream gives both
(`author_id`, `conversation_id`, and the author as `includes.users` with `expansions=author_id`).
The stand-in fills them in honestly marked as invented: every corpus tweet gets its own
pseudonymous author derived from the tweet id (`corpus_<base36>`, "Corpus author NNNN"), and a
tweet whose parent the corpus does not hold starts its own conversation.

When the team replies to a corpus tweet, a configurable share of those authors answer back after
a delay, in the same conversation, mentioning the account, as people do when a support team
answers them. Which authors answer is decided by the reply's id (seeded), so a run repeats.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

from tweet_triage_local.corpus.tweets import (
    extract_entities,
    iso_millis,
    snowflake_datetime,
    snowflake_from_ms,
)
from tweet_triage_local.xapi.state import StandInError

ANSWERS = (
    "thank you, that helps!",
    "still not working for me, any update?",
    "thanks for getting back to me",
    "ok, but when will the images be out?",
)


SAMPLE_MS = 1_640_000_000_000  # when `sample_answers` are dated (any moment would do)


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"


def corpus_author(tweet_id: str) -> dict[str, str]:
    """The invented author of a corpus tweet: stable for the tweet, distinct between tweets."""
    digest = int.from_bytes(hashlib.sha256(tweet_id.encode()).digest()[:8], "big")
    return {
        "id": str(10**17 + digest % (9 * 10**17)),
        "username": f"corpus_{_base36(digest)[:8]}",
        "name": f"Corpus author {digest % 10000:04d}",
    }


def with_conversation(tweet: dict[str, Any]) -> dict[str, Any]:
    """A corpus tweet with its author_id and conversation_id, as X's stream would carry them."""
    filled = dict(tweet)
    filled.setdefault("author_id", corpus_author(tweet["id"])["id"])
    filled.setdefault("conversation_id", tweet["id"])
    return filled


def answer_tweet(
    answer_id: str,
    words: str,
    author_id: str,
    conversation_id: str,
    reply_id: str,
    account: dict[str, str],
) -> dict[str, Any]:
    """An author's answer to the team's reply, mentioning the account, as X's Tweet object."""
    text = f"@{account['username']} {words}"
    return {
        "id": answer_id,
        "text": text,
        "created_at": iso_millis(snowflake_datetime(int(answer_id))),
        "lang": "en",
        "edit_history_tweet_ids": [answer_id],
        "entities": extract_entities(text),
        "author_id": author_id,
        "conversation_id": conversation_id,
        "in_reply_to_user_id": account["id"],
        "referenced_tweets": [{"type": "replied_to", "id": reply_id}],
    }


def sample_answers(account: dict[str, str]) -> list[dict[str, Any]]:
    """One answer of each kind the scripted authors write: what a mission profile must keep on
    the stream besides the corpus (`tweet_triage_local.profile_check`)."""
    answers = []
    for index, words in enumerate(ANSWERS):
        answer_id = str(snowflake_from_ms(SAMPLE_MS, index))
        team_reply_id = str(snowflake_from_ms(SAMPLE_MS - 60_000, index))
        author_id = corpus_author(answer_id)["id"]
        answers.append(
            answer_tweet(answer_id, words, author_id, team_reply_id, team_reply_id, account)
        )
    return answers


@dataclass
class _Scheduled:
    due: float
    tweet: dict[str, Any]
    author: dict[str, str]


class ScriptedAuthors:
    """Authors who answer the team's replies: a share of them, after a delay."""

    def __init__(self, share: float = 0.0, delay_seconds: float = 30.0) -> None:
        self.lock = threading.Lock()
        self.share = 0.0
        self.delay_seconds = 30.0
        self.configure({"share": share, "delay_seconds": delay_seconds})
        self._scheduled: list[_Scheduled] = []
        self.sent: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
        self._sequence = 0

    def configure(self, changes: dict[str, Any]) -> dict[str, float]:
        unknown = set(changes) - {"share", "delay_seconds"}
        if unknown:
            raise StandInError(
                f"unknown author setting(s) {sorted(unknown)}; use share, delay_seconds"
            )
        share = float(changes.get("share", self.share))
        delay = float(changes.get("delay_seconds", self.delay_seconds))
        if not 0 <= share <= 1:
            raise StandInError(f"share={share}: use a share of replied-to authors from 0 to 1")
        if delay < 0:
            raise StandInError(f"delay_seconds={delay}: use seconds >= 0")
        with self.lock:
            self.share, self.delay_seconds = share, delay
        return {"share": share, "delay_seconds": delay}

    def replied(
        self,
        reply: dict[str, Any],
        parent: dict[str, Any],
        account: dict[str, str],
        now: float,
    ) -> bool:
        """The team replied to `parent`; schedule its author's answer if this author answers."""
        author_id = parent.get("author_id")
        if not author_id or author_id == account["id"]:
            return False
        draw = int.from_bytes(hashlib.sha256(reply["id"].encode()).digest()[:4], "big") / 2**32
        with self.lock:
            if draw >= self.share:
                return False
            self._sequence += 1
            due = now + self.delay_seconds
            answer_id = str(snowflake_from_ms(int(due * 1000), 0x200000 + self._sequence))
            tweet = answer_tweet(
                answer_id,
                ANSWERS[self._sequence % len(ANSWERS)],
                author_id,
                reply.get("conversation_id") or parent["id"],
                reply["id"],
                account,
            )
            self._scheduled.append(_Scheduled(due, tweet, self._author_of(parent)))
            return True

    def _author_of(self, parent: dict[str, Any]) -> dict[str, str]:
        """The author of a corpus tweet, or of an earlier answer in the conversation."""
        answered = self.sent.get(parent["id"])
        return answered[1] if answered is not None else corpus_author(parent["id"])

    def due(self, now: float) -> list[tuple[dict[str, Any], dict[str, str]]]:
        """The answers whose time has come, each once."""
        with self.lock:
            ready = [s for s in self._scheduled if s.due <= now]
            self._scheduled = [s for s in self._scheduled if s.due > now]
            for item in ready:
                self.sent[item.tweet["id"]] = (item.tweet, item.author)
        return [(item.tweet, item.author) for item in ready]

    def pending(self) -> int:
        with self.lock:
            return len(self._scheduled)

    def answered(self) -> int:
        """Answers already streamed (their time came)."""
        with self.lock:
            return len(self.sent)

    def tweet(self, tweet_id: str) -> dict[str, Any] | None:
        with self.lock:
            sent = self.sent.get(tweet_id)
        return sent[0] if sent else None
