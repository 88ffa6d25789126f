"""The sender thread: batches records into sink calls and retries until every one is accepted.

A batch is sent when it reaches 500 records or 4 MiB, or when `flush_seconds` passed since
the last send. Records the sink refuses (Firehose `RequestResponses` with an `ErrorCode`) are
re-sent alone; a call that fails as a whole (throttling, service unavailable, network) is
re-sent whole. Both wait with exponential back-off and jitter. Records are acknowledged in the
spool as soon as the sink accepts them; nothing is ever dropped: on shutdown whatever could
not be delivered in time stays in the spool for the next start.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass

from tweet_triage.stream.intake import Intake
from tweet_triage.stream.sinks import MAX_BATCH_BYTES, MAX_BATCH_RECORDS, Sink, SinkError
from tweet_triage.stream.spool import SpooledRecord
from tweet_triage.stream.stats import StreamStats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off with 'equal jitter': half fixed, half random, capped."""

    base_seconds: float = 0.2
    cap_seconds: float = 20.0
    permanent_cap_seconds: float = 60.0  # errors that need an operator: retry slowly

    def delay(self, attempt: int, permanent: bool = False) -> float:
        cap = self.permanent_cap_seconds if permanent else self.cap_seconds
        ceiling = min(cap, self.base_seconds * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class Sender(threading.Thread):
    """Takes batches from the intake and delivers them; `finish()` then `join()` to drain."""

    def __init__(
        self,
        intake: Intake,
        sink: Sink,
        stats: StreamStats,
        *,
        flush_seconds: float = 1.0,
        max_records: int = MAX_BATCH_RECORDS,
        max_bytes: int = MAX_BATCH_BYTES,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(name="firehose-sender", daemon=True)
        self._intake = intake
        self._sink = sink
        self._stats = stats
        self._flush_seconds = flush_seconds
        self._max_records = max_records
        self._max_bytes = max_bytes
        self._backoff = backoff or Backoff()
        self._abort = threading.Event()
        self.error: BaseException | None = None
        self.in_flight = 0

    def abort(self) -> None:
        """Stop now, even with records undelivered (they stay in the spool)."""
        self._abort.set()

    def run(self) -> None:
        try:
            while not self._abort.is_set():
                self._intake.spool.sync_if_due()
                batch = self._intake.take(self._max_records, self._max_bytes, self._flush_seconds)
                if batch:
                    self._deliver(batch)
                elif self._intake.closed and self._intake.drained():
                    return
        except BaseException as exc:  # the streamer stops and reports it; spool keeps data
            self.error = exc
            log.exception("sender stopped by an unexpected error")

    def _deliver(self, batch: list[SpooledRecord]) -> None:
        remaining = batch
        attempt = 0
        self.in_flight = len(batch)
        while remaining and not self._abort.is_set():
            self._stats.api_calls += 1
            try:
                results = self._sink.put_batch([record.data for record in remaining])
            except SinkError as exc:
                self._stats.failed_calls += 1
                self._stats.failed += len(remaining)
                delay = self._backoff.delay(attempt, exc.permanent)
                level = logging.ERROR if exc.permanent else logging.WARNING
                log.log(
                    level,
                    "put of %d record(s) to %s failed (%s); retrying in %.1f s",
                    len(remaining),
                    self._sink.name,
                    exc,
                    delay,
                    extra={"fields": {"error_code": exc.code, "records": len(remaining)}},
                )
            else:
                accepted = [r for r, error in zip(remaining, results, strict=True) if not error]
                refused = [r for r, error in zip(remaining, results, strict=True) if error]
                self._intake.ack(accepted)
                self._stats.sent += len(accepted)
                if not refused:
                    break
                self._stats.failed += len(refused)
                delay = self._backoff.delay(attempt)
                reasons = sorted({e for e in results if e})
                log.warning(
                    "%d of %d record(s) refused by %s (%s); re-sending them in %.1f s",
                    len(refused),
                    len(remaining),
                    self._sink.name,
                    "; ".join(reasons)[:300],
                    delay,
                    extra={"fields": {"refused": len(refused)}},
                )
                remaining = refused
            self._stats.retried += len(remaining)
            attempt += 1
            self._abort.wait(delay)
        self.in_flight = 0

    def wait_drained(self, timeout: float) -> bool:
        """After `intake.close()`: wait until every record was delivered (or `timeout`)."""
        self.join(timeout)
        return not self.is_alive() and self.error is None
