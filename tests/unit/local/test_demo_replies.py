"""The demo's answering half: the team member's choice of saved reply and the summary lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tweet_triage_local.demo_replies import (
    MIN_SCORED,
    percentiles,
    pick_saved_reply,
    reply_summary_lines,
    suggestion_hit_rate,
    wait_for_author_answers,
)


def test_the_team_member_picks_a_saved_reply_by_its_words() -> None:
    assert pick_saved_reply("My concert TICKETS never came!") == "/tickets"
    assert pick_saved_reply("the app crashes since the update") == "/tech"
    assert pick_saved_reply("watching the new episode tonight") == "/watch"
    assert pick_saved_reply("nobody answers my emails") is None


def test_percentiles_of_nothing_are_empty_not_zero() -> None:
    assert percentiles([]) == {"n": 0, "p50": None, "p95": None}
    found = percentiles([float(s) for s in range(1, 101)])
    assert found["p50"] == 50.5 and 94 <= found["p95"] <= 96


def replies_with(hit_rate: tuple[float, int]) -> dict[str, Any]:
    return {
        "answered": 30,
        "with_saved_reply": 21,
        "sent": 29,
        "failed": 1,
        "failed_reasons": ["403: Reply to this conversation is not allowed"],
        "retried": 2,
        "pending": 0,
        "delivery": percentiles([0.4, 0.5, 0.6, 6.5]),
        "first_response": percentiles([90.0, 100.0, 140.0]),
        "reopened": 14,
        "author_answers": 15,
        "hit_rate": hit_rate,
    }


def test_summary_lines_give_the_response_figures() -> None:
    text = "\n".join(reply_summary_lines(replies_with((0.55, MIN_SCORED))))
    assert "replies sent 29, failed 1 (403: Reply to this conversation is not allowed)" in text
    assert "retried 2, still queued 0" in text
    assert "first-response time (arrival -> first reply on X): p50 100 s" in text
    assert "conversations reopened by the author's answer: 14 of 15 answers" in text
    assert f"the one sent: 55% of {MIN_SCORED} replies" in text


def test_too_few_saved_replies_give_the_benchmark_figure_instead(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    results = tmp_path / "suggest.json"
    monkeypatch.setattr("tweet_triage_local.demo_replies.SUGGEST_RESULTS", results)
    few = replies_with((1.0, MIN_SCORED - 1))
    text = "\n".join(reply_summary_lines(few))
    assert "too few saved replies in the demo to measure" in text and "100%" not in text
    assert "`make bench BENCH=suggest` measures it" in text
    results.write_text(json.dumps({"headline": {"hit_rate": 0.8, "scored": 1450, "majority": 0.6}}))
    text = "\n".join(reply_summary_lines(few))
    assert "`make bench BENCH=suggest`: 80% of 1,450 corpus replies" in text
    assert "(the most used reply so far: 60%)" in text


def test_no_suggestion_figure_without_enough_saved_replies() -> None:
    replies = {
        "answered": 3, "with_saved_reply": 0, "sent": 3, "failed": 0, "failed_reasons": [],
        "retried": 0, "pending": 0, "delivery": percentiles([]),
        "first_response": percentiles([]), "reopened": 0, "author_answers": 0, "hit_rate": (0.0, 0),
    }  # fmt: skip
    text = "\n".join(reply_summary_lines(replies))
    assert "suggested" not in text and "p50" not in text


class Tweet:
    def __init__(self, author_replied: bool) -> None:
        self.author_replied = author_replied


class Inbox:
    """A queue whose authors' answers arrive one per look, as the scorer stores them."""

    def __init__(self) -> None:
        self.arrived = 0

    def queue(self, limit: int) -> list[Tweet]:
        self.arrived = min(self.arrived + 1, 3)
        return [Tweet(True)] * self.arrived + [Tweet(False)] * 5


def test_waiting_ends_when_every_streamed_answer_reached_the_inbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tweet_triage_local.demo_replies.time.sleep", lambda _s: None)
    looks = iter([{"pending": 2, "answered": 1}] + [{"pending": 0, "answered": 3}] * 10)
    found = wait_for_author_answers(Inbox(), lambda _path, _body: next(looks), timeout=60)
    assert found == (3, 3)


def test_too_few_saved_replies_are_counted_without_loading_the_encoder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_encoder(*args: object, **kwargs: object) -> None:
        raise AssertionError("the encoder was loaded for too few replies")

    monkeypatch.setattr("tweet_triage.live.replies.suggest.SentenceEncoder", no_encoder)
    examples = [(f"tweet {i}", i % 3) for i in range(12)]
    assert suggestion_hit_rate(examples) == (0.0, 2)
