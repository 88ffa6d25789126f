"""A durable, bounded, checksummed on-disk spool: every received record is on disk first.

Layout: numbered segment files `seg-<n>.seg` and beside each an `.acks` file.

- A segment holds framed records, one per line: `<crc32 of the record, 8 hex digits> <record>`,
  where the record is exactly the bytes that go to the sink (newline-terminated). A record
  whose checksum does not match (a flipped bit, a torn write) is never sent as is: it is
  reported (`take_damaged()`, the streamer dead-letters it) and skipped.
- An `.acks` file holds the byte offsets of the records the sink accepted, one fixed-width
  line each: `<offset, 16 hex digits> <crc32 of those digits, 8 hex digits>`. A torn or
  corrupt ack line is ignored, which only means that record is sent again (a duplicate the
  data stage removes by tweet id), never that one is skipped.

Durability: each record is written with one `write(2)` before it is handed to the sender, so a
crash or SIGKILL loses nothing received; the segment is `fsync`ed at most every
`fsync_seconds` (0: after every record), which bounds what a power failure can lose. A write
that fails (disk full) is cut back off the segment, so the next record starts clean.

Bounded: `append` raises `SpoolFull` when the spool would grow past `max_bytes` or the disk is
full; the caller applies its policy (wait, or drop the newest record and count it).

Compaction: a segment rolls at `segment_bytes`; a rolled segment whose records are all
acknowledged is deleted, its ack file first (a crash in between leaves a segment without
acks: its records are sent again, never lost). Ack files without a segment are removed at
start and a new segment always starts with no ack file. Anything else found in the folder at
start (a file that is not a segment, a segment that cannot be read) is moved to
`quarantine/` with a warning instead of stopping the streamer.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import shutil
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tweet_triage.errors import TriageError

log = logging.getLogger(__name__)

SEGMENT_BYTES = 8 * 1024 * 1024
MIN_SEGMENT_BYTES = 64 * 1024
SEGMENT_SUFFIX = ".seg"
ACK_SUFFIX = ".acks"
QUARANTINE = "quarantine"
_SEGMENT_NAME = re.compile(r"^seg-(\d{12})\.(seg|acks)$")
_HEADER_BYTES = 9  # 8 hex digits and a space
_ACK_LINE_BYTES = 26  # 16 + 1 + 8 + newline
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
TORN = "incomplete record in the spool (killed mid-write)"


class SpoolError(TriageError):
    """The spool folder cannot be used; the message names it and the fix."""


class SpoolFull(Exception):
    """The record does not fit: the spool is at its byte cap or the disk is full."""


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
    size: int = 0
    sealed: bool = False
    # Offsets of records that need no sending: accepted by the sink (now or in an earlier
    # run), or damaged. A set, so an offset acknowledged twice counts once.
    done: set[int] = field(default_factory=set)

    @property
    def outstanding(self) -> int:
        return self.records - len(self.done)


def frame(data: bytes) -> bytes:
    """The bytes a record takes in a segment: checksum, space, record."""
    return b"%08x " % zlib.crc32(data) + data


def unframe(line: bytes) -> bytes | None:
    """The record in a segment line, or None when its checksum does not match."""
    if len(line) <= _HEADER_BYTES or line[8:9] != b" " or not line.endswith(b"\n"):
        return None
    try:
        expected = int(line[:8], 16)
    except ValueError:
        return None
    data = line[_HEADER_BYTES:]
    return data if zlib.crc32(data) == expected else None


def _ack_line(offset: int) -> bytes:
    digits = b"%016x" % offset
    return digits + b" %08x\n" % zlib.crc32(digits)


def _parse_ack_line(line: bytes) -> int | None:
    if len(line) != _ACK_LINE_BYTES - 1 or line[16:17] != b" ":
        return None
    try:
        offset, checksum = int(line[:16], 16), int(line[17:], 16)
    except ValueError:
        return None
    return offset if zlib.crc32(line[:16]) == checksum else None


class Spool:
    """Append-before-queue, delete-after-ack record storage. Thread-safe."""

    def __init__(
        self,
        directory: Path,
        *,
        fsync_seconds: float = 1.0,
        segment_bytes: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._fsync_seconds = fsync_seconds
        if segment_bytes is None:
            segment_bytes = SEGMENT_BYTES
            if max_bytes is not None:  # at least ~16 segments under the cap, so it can compact
                segment_bytes = max(MIN_SEGMENT_BYTES, min(SEGMENT_BYTES, max_bytes // 16))
        self._segment_bytes = segment_bytes
        self._lock = threading.RLock()
        self._segments: dict[int, _Segment] = {}
        self._fd: int | None = None
        self._active: _Segment | None = None
        self._last_sync = time.monotonic()
        self._unsynced = False
        self._lock_fd: int | None = None
        self._ack_write_failed = False
        self._damaged: list[tuple[bytes, str]] = []
        self.quarantined: list[Path] = []  # files moved aside at start

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
        self._scan()
        backlog = next((Position(s.number, 0) for s in self._ordered() if s.outstanding > 0), None)
        next_number = max(self._segments, default=0) + 1
        try:
            self._start_segment(next_number)
        except SpoolFull as exc:
            raise SpoolError(
                f"cannot start a spool segment in {self.directory}: {exc}; free disk space "
                "or point STREAM_SPOOL_DIR at a larger disk"
            ) from exc
        return backlog

    def close(self) -> None:
        """Sync and close; delete the active segment too when everything was acknowledged."""
        with self._lock:
            if self._fd is not None:
                self._fsync(self._fd)
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
        """Write one newline-terminated record; it survives a SIGKILL once this returns.

        Raises SpoolFull (nothing written) when it would pass the cap or the disk is full.
        """
        if not data.endswith(b"\n"):
            raise ValueError("spool records must end with a newline")
        framed = frame(data)
        with self._lock:
            segment = self._require_active()
            if self.max_bytes is not None and self._disk_bytes() + len(framed) > self.max_bytes:
                raise SpoolFull(f"the spool holds {self._disk_bytes()} bytes, its cap")
            if segment.size >= self._segment_bytes:
                self._roll()
                segment = self._require_active()
            assert self._fd is not None
            offset = segment.size
            try:
                _write_all(self._fd, framed)
            except OSError as exc:
                os.ftruncate(self._fd, offset)  # no torn record in front of the next one
                if exc.errno in _DISK_FULL:
                    raise SpoolFull(f"the disk of {self.directory} is full ({exc})") from exc
                raise
            segment.size += len(framed)
            segment.records += 1
            self._unsynced = True
            self._sync_if_due()
            return SpooledRecord(segment.number, offset, data)

    def make_room(self) -> None:
        """When full: seal the active segment if all its records were accepted, deleting it."""
        with self._lock:
            active = self._active
            if active is not None and active.records and active.outstanding == 0:
                with contextlib.suppress(SpoolFull):  # then it stays active, nothing to send
                    self._roll()

    def sync_if_due(self) -> None:
        """Called periodically by the sender so a quiet stream is still synced on time."""
        with self._lock:
            self._sync_if_due()

    def ack(self, records: Iterable[SpooledRecord]) -> None:
        """Mark records accepted by the sink (again is harmless); delete segments that are done."""
        by_segment: dict[int, list[int]] = {}
        for record in records:
            by_segment.setdefault(record.segment, []).append(record.offset)
        with self._lock:
            for number, offsets in by_segment.items():
                segment = self._segments.get(number)
                if segment is None:
                    continue
                new = [offset for offset in offsets if offset not in segment.done]
                if not new:
                    continue
                segment.done.update(new)
                self._write_acks(segment, new)
                self._delete_if_done(segment)

    # --- reading the backlog -----------------------------------------------------------------
    def read(
        self, start: Position, max_records: int, max_bytes: int
    ) -> tuple[list[SpooledRecord], Position | None]:
        """Records from `start` on that still need sending.

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
                        data = None if offset in segment.done else unframe(line)
                        full = len(records) >= max_records or (
                            records and data is not None and size + len(data) > max_bytes
                        )
                        if data is not None and full:
                            return records, Position(segment.number, offset)
                        if data is not None:
                            records.append(SpooledRecord(segment.number, offset, data))
                            size += len(data)
                        elif offset not in segment.done:  # damaged on disk since written
                            self._mark_damaged(segment, offset, line)
                        offset += len(line)
            return records, None

    def take_damaged(self) -> list[tuple[bytes, str]]:
        """Records that failed their checksum or were torn, with the reason (once each)."""
        with self._lock:
            damaged, self._damaged = self._damaged, []
            return damaged

    # --- figures ------------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Records on disk not yet accepted by the sink."""
        with self._lock:
            return sum(s.outstanding for s in self._segments.values())

    @property
    def disk_bytes(self) -> int:
        """Bytes the spool takes on disk (segments and ack files)."""
        with self._lock:
            return self._disk_bytes()

    def disk_free_bytes(self) -> int | None:
        try:
            return shutil.disk_usage(self.directory).free
        except OSError:
            return None

    # --- internals ----------------------------------------------------------------------------
    def _disk_bytes(self) -> int:
        return sum(s.size + _ACK_LINE_BYTES * len(s.done) for s in self._segments.values())

    def _ordered(self) -> list[_Segment]:
        return [self._segments[n] for n in sorted(self._segments)]

    def _require_active(self) -> _Segment:
        if self._active is None:
            raise SpoolError(f"spool {self.directory} is not open")
        return self._active

    def _start_segment(self, number: int) -> None:
        path = self.directory / f"seg-{number:012d}{SEGMENT_SUFFIX}"
        ack_path = path.with_suffix(ACK_SUFFIX)
        try:
            ack_path.unlink(missing_ok=True)  # a new segment starts with no acknowledgements
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
            _fsync_directory(self.directory)
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                raise SpoolFull(f"the disk of {self.directory} is full ({exc})") from exc
            raise
        self._fd = fd
        self._active = _Segment(number, path, ack_path)
        self._segments[number] = self._active

    def _roll(self) -> None:
        assert self._fd is not None and self._active is not None
        previous, previous_fd = self._active, self._fd
        self._start_segment(previous.number + 1)
        self._fsync(previous_fd)
        os.close(previous_fd)
        self._unsynced = False
        previous.sealed = True
        self._delete_if_done(previous)

    def _sync_if_due(self) -> None:
        if (
            self._unsynced
            and self._fd is not None
            and time.monotonic() - self._last_sync >= self._fsync_seconds
        ):
            self._fsync(self._fd)
            self._last_sync = time.monotonic()
            self._unsynced = False

    def _fsync(self, fd: int) -> None:
        try:
            os.fsync(fd)
        except OSError as exc:  # the data is in the page cache; a crash can still keep it
            log.warning("spool %s: fsync failed: %s", self.directory, exc)

    def _write_acks(self, segment: _Segment, offsets: list[int]) -> None:
        try:
            with segment.ack_path.open("ab") as acks:
                acks.write(b"".join(_ack_line(offset) for offset in offsets))
        except OSError as exc:  # the sink has the records; a lost ack only means a duplicate
            if not self._ack_write_failed:
                log.warning("spool %s: cannot record acks (%s)", segment.ack_path, exc)
            self._ack_write_failed = True
        else:
            self._ack_write_failed = False

    def _delete_if_done(self, segment: _Segment) -> None:
        if segment.sealed and segment.outstanding <= 0:
            segment.ack_path.unlink(missing_ok=True)  # first: never acks without a segment
            segment.path.unlink(missing_ok=True)
            self._segments.pop(segment.number, None)

    def _mark_damaged(self, segment: _Segment, offset: int, line: bytes) -> None:
        segment.done.add(offset)
        reason = f"spool record failed its checksum ({segment.path.name} at byte {offset})"
        self._damaged.append((line[_HEADER_BYTES:] if len(line) > _HEADER_BYTES else line, reason))
        log.error("%s; dead-lettered", reason)

    def _scan(self) -> None:
        """Recover segments; drop orphan ack files; move anything unexpected to quarantine."""
        names = sorted(p.name for p in self.directory.iterdir())
        segments = {n for n in names if n.endswith(SEGMENT_SUFFIX) and _SEGMENT_NAME.match(n)}
        for name in names:
            path = self.directory / name
            match = _SEGMENT_NAME.match(name)
            if name in (".lock", QUARANTINE):
                continue
            if match and match.group(2) == "acks":
                if name.removesuffix(ACK_SUFFIX) + SEGMENT_SUFFIX not in segments:
                    log.warning("spool %s: removing ack file without a segment", path)
                    path.unlink(missing_ok=True)
                continue
            if match:
                try:
                    self._recover(path, int(match.group(1)))
                    continue
                except OSError as exc:
                    log.error("spool %s cannot be read (%s)", path, exc)
            self._quarantine(path)
            if match:
                self._quarantine(path.with_suffix(ACK_SUFFIX))

    def _quarantine(self, path: Path) -> None:
        if not path.exists():
            return
        target_dir = self.directory / QUARANTINE
        target_dir.mkdir(exist_ok=True)
        target = target_dir / f"{path.name}.{int(time.time())}"
        os.replace(path, target)
        self.quarantined.append(target)
        log.error(
            "spool: moved %s to %s (not a spool file, or unreadable); nothing in it is sent. "
            "Inspect it, then delete it",
            path.name,
            target,
        )

    def _recover(self, path: Path, number: int) -> None:
        ack_path = path.with_suffix(ACK_SUFFIX)
        acked: set[int] = set()
        if ack_path.is_file():
            bad_lines = 0
            for line in ack_path.read_bytes().splitlines():
                offset = _parse_ack_line(line)
                if offset is None:
                    bad_lines += 1
                else:
                    acked.add(offset)
            if bad_lines:
                log.warning(
                    "spool %s: %d unreadable ack line(s) ignored (their records are sent again)",
                    ack_path.name,
                    bad_lines,
                )
        segment = _Segment(number, path, ack_path, sealed=True)
        offset = 0
        with path.open("rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    segment.size = offset
                    self._damaged.append((line, TORN))
                    log.warning("spool %s: incomplete last record (%d bytes)", path, len(line))
                    break
                segment.records += 1
                if offset in acked:
                    segment.done.add(offset)
                elif unframe(line) is None:
                    self._mark_damaged(segment, offset, line)
                offset += len(line)
        segment.size = offset
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
