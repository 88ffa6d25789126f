"""The no-systemd supervisor with real processes: one instance, clean stop, restarts, kill."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tweet_triage.hosts.processes import Service, ServiceError, pid_alive
from tweet_triage.hosts.supervisor import (
    format_status,
    start_detached,
    state_file,
    stop_service,
    supervised,
    supervisor_status,
    systemd_status,
)

# A stand-in streamer: counts its starts, fails the first N of them with FAIL_CODE, then runs
# until SIGTERM, "flushes" (writes a file) and exits 0; with IGNORE_TERM it ignores SIGTERM.
FAKE_STREAMER = r"""
import os, signal, sys, time
from pathlib import Path
work = Path(sys.argv[1])
starts = work / "starts"
count = int(starts.read_text()) + 1 if starts.exists() else 1
starts.write_text(str(count))
(work / "env").write_text(os.environ.get("PROBE", ""))
if count <= int(os.environ.get("FAIL_TIMES", "0")):
    sys.exit(int(os.environ.get("FAIL_CODE", "1")))
def flush(signum, frame):
    (work / "flushed").write_text("yes")
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN if os.environ.get("IGNORE_TERM") else flush)
print("streaming", flush=True)
while True:
    time.sleep(0.1)
"""


def _wait_for(condition: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "streamer.py").write_text(FAKE_STREAMER)
    return tmp_path


def _start(work: Path, env_file: Path | None = None, settle: float = 0.5) -> tuple[bool, str]:
    run_args = ["host", "run", "--pid-file", str(work / "run" / "streamer.pid")]
    run_args += ["--restart-delay", "0.1", "--max-restart-delay", "0.2"]
    if env_file is not None:
        run_args += ["--env-file", str(env_file)]
    command = [sys.executable, str(work / "streamer.py"), str(work)]
    return start_detached([*run_args, "--", *command], _files(work), settle=settle)


def _files(work: Path) -> Service:
    return supervised(work / "run" / "streamer.pid")


def test_start_is_idempotent_and_stop_waits_for_the_flush(work: Path) -> None:
    env_file = work / "streamer.env"
    env_file.write_text('PROBE="from the env file"\n')
    started, message = _start(work, env_file)
    assert started, message
    again, message_again = _start(work, env_file)
    assert not again and "already running" in message_again
    assert (work / "starts").read_text() == "1"
    assert (work / "env").read_text() == "from the env file"
    status = supervisor_status(_files(work), None)
    assert status["running"] and status["restarts"] == 0
    child = status["pid"]

    was_running, stopped = stop_service(_files(work), timeout=30)
    assert was_running and "stopped cleanly" in stopped
    assert (work / "flushed").read_text() == "yes"
    assert not pid_alive(child)
    assert _files(work).pid() is None
    assert stop_service(_files(work), timeout=1) == (False, "not running")


def test_restarts_a_failing_streamer_with_backoff(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL_TIMES", "2")
    started, message = _start(work, settle=0.0)
    assert started, message
    _wait_for(
        lambda: (work / "starts").exists() and (work / "starts").read_text() == "3", "3rd start"
    )
    _wait_for(lambda: supervisor_status(_files(work), None)["running"], "running streamer")
    assert supervisor_status(_files(work), None)["restarts"] == 2
    log = _files(work).log_file.read_text()
    assert "failed with code 1" in log and "restarting in" in log
    stop_service(_files(work), timeout=30)


def test_configuration_error_is_not_restarted_and_fails_the_start(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL_TIMES", "1")
    monkeypatch.setenv("FAIL_CODE", "2")
    with pytest.raises(ServiceError, match="exited with code 2"):
        _start(work)
    assert (work / "starts").read_text() == "1"
    assert _files(work).pid() is None


def test_stop_escalates_to_sigkill_after_the_timeout_and_says_so(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IGNORE_TERM", "1")
    started, _ = _start(work)
    assert started
    status = supervisor_status(_files(work), None)
    supervisor = _files(work).pid()
    _, message = stop_service(_files(work), timeout=1)
    assert "did NOT exit within 1 s" in message and "SIGKILL" in message
    _wait_for(lambda: not pid_alive(status["pid"]), "streamer gone")
    assert supervisor is not None
    _wait_for(lambda: not pid_alive(supervisor), "supervisor gone")


def test_status_line_shows_the_last_stats(work: Path) -> None:
    stats = work / "stats.json"
    stats.write_text(json.dumps({"received": 2000, "sent": 2000, "state": "streaming"}))
    started, _ = _start(work)
    assert started
    line = format_status(supervisor_status(_files(work), stats))
    assert line.startswith("running (supervisor, pid ")
    assert "received=2000 sent=2000" in line
    stop_service(_files(work), timeout=30)
    line = format_status(supervisor_status(_files(work), stats))
    assert line.startswith("not running") and "received=2000" in line


def test_systemd_status_reads_systemctl_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same status line on systemd hosts, from `systemctl show` (a stand-in script here)."""
    entered_us = int((time.clock_gettime(time.CLOCK_MONOTONIC) - 3600) * 1e6)
    fake = tmp_path / "bin" / "systemctl"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        "printf 'ActiveState=active\\nSubState=running\\nMainPID=4321\\n"
        f"ActiveEnterTimestampMonotonic={entered_us}\\nNRestarts=2\\n'\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"received": 7, "sent": 7, "state": "streaming"}))
    line = format_status(systemd_status("tweet-triage-streamer", stats))
    assert line.startswith("running (systemd, pid 4321, up 1h00m")
    assert "2 restart(s)" in line and "received=7 sent=7" in line


def test_a_schedule_runs_its_job_every_period_and_keeps_its_rhythm_across_restarts(
    tmp_path: Path,
) -> None:
    """`--every`: the non-systemd stand-in for a timer; exit codes (2 here) do not stop it."""
    runs = tmp_path / "runs"
    job = "import sys; f = open(sys.argv[1], 'a'); f.write('x'); f.close(); sys.exit(2)"
    files = supervised(tmp_path / "run" / "job.pid")

    def command(every: int) -> list[str]:
        run_args = ["host", "run", "--pid-file", str(files.pid_file)]
        return [*run_args, "--every", str(every), "--", sys.executable, "-c", job, str(runs)]

    started, message = start_detached(command(1), files)
    assert started and "scheduled: next run at" in message, message
    status = supervisor_status(files, None)
    assert status["running"] and status["next_run_at"] > time.time() - 1
    assert format_status(status).startswith("scheduled (supervisor, supervisor pid ")
    assert not runs.exists()  # a full period first, as a timer's first trigger

    _wait_for(lambda: runs.exists() and len(runs.read_text()) >= 2, "two scheduled runs")
    assert "run exited with code 2" in files.log_file.read_text()
    assert stop_service(files, timeout=10)[0]
    assert files.pid() is None

    # A run missed while stopped happens at the next start (systemd's Persistent=true).
    done = len(runs.read_text())
    state = json.loads(state_file(files).read_text())
    state_file(files).write_text(json.dumps({**state, "last_run_at": time.time() - 100}))
    started, message = start_detached(command(60), files)
    assert started, message
    _wait_for(lambda: len(runs.read_text()) > done, "the missed run", limit=20)
    assert stop_service(files, timeout=10)[0]


def test_a_stale_supervisor_pid_file_never_leads_to_signalling_another_process(
    tmp_path: Path,
) -> None:
    """The supervisor's pid file is read as every service's: pid and start time must match."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        files = supervised(tmp_path / "run" / "streamer.pid")
        files.pid_file.parent.mkdir()
        files.pid_file.write_text(f"{bystander.pid} 1\n")  # its pid, another start time
        assert not supervisor_status(files, None)["running"]
        assert stop_service(files, timeout=1) == (False, "not running")
        assert pid_alive(bystander.pid) and not files.pid_file.exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_a_pid_file_not_named_dot_pid_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match=r"name it <service>\.pid"):
        supervised(tmp_path / "streamer.lock")
