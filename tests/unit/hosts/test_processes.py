"""The process manager (tweet_triage.hosts.processes): a taken port is refused, the listener
must be ours, and a pid file never leads to signalling a process it was not written for. Real
processes and sockets on loopback."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tweet_triage.hosts.processes import Service, ServiceError, free_port, listening_pids, pid_alive


class _Answer200(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"meta": {}}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def bystander() -> Iterator[int]:
    """Another HTTP server holding a port, answering 200 to everything."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer200)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def test_aws_up_on_a_taken_port_is_one_error_line_and_exit_2(
    bystander: int, tmp_path: Path
) -> None:
    # Not "answering" and exit 0 while talking to the other server.
    result = subprocess.run(
        [sys.executable, "-m", "tweet_triage", "local", "aws-up", "--port", str(bystander)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TT_STATE_DIR": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: moto: port {bystander} on 127.0.0.1 is already in use")
    assert f"pid {os.getpid()}" in line and "--port" in line
    assert not (tmp_path / "moto.pid").exists() and not (tmp_path / "local-aws.env").exists()


def test_xapi_up_on_a_taken_port_is_refused(bystander: int, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tweet_triage", "local", "xapi-up", "--port", str(bystander)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TT_STATE_DIR": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "already in use" in result.stderr and "Traceback" not in result.stderr


def test_a_ready_port_answered_by_someone_else_is_refused(bystander: int, tmp_path: Path) -> None:
    service = Service("probe", tmp_path)
    with pytest.raises(ServiceError, match=r"port \d+ answers, but from pid"):
        service._check_listener(os.getpid() + 10_000_000, bystander)
    assert listening_pids(bystander) == {os.getpid()}


def test_a_service_listening_on_its_port_starts(tmp_path: Path) -> None:
    port = free_port()
    service = Service("http", tmp_path)
    pid = service.start(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        ready=lambda: bool(listening_pids(port)),
        port=port,
    )
    try:
        assert listening_pids(port) == {pid}
        assert service.pid() == pid
    finally:
        assert service.stop().startswith("http: stopped")


def test_stop_never_signals_a_process_the_pid_file_was_not_written_for(
    sleeper: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    # A stale pid file whose pid the kernel reused names an unrelated process.
    service = Service("stale", tmp_path)
    service.pid_file.write_text(f"{sleeper.pid} 1\n")  # another start time
    assert service.stop() == "stale: not running"
    assert pid_alive(sleeper.pid) and not service.pid_file.exists()

    service.pid_file.write_text(f"{sleeper.pid}\n")  # an older pid file without start time
    hour_ago = time.time() - 3600
    os.utime(service.pid_file, (hour_ago, hour_ago))  # written before the process started
    assert service.stop() == "stale: not running"
    assert pid_alive(sleeper.pid)
