"""The outbox worker's loop over `send_next` with an in-memory store and a scripted X: it drains
what is due, waits when nothing is, outlives errors that a later turn may not meet, stops on its
event, and is a supervised service of triage-up once an X app is configured."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest

from tests.unit.live.outbox_fakes import FakeClock, MemoryStore
from tweet_triage.config import Settings
from tweet_triage.live import services
from tweet_triage.live.outbox_worker import OutboxWorker, drain
from tweet_triage.live.replies.outbox import PostedReply, PostOutcome, PostResult, ReplyStatus


class ScriptedX:
    """X's answers, in order; every post that X created is kept."""

    def __init__(self, *outcomes: PostResult) -> None:
        self.outcomes = list(outcomes)
        self.created: list[tuple[str, str]] = []

    def post_reply(self, text: str, in_reply_to_tweet_id: str) -> PostResult:
        result = (
            self.outcomes.pop(0)
            if self.outcomes
            else PostResult(PostOutcome.CREATED, x_post_id=str(900 + len(self.created)))
        )
        if result.outcome is PostOutcome.CREATED:
            self.created.append((text, in_reply_to_tweet_id))
        return result

    def recent_posts(self) -> list[PostedReply]:
        return []


class StopAfter:
    """A stop event that sets itself after `turns` waits (the worker's pauses)."""

    def __init__(self, turns: int) -> None:
        self.event = threading.Event()
        self.turns = turns
        self.pauses: list[float] = []

    def is_set(self) -> bool:
        return self.event.is_set()

    def wait(self, seconds: float) -> bool:
        self.pauses.append(seconds)
        if len(self.pauses) >= self.turns:
            self.event.set()
        return self.event.is_set()


def test_drain_sends_every_due_reply_once_and_leaves_the_later_ones() -> None:
    store, clock = MemoryStore(), FakeClock()
    for reply_id in (1, 2, 3):
        store.add(reply_id, f"10{reply_id}", f"answer {reply_id}")
    x = ScriptedX(PostResult(PostOutcome.RATE_LIMITED, retry_at=clock.now.replace(hour=13)))
    assert drain(store, x, clock) == 3  # reply 1 was rate-limited, 2 and 3 went out
    assert sorted(x.created) == [("answer 2", "102"), ("answer 3", "103")]
    assert store.rows[1].reply.status is ReplyStatus.QUEUED
    assert drain(store, x, clock) == 0  # nothing due before X's reset
    clock.advance(3600)
    assert drain(store, x, clock) == 1 and store.rows[1].reply.status is ReplyStatus.SENT
    assert len(x.created) == 3


def test_the_loop_waits_when_idle_and_writes_its_stats(tmp_path: Path) -> None:
    store, clock = MemoryStore(), FakeClock()
    store.add(1, "101", "answer")
    stop = StopAfter(turns=2)
    stats_path = tmp_path / "triage" / "outbox-stats.json"  # a folder not made yet
    worker = OutboxWorker(
        store, ScriptedX(), poll_seconds=0.5, stop=stop, stats_path=stats_path, clock=clock
    )
    stats = worker.run()  # type: ignore[arg-type]
    assert stats.handled == 1 and stats.errors == 0
    assert stop.pauses == [0.5, 0.5]  # no pause while a reply was due; the poll when idle
    saved = json.loads(stats_path.read_text())
    assert saved["handled"] == 1
    assert saved["last_turn_at"] == clock.now.isoformat(timespec="seconds")


class FailingStore(MemoryStore):
    """A store that cannot be reached for its first `failures` claims."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def claim_due(self, now):  # type: ignore[no-untyped-def]
        if self.failures:
            self.failures -= 1
            raise httpx.ConnectError("connection refused")
        return super().claim_due(now)


def test_transient_errors_are_waited_out_with_a_growing_pause() -> None:
    store = FailingStore(failures=3)
    store.add(1, "101", "answer")
    x = ScriptedX()
    stop = StopAfter(turns=4)
    stats = OutboxWorker(store, x, poll_seconds=1.0, stop=stop, clock=FakeClock()).run()  # type: ignore[arg-type]
    assert stop.pauses == [2.0, 4.0, 8.0, 1.0]  # three errors, then the reply, then idle
    assert stats.errors == 3 and "connection refused" in str(stats.last_error)
    assert x.created == [("answer", "101")] and stats.handled == 1


def test_a_bug_is_not_swallowed() -> None:
    class Broken(MemoryStore):
        def claim_due(self, now):  # type: ignore[no-untyped-def]
            raise KeyError("a programming error")

    stop = StopAfter(turns=1)
    with pytest.raises(KeyError):
        OutboxWorker(Broken(), ScriptedX(), poll_seconds=1, stop=stop).run()  # type: ignore[arg-type]


def test_the_worker_is_a_live_service_once_an_x_app_is_configured(tmp_path: Path) -> None:
    without = Settings(TT_STATE_DIR=tmp_path / "state")
    assert services.OUTBOX not in [p.name for p in services.live_services(without)]
    configured = Settings(TT_STATE_DIR=tmp_path / "state", x_client_id="tweet-triage-local")
    parts = services.live_services(configured)
    assert parts[-1].name == services.OUTBOX and parts[-1].args == ("triage", "outbox", "run")
    assert services.stop_live(configured)[0] == f"{services.OUTBOX}: not running"

    stats = {"handled": 4, "errors": 1, "last_error": "ConnectError: refused",
             "started_at": "2026-12-07T05:00:00+00:00", "last_turn_at": None}  # fmt: skip
    services.outbox_stats_path(configured).parent.mkdir(parents=True, exist_ok=True)
    services.outbox_stats_path(configured).write_text(json.dumps(stats))
    status = services.live_status(configured)
    assert status["outbox_stats"] == stats
    lines = services.status_lines(status)
    assert lines[3].startswith("triage-outbox: not running")
    assert not any(line.startswith("outbox: 4 reply") for line in lines)  # only while it runs
    status[services.OUTBOX]["running"] = True
    assert (
        "outbox: 4 reply(ies) handled since 2026-12-07T05:00:00+00:00, 1 error(s); last error "
        "ConnectError: refused"
    ) in services.status_lines(status)
