"""A durable on-disk spool: every received record is on disk before it is queued for sending.

Layout: numbered segment files `seg-<n>.jsonl` (the records, one per line, exactly the bytes
that go to the sink) and beside each an `.acks` file (the byte offsets of the records the sink
accepted). A record is identified by (segment, offset).

Durability policy:
- each record is written with one `write(2)` before it is handed to the sender, so a crash or
  SIGKILL of the process at any moment loses nothing that was received;
- the segment is `fsync`ed at most every `fsync_seconds` (0: after every record), which bounds
  what a power failure or kernel crash can lose to that window;
- acks are appended without fsync: a lost ack only means the record is sent again (a duplicate,
  which the data stage removes by tweet id).

Compaction: a segment is rolled over at `segment_bytes`, and a rolled-over segment whose
records are all acknowledged is deleted with its ack file. At start, segments left by an
earlier run are recovered: their unacknowledged records are the backlog sent first.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tweet_triage.errors import TriageError

log = logging.getLogger(__name__)

SEGMENT_BYTES = 8 * 1024 * 1024


class SpoolError(TriageError):
    """The spool folder cannot be used; the message names it and the fix."""


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    """One record as stored: its place in the spool and its bytes (newline-terminated)."""

    segment: int
    offset: int
    data: bytes


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place in the spool: the next record at or after (segment, offset)."""

    segment: int
    offset: int


@dataclass
class _Segment:
    number: int
    path: Path
    ack_path: Path
    records: int = 0
    acked: int = 0
    size: int = 0
    sealed: bool = False
    # Offsets acknowledged in an earlier run (recovered segments only): skipped when reading.
    preacked: frozenset[int] = field(default_factory=frozenset)

    @property
    def outstanding(self) -> int:
        return self.records - self.acked


class Spool:
    """Append-before-queue, delete-after-ack record storage. Thread-safe."""

    def __init__(
        self, directory: Path, *, fsync_seconds: float = 1.0, segment_bytes: int = SEGMENT_BYTES
    ) -> None:
        self.directory = directory
        self._fsync_seconds = fsync_seconds
        self._segment_bytes = segment_bytes
        self._lock = threading.RLock()
        self._segments: dict[int, _Segment] = {}
        self._fd: int | None = None
        self._active: _Segment | None = None
        self._last_sync = time.monotonic()
        self._unsynced = False
        self._lock_fd: int | None = None
        self.torn: list[bytes] = []  # incomplete last lines of recovered segments

    # --- life cycle -----------------------------------------------------------------------
    def open(self) -> Position | None:
        """Lock the folder, recover earlier segments; return where their backlog starts."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SpoolError(
                f"cannot use spool folder {self.directory}: {exc}; set STREAM_SPOOL_DIR to a "
                "writable folder"
            ) from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise SpoolError(
                f"another streamer is using the spool {self.directory}; stop it first "
                "(tweet-triage local down, or make -f Makefile-stream stream-stop)"
            ) from exc
        for path in sorted(self.directory.glob("seg-*.jsonl")):
            self._recover(path)
        backlog = next((Position(s.number, 0) for s in self._ordered() if s.outstanding > 0), None)
        next_number = max(self._segments, default=0) + 1
        self._start_segment(next_number)
        return backlog

    def close(self) -> None:
        """Sync and close; delete the active segment too when everything was acknowledged."""
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None
            if self._active is not None:
                self._active.sealed = True
                self._delete_if_done(self._active)
                self._active = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    # --- writing --------------------------------------------------------------------------
    def append(self, data: bytes) -> SpooledRecord:
        """Write one newline-terminated record; it survives a SIGKILL once this returns."""
        if not data.endswith(b"\n"):
            raise ValueError("spool records must end with a newline")
        with self._lock:
            segment = self._require_active()
            if segment.size >= self._segment_bytes:
                self._roll()
                segment = self._require_active()
            assert self._fd is not None
            offset = segment.size
            _write_all(self._fd, data)
            segment.size += len(data)
            segment.records += 1
            self._unsynced = True
            self._sync_if_due()
            return SpooledRecord(segment.number, offset, data)

    def sync_if_due(self) -> None:
        """Called periodically by the sender so a quiet stream is still synced on time."""
        with self._lock:
            self._sync_if_due()

    def ack(self, records: Iterable[SpooledRecord]) -> None:
        """Mark records accepted by the sink; delete segments that are done."""
        by_segment: dict[int, list[int]] = {}
        for record in records:
            by_segment.setdefault(record.segment, []).append(record.offset)
        if not by_segment:
            return
        with self._lock:
            for number, offsets in by_segment.items():
                segment = self._segments.get(number)
                if segment is None:
                    continue
                with segment.ack_path.open("a") as acks:
                    acks.write("".join(f"{offset}\n" for offset in offsets))
                segment.acked += len(offsets)
                self._delete_if_done(segment)

    # --- reading the backlog -----------------------------------------------------------------
    def read(
        self, start: Position, max_records: int, max_bytes: int
    ) -> tuple[list[SpooledRecord], Position | None]:
        """Records from `start` on (skipping ones acked in an earlier run).

        Returns the records and the position after them, or None when the end of the spool
        was reached (nothing written after the last record returned).
        """
        records: list[SpooledRecord] = []
        size = 0
        with self._lock:
            for segment in self._ordered():
                if segment.number < start.segment:
                    continue
                offset = start.offset if segment.number == start.segment else 0
                with segment.path.open("rb") as handle:
                    handle.seek(offset)
                    while offset < segment.size:
                        line = handle.readline()
                        if not line.endswith(b"\n"):  # torn tail of a recovered segment
                            break
                        if len(records) >= max_records or (
                            records and size + len(line) > max_bytes
                        ):
                            return records, Position(segment.number, offset)
                        if offset not in segment.preacked:
                            records.append(SpooledRecord(segment.number, offset, line))
                            size += len(line)
                        offset += len(line)
            return records, None

    # --- figures ------------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Records on disk not yet accepted by the sink."""
        with self._lock:
            return sum(s.outstanding for s in self._segments.values())

    @property
    def disk_bytes(self) -> int:
        with self._lock:
            return sum(s.size for s in self._segments.values())

    # --- internals ----------------------------------------------------------------------------
    def _ordered(self) -> list[_Segment]:
        return [self._segments[n] for n in sorted(self._segments)]

    def _require_active(self) -> _Segment:
        if self._active is None:
            raise SpoolError(f"spool {self.directory} is not open")
        return self._active

    def _start_segment(self, number: int) -> None:
        path = self.directory / f"seg-{number:012d}.jsonl"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._active = _Segment(number, path, path.with_suffix(".acks"))
        self._segments[number] = self._active
        _fsync_directory(self.directory)

    def _roll(self) -> None:
        assert self._fd is not None and self._active is not None
        os.fsync(self._fd)
        os.close(self._fd)
        self._unsynced = False
        previous = self._active
        previous.sealed = True
        self._start_segment(previous.number + 1)
        self._delete_if_done(previous)

    def _sync_if_due(self) -> None:
        if (
            self._unsynced
            and self._fd is not None
            and time.monotonic() - self._last_sync >= self._fsync_seconds
        ):
            os.fsync(self._fd)
            self._last_sync = time.monotonic()
            self._unsynced = False

    def _delete_if_done(self, segment: _Segment) -> None:
        if segment.sealed and segment.outstanding <= 0:
            segment.path.unlink(missing_ok=True)
            segment.ack_path.unlink(missing_ok=True)
            self._segments.pop(segment.number, None)

    def _recover(self, path: Path) -> None:
        number = int(path.stem.removeprefix("seg-"))
        ack_path = path.with_suffix(".acks")
        acked: set[int] = set()
        if ack_path.is_file():
            for line in ack_path.read_text().splitlines():
                with contextlib.suppress(ValueError):  # a torn last ack line: resend
                    acked.add(int(line))
        segment = _Segment(number, path, ack_path, sealed=True)
        offsets: set[int] = set()
        with path.open("rb") as handle:
            offset = 0
            for line in handle:
                if not line.endswith(b"\n"):
                    self.torn.append(line)
                    log.warning("spool %s: incomplete last record (%d bytes)", path, len(line))
                    break
                offsets.add(offset)
                offset += len(line)
        segment.size = offset
        segment.records = len(offsets)
        segment.preacked = frozenset(acked & offsets)
        segment.acked = len(segment.preacked)
        self._segments[number] = segment
        if segment.outstanding:
            log.info("spool %s: %d record(s) to re-send", path.name, segment.outstanding)
        self._delete_if_done(segment)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
