"""Keep the streamer running where there is no systemd, with systemd's semantics.

On an EC2 host the streamer is a systemd unit (Restart=on-failure, KillSignal=SIGTERM,
TimeoutStopSec). Where there is no systemd (the local SSH host, a container) this supervisor
does the same job, so the playbooks behave alike on both:

- one supervisor per pid file: the pid file is held with an exclusive `flock` for the
  supervisor's lifetime, so a second start sees it running (no pid-reuse guesswork, and a
  killed supervisor releases it by itself);
- restart on failure with exponential backoff, reset once a run has lasted `stable_after`
  seconds; exit code 0 (a planned stop, e.g. --max-tweets) and 2 (a configuration error that
  a restart cannot fix) are final, like systemd's RestartPreventExitStatus;
- SIGTERM is forwarded to the streamer, which then sends what it holds (its flush); the
  supervisor exits when the streamer has. `stop_service` escalates to SIGKILL of the whole
  process group only after a timeout, and says so;
- the streamer's output goes to a size-rotated log file (nohup.out grew without limit);
- with `every`, a schedule instead (the triage host's daily retrain and drift check, where no
  systemd timer can run them): the command runs a period after its last run, whatever its
  exit code, and a restarted scheduler keeps that rhythm (systemd's `Persistent=`): the last
  run's time is kept in the state file, so a run missed while stopped happens at the start.

`service_status` reads the supervisor's state file, or systemd's view of a unit, plus the
streamer's stats file, so `stream-status` prints the same line on both kinds of host.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import FrameType
from typing import IO, Any

from dotenv import dotenv_values

from tweet_triage.errors import TriageError
from tweet_triage.process import pid_alive
from tweet_triage.retry import Backoff

FINAL_EXIT_CODES = (0, 2)  # 0: planned stop; 2: configuration error (TriageError)
ALREADY_RUNNING_EXIT = 3


class SupervisorError(TriageError):
    """The supervised streamer could not be started or stopped; the message says why."""


@dataclass(frozen=True)
class RestartPolicy:
    """Restart delays: `initial_delay` doubling to `max_delay` (the project's `Backoff`, no
    jitter), back to the start once a run lasted `stable_after` seconds."""

    initial_delay: float = 1.0
    max_delay: float = 60.0
    stable_after: float = 60.0

    def next_delay(self, failures_in_a_row: int) -> float:
        """The wait before the restart after the n-th failure in a row (n >= 1)."""
        backoff = Backoff(self.initial_delay, self.max_delay, self.max_delay, jitter=False)
        return backoff.delay(failures_in_a_row - 1)


@dataclass(frozen=True)
class SupervisorFiles:
    """The pid file names the rest: `<name>.state.json` and `<name>.log` beside it."""

    pid_file: Path

    @property
    def state_file(self) -> Path:
        return self.pid_file.with_suffix(".state.json")

    @property
    def log_file(self) -> Path:
        return self.pid_file.with_suffix(".log")


def held_pid(files: SupervisorFiles) -> int | None:
    """The pid of the running supervisor: the pid file exists and its lock is held."""
    try:
        fd = os.open(files.pid_file, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            for _ in range(50):  # the holder writes its pid right after taking the lock
                text = os.pread(fd, 64, 0).decode().strip()
                if text.isdigit():
                    return int(text)
                time.sleep(0.02)
            raise SupervisorError(f"{files.pid_file} is locked but holds no pid") from None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data) + "\n")
    os.replace(temporary, path)


class Supervisor:
    """Runs `command` until told to stop; restarts it on failure. One per pid file."""

    def __init__(
        self,
        command: Sequence[str],
        files: SupervisorFiles,
        *,
        env_file: Path | None = None,
        policy: RestartPolicy | None = None,
        log_max_bytes: int = 10 * 1024 * 1024,
        log_backups: int = 5,
        every: float | None = None,
    ) -> None:
        self.command = list(command)
        self.files = files
        self.env_file = env_file
        self.policy = policy or RestartPolicy()
        self.every = every
        self._stopping = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._log = logging.getLogger(f"tweet_triage.supervisor.{id(self)}")
        self._log.propagate = False
        self._log.setLevel(logging.INFO)
        self._log_max_bytes = log_max_bytes
        self._log_backups = log_backups
        self._state: dict[str, Any] = {}

    def run(self) -> int:
        """Supervise until stopped; the exit code is the streamer's last one (0 when stopped)."""
        self.files.pid_file.parent.mkdir(parents=True, exist_ok=True)
        lock_fd = os.open(self.files.pid_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            return ALREADY_RUNNING_EXIT
        os.ftruncate(lock_fd, 0)
        os.write(lock_fd, f"{os.getpid()}\n".encode())
        handler = RotatingFileHandler(
            self.files.log_file, maxBytes=self._log_max_bytes, backupCount=self._log_backups
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
        self._log.addHandler(handler)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        last_run_at = _read_state(self.files).get("last_run_at") if self.every else None
        self._state = {
            "supervisor_pid": os.getpid(),
            "started_at": time.time(),
            "command": self.command,
            "restarts": 0,
            "child_pid": None,
            "child_started_at": None,
            "last_exit_code": None,
            "state": "starting",
            "every_s": self.every,
            "last_run_at": last_run_at,
            "next_run_at": None,
        }
        try:
            return self._loop()
        finally:
            self._update(state="stopped", child_pid=None)
            self._note("supervisor: stopped")
            handler.close()
            self.files.pid_file.unlink(missing_ok=True)
            os.close(lock_fd)

    def _loop(self) -> int:
        failures = 0  # in a row, each run shorter than stable_after
        while True:
            if self.every is not None and self._wait_for_next_run():
                return 0
            environment = {**os.environ, **env_file_values(self.env_file)}
            started = time.monotonic()
            child = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=environment,
            )
            self._child = child
            self._update(
                state="running",
                child_pid=child.pid,
                child_started_at=time.time(),
                last_run_at=time.time(),
            )
            self._note(f"supervisor: started pid {child.pid}: {' '.join(self.command)}")
            assert child.stdout is not None  # stdout=PIPE
            copier = threading.Thread(target=self._copy_output, args=(child.stdout,), daemon=True)
            copier.start()
            if self._stopping.is_set():  # a stop that arrived while we were starting it
                child.send_signal(signal.SIGTERM)
            code = child.wait()
            copier.join(timeout=5)
            ran_for = time.monotonic() - started
            self._update(last_exit_code=code, child_pid=None)
            if self._stopping.is_set():
                self._note(f"supervisor: streamer exited with code {code} after SIGTERM")
                return 0 if code in (0, -signal.SIGTERM) else code
            if self.every is not None:
                self._note(f"supervisor: run exited with code {code} after {ran_for:.1f} s")
                continue
            if code in FINAL_EXIT_CODES:
                reason = "finished" if code == 0 else "configuration error, not restarting"
                self._note(f"supervisor: streamer exited with code {code} ({reason})")
                return code
            failures = 1 if ran_for >= self.policy.stable_after else failures + 1
            delay = self.policy.next_delay(failures)
            self._update(state="backoff", restarts=self._state["restarts"] + 1)
            self._note(
                f"supervisor: streamer failed with code {code} after {ran_for:.1f} s; "
                f"restarting in {delay:.0f} s"
            )
            if self._stopping.wait(delay):
                return 0

    def _wait_for_next_run(self) -> bool:
        """Scheduled mode: sleep until a period after the last run (a full period when it has
        never run); True when told to stop meanwhile."""
        assert self.every is not None
        last = self._state.get("last_run_at")
        due = last + self.every if isinstance(last, int | float) else time.time() + self.every
        self._update(state="waiting", next_run_at=due)
        self._note(f"supervisor: next run at {_utc(due)}")
        return self._stopping.wait(max(0.0, due - time.time()))

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping.set()
        self._update(state="stopping")
        child = self._child
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    def _copy_output(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self._log.info(raw.decode("utf-8", errors="replace").rstrip("\n"))

    def _note(self, message: str) -> None:
        self._log.info(f"{_utc(time.time())} {message}")

    def _update(self, **changes: Any) -> None:
        self._state.update(changes)
        _write_json(self.files.state_file, self._state)


def _utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def env_file_values(env_file: Path | None) -> dict[str, str]:
    """A KEY=value settings file, read as systemd reads EnvironmentFile= (on every start, so
    edits take effect)."""
    if env_file is None:
        return {}
    values = dotenv_values(env_file, interpolate=False)
    return {key: value for key, value in values.items() if value is not None}


def start_detached(
    run_args: Sequence[str], files: SupervisorFiles, *, settle: float = 3.0, timeout: float = 30.0
) -> tuple[bool, str]:
    """Start `python -m tweet_triage <run_args>` in its own session unless one runs already.

    Returns (started, message). Waits until the streamer has been started and then `settle`
    seconds more, so a streamer that dies at once (bad settings) fails the start with its log.
    """
    pid = held_pid(files)
    if pid is not None:
        return False, f"already running (supervisor pid {pid}); not starting a second streamer"
    files.pid_file.parent.mkdir(parents=True, exist_ok=True)
    with files.log_file.open("ab") as early_output:  # before the supervisor's own handler
        process = subprocess.Popen(
            [sys.executable, "-m", "tweet_triage", *run_args],
            stdin=subprocess.DEVNULL,
            stdout=early_output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    child_seen_at: float | None = None
    while time.monotonic() < deadline:
        code = process.poll()
        if code == ALREADY_RUNNING_EXIT:
            return False, f"already running (supervisor pid {held_pid(files)})"
        if code is not None:
            raise SupervisorError(
                f"the streamer exited with code {code} right after starting; last lines of "
                f"{files.log_file}:\n{_tail(files.log_file)}"
            )
        state = _read_state(files)
        ours = state.get("supervisor_pid") == process.pid
        if ours and state.get("state") == "waiting":  # a schedule, until its next run
            due = state.get("next_run_at")
            when = _utc(due) if isinstance(due, int | float) else "?"
            return True, f"started (supervisor pid {process.pid}, scheduled: next run at {when})"
        if child_seen_at is None and ours and state.get("child_pid"):
            child_seen_at = time.monotonic()
        if child_seen_at is not None and time.monotonic() - child_seen_at >= settle:
            if state.get("state") not in ("running", "waiting"):
                stop_service(files, timeout=30)
                raise SupervisorError(
                    f"the streamer keeps failing ({state.get('restarts')} restart(s) within "
                    f"{settle:.0f} s); stopped it. Last lines of {files.log_file}:\n"
                    f"{_tail(files.log_file)}"
                )
            child = state["child_pid"]
            return True, f"started (supervisor pid {process.pid}, service pid {child})"
        time.sleep(0.1)
    stop_service(files, timeout=30)
    raise SupervisorError(
        f"the supervisor did not start the streamer within {timeout:.0f} s; see {files.log_file}"
    )


def stop_service(files: SupervisorFiles, timeout: float) -> tuple[bool, str]:
    """SIGTERM the supervisor (it forwards to the streamer and waits for its flush).

    Returns (was_running, message). After `timeout` seconds the supervisor's whole process
    group gets SIGKILL, and the message says so: records the streamer still held are then
    only in its spool (re-sent by the next start), not yet in Firehose.
    """
    pid = held_pid(files)
    if pid is None:
        return False, "not running"
    started = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    while time.monotonic() - started < timeout:
        if held_pid(files) is None:
            return True, (
                f"stopped cleanly in {time.monotonic() - started:.1f} s (SIGTERM; the streamer "
                "flushed and exited)"
            )
        time.sleep(0.2)
    child = _read_state(files).get("child_pid")
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for leftover in (pid, child):
        if isinstance(leftover, int):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(leftover, signal.SIGKILL)
    return True, (
        f"did NOT exit within {timeout:.0f} s of SIGTERM: sent SIGKILL to supervisor pid {pid}"
        f" and streamer pid {child}; records it still held stay in its spool for the next start"
    )


def _read_state(files: SupervisorFiles) -> dict[str, Any]:
    try:
        data = json.loads(files.state_file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _read_stats(stats_file: Path | None) -> dict[str, Any] | None:
    if stats_file is None:
        return None
    try:
        data = json.loads(stats_file.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def supervisor_status(files: SupervisorFiles, stats_file: Path | None) -> dict[str, Any]:
    pid = held_pid(files)
    state = _read_state(files) if pid is not None else {}
    child = state.get("child_pid")
    started_at = state.get("started_at")
    waiting = pid is not None and state.get("state") == "waiting"  # a schedule between runs
    return {
        "manager": "supervisor",
        "running": waiting or (pid is not None and isinstance(child, int) and pid_alive(child)),
        "state": state.get("state", "stopped") if pid is not None else "stopped",
        "supervisor_pid": pid,
        "next_run_at": state.get("next_run_at") if waiting else None,
        "last_exit_code": state.get("last_exit_code"),
        "pid": child,
        "uptime_s": round(time.time() - started_at, 1) if pid and started_at else None,
        "restarts": state.get("restarts", 0),
        "stats": _read_stats(stats_file),
    }


def systemd_status(unit: str, stats_file: Path | None) -> dict[str, Any]:
    """The same view for a systemd unit, from `systemctl show`."""
    wanted = ("ActiveState", "SubState", "MainPID", "ActiveEnterTimestampMonotonic", "NRestarts")
    result = subprocess.run(
        ["systemctl", "show", unit, *(f"--property={name}" for name in wanted)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SupervisorError(f"systemctl show {unit} failed: {result.stderr.strip()}")
    values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    active = values.get("ActiveState") == "active"
    entered_us = int(values.get("ActiveEnterTimestampMonotonic") or 0)
    uptime = time.clock_gettime(time.CLOCK_MONOTONIC) - entered_us / 1e6
    return {
        "manager": "systemd",
        "running": active,
        "state": f"{values.get('ActiveState')}/{values.get('SubState')}",
        "pid": int(values.get("MainPID") or 0) or None,
        "uptime_s": round(uptime, 1) if active and entered_us else None,
        "restarts": int(values.get("NRestarts") or 0),
        "stats": _read_stats(stats_file),
    }


def _duration(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


_STATS_FIELDS = ("received", "sent", "retried", "failed", "dead_lettered", "spool_depth")


def format_status(status: dict[str, Any]) -> str:
    """Two lines: running or not with uptime, then the streamer's last stats."""
    if status["running"] and status.get("next_run_at"):
        head = (
            f"scheduled ({status['manager']}, supervisor pid {status['supervisor_pid']}, next "
            f"run at {_utc(status['next_run_at'])}, last exit code {status['last_exit_code']})"
        )
    elif status["running"]:
        head = (
            f"running ({status['manager']}, pid {status['pid']}, up "
            f"{_duration(status['uptime_s'] or 0)}, {status['restarts']} restart(s))"
        )
    else:
        head = f"not running ({status['manager']}: {status['state']})"
    stats = status.get("stats")
    if not stats:
        return f"{head}\nlast stats: none yet"
    counters = " ".join(f"{name}={stats[name]}" for name in _STATS_FIELDS if name in stats)
    return (
        f"{head}\nlast stats ({stats.get('updated_at', '?')}, {stats.get('state', '?')}): "
        f"{counters}"
    )
