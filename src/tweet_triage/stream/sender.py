"""The sender thread: batches records into sink calls and retries until every one is accepted.

A batch is sent when it reaches 500 records or 4 MiB, or when `flush_seconds` passed since
the last send; up to `concurrency` batches are in flight at once. Records the sink refuses
(Firehose `RequestResponses` with an `ErrorCode`) are re-sent alone; a call that fails as a
whole (throttling, service unavailable, network) is re-sent whole. Both wait with exponential
back-off and jitter. Records are acknowledged in the spool as soon as the sink accepts them;
on shutdown whatever could not be delivered in time stays in the spool for the next start.

A call refused as a whole because of what it carries (Firehose's ValidationException,
InvalidArgumentException) would be refused forever and block its worker: the batch is split
in halves until the record at fault is alone, and that record goes to the dead-letter file,
counted as `rejected` (and acknowledged, so it is not sent again); the rest flows. Errors an
operator must fix (missing stream, access denied) are retried slowly, never dropped."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from tweet_triage.retry import Backoff
from tweet_triage.stream.intake import Intake
from tweet_triage.stream.sinks import MAX_BATCH_BYTES, MAX_BATCH_RECORDS, Sink, SinkError
from tweet_triage.stream.spool import SpooledRecord
from tweet_triage.stream.stats import DeadLetters, StreamStats

log = logging.getLogger(__name__)


class Sender(threading.Thread):
    """Takes batches from the intake and delivers them until the intake is closed and drained.

    Up to `concurrency` put calls are in flight at once (a small worker pool), so the time a
    call spends on the network overlaps with preparing the next one; each worker retries its
    own batch. Firehose does not keep the order of records across calls anyway.
    """

    def __init__(
        self,
        intake: Intake,
        sink: Sink,
        stats: StreamStats,
        *,
        flush_seconds: float = 1.0,
        concurrency: int = 2,
        max_records: int = MAX_BATCH_RECORDS,
        max_bytes: int = MAX_BATCH_BYTES,
        backoff: Backoff | None = None,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        super().__init__(name="firehose-sender", daemon=True)
        self._dead_letters = dead_letters
        self._intake = intake
        self._sink = sink
        self._stats = stats
        self._flush_seconds = flush_seconds
        self._concurrency = concurrency
        self._slots = threading.BoundedSemaphore(concurrency)
        self._max_records = max_records
        self._max_bytes = max_bytes
        self._backoff = backoff or Backoff()
        self._abort = threading.Event()
        self._stats_lock = threading.Lock()  # workers update the same counters
        self.error: BaseException | None = None

    def abort(self) -> None:
        """Stop now, even with records undelivered (they stay in the spool)."""
        self._abort.set()

    def run(self) -> None:
        try:
            with ThreadPoolExecutor(self._concurrency, "firehose-put") as workers:
                while not self._abort.is_set():
                    self._intake.spool.sync_if_due()
                    if not self._slots.acquire(timeout=self._flush_seconds):
                        continue  # every worker busy (retrying): records wait in the spool
                    batch = self._intake.take(
                        self._max_records, self._max_bytes, self._flush_seconds
                    )
                    if batch:
                        workers.submit(self._work, batch)
                        continue
                    self._slots.release()
                    if self._intake.closed and self._intake.drained():
                        break
        except BaseException as exc:  # the streamer stops and reports it; spool keeps data
            self.error = exc
            log.exception("sender stopped by an unexpected error")

    def _work(self, batch: list[SpooledRecord]) -> None:
        try:
            self._deliver(batch)
        except BaseException as exc:
            self.error = exc
            self._abort.set()
            log.exception("sender stopped by an unexpected error")
        finally:
            self._slots.release()

    def _count(self, **increments: int) -> None:
        with self._stats_lock:
            for name, value in increments.items():
                setattr(self._stats, name, getattr(self._stats, name) + value)

    def _deliver(self, batch: list[SpooledRecord]) -> None:
        remaining = batch
        attempt = 0
        while remaining and not self._abort.is_set():
            self._count(api_calls=1)
            try:
                results = self._sink.put_batch([record.data for record in remaining])
            except SinkError as exc:
                self._count(failed_calls=1, failed=len(remaining))
                if exc.refuses_content and self._isolate_refused(remaining, exc):
                    return
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
                self._count(sent=len(accepted))
                if not refused:
                    break
                self._count(failed=len(refused))
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
            self._count(retried=len(remaining))
            attempt += 1
            self._abort.wait(delay)

    def _isolate_refused(self, batch: list[SpooledRecord], error: SinkError) -> bool:
        """Deliver a batch refused for its content: halves, down to the record at fault.

        Returns False when even a single record's refusal looks like the sink's fault (its
        check fails too): then it is retried like any other error instead of dead-lettered.
        """
        if self._dead_letters is None:
            return False
        if len(batch) > 1:
            middle = len(batch) // 2
            self._deliver(batch[:middle])
            self._deliver(batch[middle:])
            return True
        try:
            self._sink.check()
        except Exception:  # the stream itself is wrong (name, access): an operator's error
            return False
        [record] = batch
        self._dead_letters.write(record.data, f"refused by {self._sink.name}: {error}")
        self._intake.ack(batch)
        self._count(rejected=1, dead_lettered=1)
        log.error(
            "%s refused a record for good (%s); it is in the dead-letter file %s",
            self._sink.name,
            error,
            self._dead_letters.path,
            extra={"fields": {"error_code": error.code}},
        )
        return True

    def wait_drained(self, timeout: float) -> bool:
        """After `intake.close()`: wait until every record was delivered (or `timeout`)."""
        self.join(timeout)
        return not self.is_alive() and self.error is None
