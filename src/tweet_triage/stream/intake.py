"""Between the reader and the sender: the spool first, then a bounded in-memory queue.

The reader never waits on the sender (X disconnects slow consumers): each record is appended
to the spool and, while the queue has room, also put on it. When the queue is full (Firehose
slow or down), records stay only in the spool and the sender reads them back from there once
it has emptied the queue, in order. The same path replays the backlog an earlier run left.

When the spool is full (its byte cap, or the disk), `when_full` decides: `block` makes the
reader wait until acknowledged records free space (X then sees a slow client and may drop the
connection; nothing received is lost), `drop_newest` refuses the record at once (`accept`
returns None; the reader counts it and notes its tweet id in the dead-letter file). A record
that arrives once the intake is closed and cannot be spooled is refused the same way.
"""

from __future__ import annotations

import queue
import threading
import time

from tweet_triage.stream.spool import Position, Spool, SpooledRecord, SpoolFull

WHEN_FULL_POLICIES = ("block", "drop_newest")


class Intake:
    """Hands records from the reader thread to the sender thread without losing any."""

    def __init__(
        self,
        spool: Spool,
        queue_size: int,
        backlog: Position | None = None,
        *,
        when_full: str = "block",
    ) -> None:
        if when_full not in WHEN_FULL_POLICIES:
            raise ValueError(f"when_full must be one of {WHEN_FULL_POLICIES}, not {when_full!r}")
        self.spool = spool
        self.when_full = when_full
        self.full_reason: str | None = None  # why the last record did not fit, while it lasts
        self.blocked_seconds = 0.0
        self._queue: queue.Queue[SpooledRecord] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        # Where the records that are only in the spool begin; None: all are in the queue.
        self._backlog: Position | None = backlog
        self._closed = threading.Event()
        self._carry: SpooledRecord | None = None  # sender thread only

    def accept(self, data: bytes) -> SpooledRecord | None:
        """Reader side: durable first, then queued if there is room; None: refused (full)."""
        blocked_since: float | None = None
        while True:
            try:
                record = self._append(data)
            except SpoolFull as exc:
                self.full_reason = str(exc)
                if self.when_full == "drop_newest" or self._closed.is_set():
                    return None
                blocked_since = blocked_since or time.monotonic()
                self.spool.make_room()
                self._closed.wait(0.05)
                continue
            if blocked_since is not None:
                self.blocked_seconds += time.monotonic() - blocked_since
            self.full_reason = None
            return record

    def _append(self, data: bytes) -> SpooledRecord:
        with self._lock:
            record = self.spool.append(data)
            if self._backlog is None:
                try:
                    self._queue.put_nowait(record)
                except queue.Full:
                    self._backlog = Position(record.segment, record.offset)
            return record

    def close(self) -> None:
        """No more records will be accepted: lets `take` report the end."""
        self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def take(self, max_records: int, max_bytes: int, timeout: float) -> list[SpooledRecord]:
        """Sender side: up to `max_records`/`max_bytes`, oldest first; waits up to `timeout`."""
        records: list[SpooledRecord] = []
        size = 0
        deadline = time.monotonic() + timeout
        while len(records) < max_records:
            record = self._next_queued()
            if record is None:
                if self._backlog is not None:
                    if records:  # send what came from the queue first, keeping the order
                        return records
                    return self._read_backlog(max_records, max_bytes)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self._closed.is_set() and self._queue.empty()):
                    return records
                try:
                    record = self._queue.get(timeout=min(remaining, 0.1))
                except queue.Empty:
                    continue
            if records and size + len(record.data) > max_bytes:
                self._carry = record  # the oldest record not handed out: first next time
                return records
            records.append(record)
            size += len(record.data)
        return records

    def ack(self, records: list[SpooledRecord]) -> None:
        self.spool.ack(records)

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    @property
    def has_backlog(self) -> bool:
        return self._backlog is not None

    def drained(self) -> bool:
        """Nothing left to hand out (records may still be in flight in the sender)."""
        return self._carry is None and self._queue.empty() and self._backlog is None

    def _read_backlog(self, max_records: int, max_bytes: int) -> list[SpooledRecord]:
        with self._lock:
            assert self._backlog is not None
            records, after = self.spool.read(self._backlog, max_records, max_bytes)
            self._backlog = after
            return records

    def _next_queued(self) -> SpooledRecord | None:
        if self._carry is not None:
            record, self._carry = self._carry, None
            return record
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None
