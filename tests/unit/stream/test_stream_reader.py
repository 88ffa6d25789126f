from __future__ import annotations

import json
from base64 import b64decode
from collections.abc import Iterator
from pathlib import Path

import pytest

from tweet_triage.stream.intake import Intake
from tweet_triage.stream.reader import TweetReader, bounded_lines
from tweet_triage.stream.sinks import MAX_RECORD_BYTES
from tweet_triage.stream.spool import Position, Spool
from tweet_triage.stream.stats import DeadLetters, StreamStats

LINE = (
    b'{"data":{"id":"1460323737035677698","text":"Webb \\u2764 #JWST @NASA https://t.co/x",'
    b'"edit_history_tweet_ids":["1460323737035677698"]},'
    b'"includes":{"users":[{"id":"9","username":"a"}]},'
    b'"matching_rules":[{"id":"1","tag":"jwst-name"}]}'
)


@pytest.fixture
def parts(tmp_path: Path) -> tuple[TweetReader, Spool, StreamStats, Path]:
    spool = Spool(tmp_path / "spool")
    spool.open()
    stats = StreamStats()
    dead = tmp_path / "dead.jsonl"
    reader = TweetReader(
        "token",
        base_url="http://127.0.0.1:9",
        intake=Intake(spool, 100),
        dead_letters=DeadLetters(dead),
        stats=stats,
        stall_seconds=5,
        max_tweets=2,
    )
    return reader, spool, stats, dead


def _stored(spool: Spool) -> list[bytes]:
    return [r.data for r in spool.read(Position(0, 0), 100, 1 << 30)[0]]


def test_a_tweet_is_stored_byte_for_byte_with_a_newline(parts) -> None:
    reader, spool, stats, _ = parts
    reader.on_data(LINE)
    assert _stored(spool) == [LINE + b"\n"]
    assert stats.received == 1


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"data":{"id":"1","text":"cut', "malformed JSON"),
        (b"[1,2]", "not a JSON object"),
        (b'{"includes":{}}', "no 'data' object"),
        (b'{"data":{"id":1}}', "string 'id'"),
        (b"\xff\xfe", "malformed JSON"),
    ],
)
def test_bad_lines_go_to_the_dead_letter_file_and_the_stream_goes_on(
    parts, line: bytes, reason: str
) -> None:
    reader, spool, stats, dead = parts
    reader.on_data(line)
    reader.on_data(LINE)
    assert _stored(spool) == [LINE + b"\n"]
    assert stats.dead_lettered == 1
    entry = json.loads(dead.read_text())
    assert reason in entry["reason"]
    assert entry["bytes"] == len(line)
    kept = entry["payload"].encode() if "payload" in entry else b64decode(entry["payload_base64"])
    assert kept == line


def test_an_oversized_record_is_dead_lettered(parts) -> None:
    reader, spool, stats, dead = parts
    huge = json.dumps({"data": {"id": "5", "text": "x" * MAX_RECORD_BYTES}}).encode()
    reader.on_data(huge)
    assert _stored(spool) == []
    assert stats.dead_lettered == 1
    assert "over Firehose's limit" in json.loads(dead.read_text())["reason"]


def test_a_system_message_is_counted_not_stored(parts) -> None:
    reader, spool, stats, dead = parts
    reader.on_data(b'{"errors":[{"title":"operational-disconnect"}]}')
    assert _stored(spool) == [] and not dead.exists()
    assert stats.stream_messages == 1


def test_max_tweets_disconnects(parts) -> None:
    reader, _, stats, _ = parts
    reader.running = True
    reader.on_data(LINE)
    assert reader.running
    reader.on_data(LINE)
    assert not reader.running
    assert stats.received == 2


def test_unauthorised_stream_is_fatal_not_retried(parts) -> None:
    reader, *_ = parts
    reader.running = True
    reader.on_request_error(401)
    assert not reader.running
    assert "X_BEARER_TOKEN" in str(reader.error)


def test_other_http_errors_are_left_to_tweepy_backoff(parts) -> None:
    reader, _, stats, _ = parts
    reader.running = True
    reader.on_request_error(503)
    assert reader.running and reader.error is None
    assert stats.http_errors == {"503": 1}


class _ChunkedResponse:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        yield from self.chunks


def test_a_line_without_newline_is_cut_off_without_being_held() -> None:
    oversized: list[tuple[bytes, int]] = []
    huge = [b"x" * 4096] * 256  # 1 MiB without a newline, then one
    chunks = [b'{"a":1}\r\n\r\n{"b"', b":2}\r\n", *huge, b"y\r\n", b'{"c":3}\r\n', b'{"d"']
    lines = list(
        bounded_lines(
            _ChunkedResponse(chunks),  # type: ignore[arg-type]
            64 * 1024,
            lambda head, size: oversized.append((head, size)),
        )
    )
    assert lines == [b'{"a":1}', b"", b'{"b":2}', b'{"c":3}', b'{"d"']
    assert oversized == [(b"x" * 1024, 4096 * 256 + 2)]


def test_a_full_spool_with_drop_newest_counts_the_tweet_and_notes_its_id(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=64 * 1024)
    spool.open()
    stats = StreamStats()
    dead = DeadLetters(tmp_path / "dead.jsonl")
    reader = TweetReader(
        "token",
        base_url="http://127.0.0.1:9",
        intake=Intake(spool, 100, when_full="drop_newest"),
        dead_letters=dead,
        stats=stats,
        stall_seconds=5,
    )
    for n in range(500):
        reader.on_data(LINE.replace(b"1460323737035677698", str(n).encode()))
    assert stats.received + stats.dropped == 500 and stats.dropped > 0
    assert spool.disk_bytes <= 64 * 1024
    entries = [json.loads(line) for line in dead.path.read_text().splitlines()]
    assert [e["tweet_id"] for e in entries] == [str(n) for n in range(stats.received, 500)]
    assert "cap" in entries[0]["reason"] and "payload" not in entries[0]
