"""Issue 13's fault matrix, the streamer's rows: nothing lost, nothing hung.

Each row runs `tweet-triage stream run` as a service runs it (a subprocess) against the X
stand-in and Firehose on moto server, with the fault injected on loopback, and checks by
reading S3 that every tweet the stand-in sent arrived (after de-duplication by tweet id), or,
where the row's policy says a tweet cannot be delivered, that it is in the dead-letter file
and counted: nothing silently lost. Each row ends with SIGTERM and a bound on the exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tweet_triage_local.xapi.standin as xapi_standin
from tests.integration import test_streamer_reliability as reliability
from tests.integration.test_streamer_reliability import (
    FirehoseProxy,
    _start_cli,
    _stats,
    delivered_ids,
    wait_until,
)
from tweet_triage.cloud.plan import StackNames
from tweet_triage.config import Settings
from tweet_triage_local.xapi.server import StandIn

# The moto stack and the in-process X stand-in of the reliability tests.
stack = reliability.stack
x_standin = reliability.x_standin

pytestmark = pytest.mark.integration

STOP_BOUND_SECONDS = 20  # SIGTERM to exit, with Firehose answering


class Faults(FirehoseProxy):
    """FirehoseProxy plus: refuse connections outright, or refuse records for good."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.unreachable = False
        self.poison: Callable[[str], bool] | None = None  # tweet id -> refuse its batch
        self.rejected_calls = 0
        handler = self._server.RequestHandlerClass
        forward = handler._forward  # type: ignore[attr-defined]
        proxy = self

        def guarded(request: Any) -> None:
            if proxy.unreachable:
                request.close_connection = True
                with contextlib.suppress(OSError):
                    request.connection.shutdown(socket.SHUT_RDWR)
                return
            if proxy.poison is not None and request.headers.get("X-Amz-Target", "").endswith(
                ".PutRecordBatch"
            ):
                length = int(request.headers.get("Content-Length", 0))
                body = request.rfile.read(length)
                ids = [_id_of(record["Data"]) for record in json.loads(body)["Records"]]
                if any(proxy.poison(i) for i in ids if i):
                    proxy.rejected_calls += 1
                    reply = b'{"__type":"ValidationException","message":"injected: bad record"}'
                    request.send_response(400)
                    request.send_header("Content-Type", "application/x-amz-json-1.1")
                    request.send_header("Content-Length", str(len(reply)))
                    request.end_headers()
                    request.wfile.write(reply)
                    return
                request.rfile = _Replay(body, request.rfile)
            forward(request)

        handler.do_POST = guarded  # type: ignore[attr-defined]


class _Replay:
    """A request body already read, served again to the forwarding handler."""

    def __init__(self, body: bytes, rest: Any) -> None:
        self._body, self._rest = body, rest

    def read(self, size: int = -1) -> bytes:
        body, self._body = self._body, b""
        return body


def _id_of(data_b64: str) -> str | None:
    import base64

    with contextlib.suppress(ValueError, KeyError):
        return str(json.loads(base64.b64decode(data_b64))["data"]["id"])
    return None


@pytest.fixture
def firehose(stack: Settings) -> Iterator[Faults]:
    proxy = Faults(stack.aws_endpoint_url or "")
    yield proxy
    proxy.close()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def start(
    stack: Settings,
    firehose: Faults,
    processes: list[subprocess.Popen[bytes]],
    log: Path,
    **env: str,
) -> subprocess.Popen[bytes]:
    process = _start_cli(stack, log, "--yes", AWS_ENDPOINT_URL=firehose.url, **env)
    processes.append(process)
    return process


def sigterm_exits_in_bound(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(STOP_BOUND_SECONDS)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"no exit {STOP_BOUND_SECONDS} s after SIGTERM; log: {log}") from None
    assert code == 0, log.read_text()[-3000:]


def sent_ids(standin: StandIn) -> list[str]:
    return list(standin.stats_json()["ids_sent"])


def received_all(stack: Settings, standin: StandIn) -> Callable[[], bool]:
    def done() -> bool:
        sent = standin.stats_json(include_ids=False)
        return bool(sent["exhausted"]) and _stats(stack).get("received") == sent["tweets_sent"]

    return done


def dead_letters(stack: Settings) -> list[dict[str, Any]]:
    path = stack.stream_paths.dead_letter_path
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def spool_dir(stack: Settings) -> Path:
    return stack.stream_paths.spool_dir / f"firehose-{StackNames(stack.stack_name).delivery_stream}"


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)


# --- the rows ------------------------------------------------------------------------------
def test_orphan_ack_file(
    stack: Settings, x_standin: Callable[..., StandIn], firehose: Faults, processes, tmp_path
) -> None:
    digits = b"%016x" % 0
    spool_dir(stack).mkdir(parents=True)
    (spool_dir(stack) / "seg-000000000001.acks").write_bytes(
        digits + b" %08x\n" % zlib.crc32(digits)  # "offset 0 was accepted", left by a crash
    )
    standin = x_standin(500)
    firehose.failing = True
    log = tmp_path / "streamer.log"
    first = start(stack, firehose, processes, log)
    wait_until(received_all(stack, standin), 60, f"every tweet spooled ({log})")
    kill(first)
    firehose.failing = False
    second = start(stack, firehose, processes, log)
    wait_until(lambda: set(delivered_ids(stack)) >= set(sent_ids(standin)), 60, "delivery")
    sigterm_exits_in_bound(second, log)
    assert set(delivered_ids(stack)) == set(sent_ids(standin))


class HangingXProxy:
    """TCP proxy to the stand-in that swallows the first `hang` stream requests: it accepts
    them and never answers (X hung), while every other request passes through."""

    def __init__(self, upstream_port: int, hang: int) -> None:
        self.hang_left, self.hung = hang, 0
        self._upstream = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._sockets: list[socket.socket] = [self._listener]
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self._upstream))
                self._sockets += [client, upstream]
                threading.Thread(
                    target=self._pump, args=(client, upstream, True), daemon=True
                ).start()
                threading.Thread(
                    target=self._pump, args=(upstream, client, False), daemon=True
                ).start()

    def _pump(self, source: socket.socket, target: socket.socket, inspect: bool) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                if inspect and b"/2/tweets/search/stream?" in chunk and self.hang_left > 0:
                    self.hang_left -= 1
                    self.hung += 1
                    return  # never forwarded: the client waits for an answer that never comes
                target.sendall(chunk)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()


def test_hung_x_endpoint(
    stack: Settings, x_standin: Callable[..., StandIn], firehose: Faults, processes, tmp_path
) -> None:
    standin = x_standin(500)
    proxy = HangingXProxy(int(os.environ["X_API_BASE_URL"].rsplit(":", 1)[1]), hang=2)
    log = tmp_path / "streamer.log"
    try:
        process = start(stack, firehose, processes, log, X_API_BASE_URL=proxy.url)
        wait_until(received_all(stack, standin), 60, f"every tweet after the hangs ({log})")
        wait_until(lambda: set(delivered_ids(stack)) >= set(sent_ids(standin)), 60, "delivery")
        sigterm_exits_in_bound(process, log)
    finally:
        proxy.close()
    assert proxy.hung == 2
    assert _stats(stack)["connection_errors"] >= 2  # each hang ended by the read timeout
    assert set(delivered_ids(stack)) == set(sent_ids(standin))


def test_corrupt_spool_segment_and_ack_file(
    stack: Settings, x_standin: Callable[..., StandIn], firehose: Faults, processes, tmp_path
) -> None:
    standin = x_standin(500)
    firehose.failing = True
    log = tmp_path / "streamer.log"
    first = start(stack, firehose, processes, log)
    wait_until(received_all(stack, standin), 60, f"every tweet spooled ({log})")
    kill(first)
    [segment] = sorted(spool_dir(stack).glob("seg-*.seg"))
    raw = bytearray(segment.read_bytes())
    victim = sent_ids(standin)[123]
    line_start = raw.rindex(b"\n", 0, raw.index(f'"id":"{victim}"'.encode())) + 1
    text = raw.index(b'"text":"', line_start) + len(b'"text":"')
    letter = next(i for i in range(text, len(raw)) if chr(raw[i]).isalpha() and raw[i] < 128)
    raw[letter] ^= 0x20  # a flipped bit in the tweet's text: another case, still valid JSON
    segment.write_bytes(bytes(raw))
    segment.with_suffix(".acks").write_bytes(b"12\n\x00\xffgarbage\n")  # torn, undecodable
    (spool_dir(stack) / "seg-2.jsonl").write_text("odd file\n")
    firehose.failing = False
    second = start(stack, firehose, processes, log)
    expected = set(sent_ids(standin)) - {victim}
    wait_until(lambda: set(delivered_ids(stack)) >= expected, 60, f"delivery ({log})")
    sigterm_exits_in_bound(second, log)
    [entry] = dead_letters(stack)
    assert "checksum" in entry["reason"] and f'"id":"{victim}"' in entry["payload"]
    assert set(delivered_ids(stack)) == expected  # the damaged copy was never sent as is
    assert [p.name.split(".")[0] for p in (spool_dir(stack) / "quarantine").iterdir()] == ["seg-2"]


@pytest.mark.parametrize("when_full", ["block", "drop_newest"])
def test_firehose_paused_longer_than_the_spool_cap_allows(
    stack: Settings,
    x_standin: Callable[..., StandIn],
    firehose: Faults,
    processes,
    tmp_path: Path,
    when_full: str,
) -> None:
    cap = 128 * 1024
    standin = x_standin(1_500)  # about 3 times the cap
    firehose.failing = True
    log = tmp_path / "streamer.log"
    process = start(
        stack, firehose, processes, log,
        STREAM_SPOOL_MAX_BYTES=str(cap), STREAM_SPOOL_WHEN_FULL=when_full,
    )  # fmt: skip
    wait_until(lambda: bool(_stats(stack).get("spool_full")), 60, f"a full spool ({log})")
    spooled = sum(p.stat().st_size for p in spool_dir(stack).iterdir() if p.is_file())
    assert spooled <= cap
    if when_full == "drop_newest":
        wait_until(
            lambda: (
                standin.stats_json(False)["exhausted"]
                and _stats(stack).get("received", 0) + _stats(stack).get("dropped", 0)
                == standin.stats_json(False)["tweets_sent"]
            ),
            60,
            "every tweet received or dropped",
        )
    else:
        assert _stats(stack)["received"] < 1_500 // 2  # the reader waits for space
    firehose.failing = False
    if when_full == "block":
        wait_until(received_all(stack, standin), 60, f"the rest, Firehose back ({log})")
    received = _stats(stack)["received"]
    wait_until(lambda: len(set(delivered_ids(stack))) >= received, 60, "delivery")
    sigterm_exits_in_bound(process, log)
    stats, sent = _stats(stack), set(sent_ids(standin))
    dropped = {e["tweet_id"] for e in dead_letters(stack) if e["reason"].startswith("not spooled")}
    assert set(delivered_ids(stack)) | dropped == sent
    assert len(dropped) == stats["dropped"]
    if when_full == "block":
        assert stats["dropped"] == 0 and stats["spool_blocked_seconds"] > 0
    else:
        assert stats["dropped"] > 0 and not set(delivered_ids(stack)) & dropped


def test_a_record_firehose_refuses_for_good(
    stack: Settings, x_standin: Callable[..., StandIn], firehose: Faults, processes, tmp_path
) -> None:
    standin = x_standin(1_000)
    firehose.poison = lambda tweet_id: tweet_id.endswith("77")  # about one in a hundred
    log = tmp_path / "streamer.log"
    process = start(stack, firehose, processes, log)
    wait_until(received_all(stack, standin), 60, f"every tweet ({log})")
    sent = set(sent_ids(standin))
    poisoned = {i for i in sent if i.endswith("77")}
    wait_until(
        lambda: (
            set(delivered_ids(stack)) >= sent - poisoned
            and len(dead_letters(stack)) >= len(poisoned)
        ),
        90,
        f"delivery and dead letters ({log})",
    )
    sigterm_exits_in_bound(process, log)
    refused = {json.loads(e["payload"])["data"]["id"] for e in dead_letters(stack)}
    assert refused == poisoned and poisoned
    assert set(delivered_ids(stack)) == sent - poisoned
    assert _stats(stack)["rejected"] == len(poisoned) and firehose.rejected_calls > 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs (root only; elsewhere the row is skipped, with the reason)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {result.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_disk_full_on_the_spool(
    stack: Settings,
    x_standin: Callable[..., StandIn],
    firehose: Faults,
    processes,
    tmp_path: Path,
    small_disk: Path,
) -> None:
    standin = x_standin(2_500)  # well over 512 KiB
    firehose.failing = True
    log = tmp_path / "streamer.log"
    process = start(stack, firehose, processes, log, STREAM_SPOOL_DIR=str(small_disk))
    wait_until(lambda: "full" in str(_stats(stack).get("spool_full")), 60, f"a full disk ({log})")
    assert any("free" in alert for alert in _stats(stack)["alerts"])
    firehose.failing = False
    wait_until(received_all(stack, standin), 60, f"the rest after Firehose returned ({log})")
    wait_until(lambda: set(delivered_ids(stack)) >= set(sent_ids(standin)), 60, "delivery")
    sigterm_exits_in_bound(process, log)
    assert set(delivered_ids(stack)) == set(sent_ids(standin))
    assert _stats(stack)["dropped"] == 0 and dead_letters(stack) == []


def test_firehose_unreachable_at_start(
    stack: Settings, x_standin: Callable[..., StandIn], firehose: Faults, processes, tmp_path
) -> None:
    standin = x_standin(500)
    firehose.unreachable = True
    log = tmp_path / "streamer.log"
    process = start(stack, firehose, processes, log)
    wait_until(received_all(stack, standin), 60, f"reading and spooling meanwhile ({log})")
    assert delivered_ids(stack) == [] and process.poll() is None
    firehose.unreachable = False
    wait_until(lambda: set(delivered_ids(stack)) >= set(sent_ids(standin)), 60, "delivery")
    sigterm_exits_in_bound(process, log)
    assert set(delivered_ids(stack)) == set(sent_ids(standin))
    assert "reading and spooling anyway" in log.read_text()


def _peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_a_50_mb_stream_line_without_newline(
    stack: Settings,
    x_standin: Callable[..., StandIn],
    firehose: Faults,
    processes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(xapi_standin, "MALFORMED_LINE", b'{"data":{"text":"' + b"x" * 50 * 2**20)
    standin = x_standin(600, rate=200)
    log = tmp_path / "streamer.log"
    process = start(stack, firehose, processes, log)
    wait_until(lambda: _stats(stack).get("received", 0) >= 100, 60, f"tweets ({log})")
    before = _peak_rss_bytes(process.pid)
    standin.set_faults({"malformed_after": 1})
    wait_until(received_all(stack, standin), 60, f"every tweet after the long line ({log})")
    grown = _peak_rss_bytes(process.pid) - before
    wait_until(lambda: set(delivered_ids(stack)) >= set(sent_ids(standin)), 60, "delivery")
    sigterm_exits_in_bound(process, log)
    assert grown < 20 * 2**20, f"peak memory grew {grown / 2**20:.0f} MiB for a 50 MiB line"
    [entry] = dead_letters(stack)
    assert entry["reason"].startswith(f"stream line of {17 + 50 * 2**20 + 1} bytes")
    assert set(delivered_ids(stack)) == set(sent_ids(standin))


def _spooled_ids(stack: Settings) -> set[str]:
    ids: set[str] = set()
    for segment in spool_dir(stack).glob("seg-*.seg"):
        for line in segment.read_bytes().splitlines():
            with contextlib.suppress(ValueError, KeyError):
                ids.add(json.loads(line[9:])["data"]["id"])
    return ids


@pytest.mark.slow
def test_sigkill_at_random_points_over_20_runs(
    stack: Settings, x_standin: Callable[..., StandIn], firehose: Faults, processes, tmp_path
) -> None:
    standin = x_standin(20_000, rate=400)
    log = tmp_path / "streamer.log"
    spooled: set[str] = set()
    chance = random.Random(13)
    for run in range(20):
        firehose.failing = run % 2 == 1  # every other run with Firehose down
        process = start(stack, firehose, processes, log)
        if run % 4 == 0:  # a kill somewhere in start-up (imports, spool recovery, rule sync)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(chance.uniform(0.2, 2.0))
        else:  # a kill while streaming
            wait_until(
                lambda: (
                    _stats(stack).get("pid") == process.pid  # noqa: B023 - this run's
                    and _stats(stack).get("state") == "running"
                ),
                60,
                f"run {run} streaming ({log})",
            )
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(chance.uniform(0.0, 1.5))
        assert process.poll() is None, log.read_text()[-3000:]
        kill(process)
        spooled |= _spooled_ids(stack)  # received before the kill: must all arrive
    firehose.failing = False
    last = start(stack, firehose, processes, log)
    wait_until(lambda: set(delivered_ids(stack)) >= spooled, 60, f"delivery ({log})")
    wait_until(lambda: _stats(stack).get("spool_depth") == 0, 60, "an empty spool")
    sigterm_exits_in_bound(last, log)
    delivered = set(delivered_ids(stack))
    assert spooled and delivered >= spooled
    assert delivered <= set(sent_ids(standin))
    assert not (spool_dir(stack) / "quarantine").exists()
