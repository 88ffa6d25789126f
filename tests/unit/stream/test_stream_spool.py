from __future__ import annotations

import os
from pathlib import Path

import pytest

from tweet_triage.stream.spool import Position, Spool, SpoolError, SpoolFull


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
    assert len(list(tmp_path.glob("seg-*.seg"))) == 2
    spool.ack(first[:2])
    assert len(list(tmp_path.glob("seg-*.seg"))) == 1
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
    segment = next(tmp_path.glob("seg-*.seg"))
    with segment.open("ab") as handle:
        handle.write(b'0badc0de {"data":{"id":"2"')
    again = Spool(tmp_path)
    assert _pending(again, again.open()) == [_record(1)]
    assert again.take_damaged() == [
        (b'0badc0de {"data":{"id":"2"', "incomplete record in the spool (killed mid-write)")
    ]


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


def _crash(spool: Spool) -> None:
    """Leave the spool as a SIGKILL would: no close(), the lock released with the fd."""
    assert spool._lock_fd is not None
    os.close(spool._lock_fd)


def test_orphan_ack_file_does_not_hide_a_new_segments_records(tmp_path: Path) -> None:
    # A crash between deleting a segment and its .acks leaves the ack file behind; the next
    # segment reuses the number and must not inherit those acks.
    (tmp_path / "seg-000000000001.acks").write_text("0\n")
    spool = Spool(tmp_path, fsync_seconds=0)
    spool.open()
    spool.append(_record(1))
    spool.append(_record(2))
    _crash(spool)
    again = Spool(tmp_path)
    backlog = again.open()
    assert again.depth == 2
    assert _pending(again, backlog) == [_record(1), _record(2)]


def test_acking_a_record_twice_counts_it_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=100)
    spool.open()
    first = [spool.append(_record(n, 30)) for n in range(3)]  # rolls after the 2nd
    spool.ack([first[0]])
    spool.ack([first[0]])  # a re-sent duplicate acked again
    assert spool.depth == 2
    assert len(list(tmp_path.glob("seg-*"))) >= 2, "the first segment still has a record"


def test_a_corrupt_record_is_reported_and_the_others_recovered(tmp_path: Path) -> None:
    spool = Spool(tmp_path, fsync_seconds=0)
    spool.open()
    for n in range(3):
        spool.append(_record(n))
    _crash(spool)
    segment = next(tmp_path.glob("seg-*.seg"))
    raw = bytearray(segment.read_bytes())
    second = raw.index(b'"id":"1"')
    raw[second + 2] ^= 0x01  # one flipped bit inside the second record ("id" -> "hd")
    segment.write_bytes(bytes(raw))
    again = Spool(tmp_path)
    assert _pending(again, again.open()) == [_record(0), _record(2)]
    [(payload, reason)] = again.take_damaged()
    assert "checksum" in reason and b'"id":"0"' not in payload


def test_torn_or_corrupt_ack_lines_resend_their_records(tmp_path: Path) -> None:
    spool = Spool(tmp_path, fsync_seconds=0)
    spool.open()
    written = [spool.append(_record(n, 300)) for n in range(3)]
    spool.ack(written)
    _crash(spool)
    acks = next(tmp_path.glob("seg-*.acks"))
    lines = acks.read_bytes().splitlines(keepends=True)
    flipped = bytearray(lines[1])
    flipped[15] ^= 0x01  # still hex, different offset: the checksum catches it
    acks.write_bytes(lines[0] + bytes(flipped) + lines[2][:10])  # and a torn last line
    again = Spool(tmp_path)
    assert _pending(again, again.open()) == [_record(1, 300), _record(2, 300)]


def test_odd_files_and_unreadable_segments_are_quarantined_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "seg-000000000007.seg").mkdir()  # a segment that cannot be read as a file
    (tmp_path / "seg-1.jsonl").write_text("{}\n")
    spool = Spool(tmp_path)
    assert spool.open() is None
    assert sorted(p.name.rsplit(".", 1)[0] for p in spool.quarantined) == [
        "notes.txt",
        "seg-000000000007.seg",
        "seg-1.jsonl",
    ]
    assert spool.append(_record(1)).segment == 1


def test_the_byte_cap_refuses_records_until_acks_free_space(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=2_000, segment_bytes=500)
    spool.open()
    written = []
    with pytest.raises(SpoolFull):
        for n in range(100):
            written.append(spool.append(_record(n, 100)))
    assert spool.disk_bytes <= 2_000
    spool.ack(written)
    spool.make_room()
    assert spool.append(_record(100, 100)).segment > written[-1].segment
