from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from tweet_triage.retry import Backoff
from tweet_triage.stream.intake import Intake
from tweet_triage.stream.sender import Sender
from tweet_triage.stream.sinks import MAX_BATCH_RECORDS, SinkError
from tweet_triage.stream.spool import Spool
from tweet_triage.stream.stats import DeadLetters, StreamStats

FAST = Backoff(base_seconds=0.001, cap_seconds=0.01, permanent_cap_seconds=0.01)


def _record(n: int, size: int = 10) -> bytes:
    return f'{{"data":{{"id":"{n}","text":"{"x" * size}"}}}}\n'.encode()


class FlakySink:
    """Refuses every `refuse_every`-th record and fails every `fail_every`-th call."""

    name = "flaky"

    def __init__(self, refuse_every: int = 0, fail_every: int = 0) -> None:
        self.accepted: list[bytes] = []
        self.calls: list[int] = []
        self._refuse_every = refuse_every
        self._fail_every = fail_every
        self._seen = 0

    def check(self) -> None:
        pass

    def put_batch(self, records: Sequence[bytes]) -> list[str | None]:
        self.calls.append(len(records))
        if self._fail_every and len(self.calls) % self._fail_every == 0:
            raise SinkError("ThrottlingException: slow down", code="ThrottlingException")
        results: list[str | None] = []
        for data in records:
            self._seen += 1
            if self._refuse_every and self._seen % self._refuse_every == 0:
                results.append("ServiceUnavailableException: busy")
            else:
                self.accepted.append(data)
                results.append(None)
        return results

    def close(self) -> None:
        pass


def _run(
    tmp_path: Path,
    sink: FlakySink,
    records: list[bytes],
    queue_size: int = 10_000,
    concurrency: int = 1,  # one call at a time keeps the order, so tests can check it
) -> tuple[Spool, StreamStats]:
    spool = Spool(tmp_path / "spool")
    intake = Intake(spool, queue_size, spool.open())
    stats = StreamStats()
    sender = Sender(intake, sink, stats, flush_seconds=0.05, backoff=FAST, concurrency=concurrency)
    sender.start()
    for data in records:
        intake.accept(data)
    intake.close()
    assert sender.wait_drained(30)
    return spool, stats


def test_partial_failures_and_failed_calls_are_retried_until_all_arrive(tmp_path: Path) -> None:
    records = [_record(n) for n in range(2_000)]
    sink = FlakySink(refuse_every=7, fail_every=3)
    spool, stats = _run(tmp_path, sink, records, concurrency=4)
    assert sorted(sink.accepted) == sorted(records)
    assert len(sink.accepted) == len(records)  # nothing sent twice once accepted
    assert stats.sent == 2_000
    assert stats.retried > 0 and stats.failed_calls > 0
    assert max(sink.calls) <= MAX_BATCH_RECORDS
    assert spool.depth == 0


def test_batches_stay_under_the_byte_limit(tmp_path: Path) -> None:
    big = [_record(n, 900 * 1024) for n in range(9)]  # 4 fit in 4 MiB, not 5
    sink = FlakySink()
    _run(tmp_path, sink, big)
    assert sink.accepted == big
    assert max(sink.calls) == 4


def test_queue_overflow_waits_in_the_spool_and_keeps_order(tmp_path: Path) -> None:
    records = [_record(n) for n in range(3_000)]
    sink = FlakySink()
    spool, _ = _run(tmp_path, sink, records, queue_size=10)
    assert sink.accepted == records
    assert spool.depth == 0


def test_backlog_of_an_earlier_run_is_sent_first(tmp_path: Path) -> None:
    first = Spool(tmp_path / "spool")
    first.open()
    old = [_record(n) for n in range(5)]
    for data in old:
        first.append(data)
    first.close()
    sink = FlakySink()
    new = [_record(n) for n in range(5, 10)]
    spool, _ = _run(tmp_path, sink, new)
    assert sink.accepted == old + new
    assert spool.depth == 0


def test_abort_leaves_undelivered_records_in_the_spool(tmp_path: Path) -> None:
    class DownSink(FlakySink):
        def put_batch(self, records: Sequence[bytes]) -> list[str | None]:
            raise SinkError("ResourceNotFoundException: gone", code="x", permanent=True)

    spool = Spool(tmp_path / "spool")
    intake = Intake(spool, 100, spool.open())
    sender = Sender(intake, DownSink(), StreamStats(), flush_seconds=0.01, backoff=FAST)
    sender.start()
    intake.accept(_record(1))
    intake.close()
    assert not sender.wait_drained(0.3)
    sender.abort()
    sender.join(5)
    assert not sender.is_alive()
    spool.close()
    again = Spool(tmp_path / "spool")
    backlog = again.open()
    assert backlog is not None
    assert [r.data for r in again.read(backlog, 10, 1 << 20)[0]] == [_record(1)]


def test_unexpected_sink_error_stops_the_sender_and_is_reported(tmp_path: Path) -> None:
    class BrokenSink(FlakySink):
        def put_batch(self, records: Sequence[bytes]) -> list[str | None]:
            raise RuntimeError("bug")

    spool = Spool(tmp_path / "spool")
    intake = Intake(spool, 100, spool.open())
    sender = Sender(intake, BrokenSink(), StreamStats(), flush_seconds=0.01, backoff=FAST)
    sender.start()
    intake.accept(_record(1))
    sender.join(5)
    assert isinstance(sender.error, RuntimeError)
    assert spool.depth == 1


@pytest.mark.parametrize("attempt", [0, 3, 10, 40])
def test_backoff_grows_with_jitter_and_is_capped(attempt: int) -> None:
    backoff = Backoff(base_seconds=0.2, cap_seconds=20)
    ceiling = min(20, 0.2 * 2**attempt)
    delays = {backoff.delay(attempt) for _ in range(50)}
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(delays) > 1


def test_reader_and_sender_threads_together_lose_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    intake = Intake(spool, 50, spool.open())
    sink = FlakySink(refuse_every=11)
    stats = StreamStats()
    sender = Sender(intake, sink, stats, flush_seconds=0.01, backoff=FAST, concurrency=3)
    sender.start()
    records = [_record(n) for n in range(5_000)]

    def produce() -> None:
        for data in records:
            intake.accept(data)

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join()
    intake.close()
    assert sender.wait_drained(30)
    assert sorted(sink.accepted) == sorted(records)
    assert spool.depth == 0
    assert stats.sent == len(records)


class PickySink(FlakySink):
    """Refuses, as a whole, every call that carries a record with `poison` in it."""

    def __init__(self, poison: bytes) -> None:
        super().__init__()
        self.poison = poison

    def put_batch(self, records: Sequence[bytes]) -> list[str | None]:
        self.calls.append(len(records))
        if any(self.poison in data for data in records):
            raise SinkError("ValidationException: bad record", code="ValidationException")
        self.accepted += records
        return [None] * len(records)


def test_a_record_refused_for_good_goes_to_the_dead_letter_file_and_the_rest_flows(
    tmp_path: Path,
) -> None:
    records = [_record(n) for n in range(40)]
    sink = PickySink(b'"id":"17"')
    spool = Spool(tmp_path / "spool")
    intake = Intake(spool, 10_000, spool.open())
    stats = StreamStats()
    dead = DeadLetters(tmp_path / "dead.jsonl")
    sender = Sender(intake, sink, stats, flush_seconds=0.2, backoff=FAST, dead_letters=dead)
    for data in records:
        intake.accept(data)
    sender.start()
    intake.close()
    assert sender.wait_drained(10)
    assert sink.accepted == [r for r in records if b'"id":"17"' not in r]
    [entry] = [json.loads(line) for line in dead.path.read_text().splitlines()]
    assert entry["payload"] == _record(17).decode() and "ValidationException" in entry["reason"]
    assert (stats.rejected, stats.dead_lettered, spool.depth) == (1, 1, 0)
    assert len(sink.calls) <= 1 + 2 * 6  # halves down to the record: about log2(40) per level
