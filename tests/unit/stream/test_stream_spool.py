from __future__ import annotations

import os
from pathlib import Path

import pytest

from tweet_triage.stream.spool import Position, Spool, SpoolError


def _record(n: int, size: int = 0) -> bytes:
    return (f'{{"data":{{"id":"{n}","text":"{"x" * size}"}}}}').encode() + b"\n"


def _pending(spool: Spool, start: Position | None) -> list[bytes]:
    if start is None:
        return []
    records, after = spool.read(start, 10_000, 1 << 30)
    assert after is None
    return [r.data for r in records]


def test_records_survive_a_crash_and_acked_ones_are_not_resent(tmp_path: Path) -> None:
    spool = Spool(tmp_path, fsync_seconds=0)
    assert spool.open() is None
    written = [spool.append(_record(n)) for n in range(5)]
    spool.ack([written[1], written[3]])
    # no close(): as after SIGKILL; the lock goes with the process (closed fd here).
    assert spool._lock_fd is not None
    os.close(spool._lock_fd)

    again = Spool(tmp_path)
    backlog = again.open()
    assert _pending(again, backlog) == [_record(0), _record(2), _record(4)]
    assert again.depth == 3


def test_segment_is_deleted_once_rolled_and_fully_acked(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=100)
    spool.open()
    first = [spool.append(_record(n, 30)) for n in range(3)]  # rolls after the 2nd
    assert len(list(tmp_path.glob("seg-*.jsonl"))) == 2
    spool.ack(first[:2])
    assert len(list(tmp_path.glob("seg-*.jsonl"))) == 1
    assert spool.depth == 1
    spool.ack(first[2:])
    spool.close()
    assert list(tmp_path.glob("seg-*")) == []


def test_close_keeps_unacked_records(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.append(_record(1))
    spool.close()
    again = Spool(tmp_path)
    assert _pending(again, again.open()) == [_record(1)]


def test_torn_last_line_is_reported_not_sent(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.append(_record(1))
    spool.close()
    segment = next(tmp_path.glob("seg-*.jsonl"))
    with segment.open("ab") as handle:
        handle.write(b'{"data":{"id":"2"')
    again = Spool(tmp_path)
    assert _pending(again, again.open()) == [_record(1)]
    assert again.torn == [b'{"data":{"id":"2"']


def test_read_respects_record_and_byte_limits_and_resumes(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=120)
    spool.open()
    for n in range(7):
        spool.append(_record(n, 20))
    seen: list[bytes] = []
    position: Position | None = Position(0, 0)
    while position is not None:
        records, position = spool.read(position, 2, 1 << 20)
        assert len(records) <= 2
        seen += [r.data for r in records]
    assert seen == [_record(n, 20) for n in range(7)]
    records, _ = spool.read(Position(0, 0), 100, len(_record(0, 20)) * 3)
    assert len(records) == 3


def test_second_streamer_on_the_same_spool_is_refused(tmp_path: Path) -> None:
    Spool(tmp_path).open()
    with pytest.raises(SpoolError, match="another streamer"):
        Spool(tmp_path).open()


def test_records_must_be_newline_terminated(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    with pytest.raises(ValueError, match="newline"):
        spool.append(b"{}")
