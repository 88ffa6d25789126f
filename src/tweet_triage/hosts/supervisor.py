"""Keep a host's service running where there is no systemd, with systemd's semantics.

On an EC2 host the streamer and the triage services are systemd units (Restart=on-failure,
KillSignal=SIGTERM, TimeoutStopSec). Where there is no systemd (the local SSH host, a
container) this supervisor does the same job, so the playbooks behave alike on both:

- one supervisor per pid file: the supervisor holds an exclusive `flock` on it for its
  lifetime, so a second supervisor started at the same moment exits at once; the pid file
  itself is `processes.Service`'s (pid and start time), so status and stop read it as they
  read every other service's;
- restart on failure with exponential backoff, reset once a run has lasted `stable_after`
  seconds; exit code 0 (a planned stop, e.g. --max-tweets) and 2 (a configuration error that
  a restart cannot fix) are final, like systemd's RestartPreventExitStatus;
- SIGTERM is forwarded to the service (the streamer then sends what it holds, its flush; the
  scorer finishes its micro-batch); the supervisor exits when the service has.
  `stop_service` escalates to SIGKILL of the whole process group only after a timeout
  (`processes.terminate`), and says so;
- the service's output goes to a size-rotated log file beside the pid file;
- with `every`, a schedule instead (the triage host's daily retrain and drift check, where no
  systemd timer can run them): the command runs a period after its last run, whatever its
  exit code, and a restarted scheduler keeps that rhythm (systemd's `Persistent=`): the last
  run's time is kept in the state file, so a run missed while stopped happens at the start.

`supervisor_status` reads the supervisor's state file, or systemd's view of a unit, plus the
streamer's stats file, so `stream-status` (and the triage host's status) print the same line
on both kinds of host.
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

from tweet_triage.atomic_files import write_atomic
from tweet_triage.hosts.processes import (
    Service,
    ServiceError,
    ServiceExited,
    log_tail,
    pid_alive,
    pid_line,
    terminate,
)
from tweet_triage.retry import Backoff

FINAL_EXIT_CODES = (0, 2)  # 0: planned stop; 2: configuration error (TriageError)
ALREADY_RUNNING_EXIT = 3


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


def supervised(pid_file: Path) -> Service:
    """The supervisor of one service, known by its pid file `<name>.pid`; its state file
    `<name>.state.json` and log `<name>.log` sit beside it. A stop sends SIGTERM to the
    supervisor only, which forwards it to its service."""
    if pid_file.suffix != ".pid":
        raise ServiceError(f"pid file {pid_file}: name it <service>.pid, e.g. streamer.pid")
    return Service(pid_file.stem, pid_file.parent, term_group=False)


def state_file(service: Service) -> Path:
    return service.state_dir / f"{service.name}.state.json"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(data) + "\n")


class Supervisor:
    """Runs `command` until told to stop; restarts it on failure. One per pid file."""

    def __init__(
        self,
        command: Sequence[str],
        service: Service,
        *,
        env_file: Path | None = None,
        policy: RestartPolicy | None = None,
        log_max_bytes: int = 10 * 1024 * 1024,
        log_backups: int = 5,
        every: float | None = None,
    ) -> None:
        self.command = list(command)
        self.service = service
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
        """Supervise until stopped; the exit code is the service's last one (0 when stopped)."""
        pid_file = self.service.pid_file
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        lock_fd = os.open(pid_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            return ALREADY_RUNNING_EXIT
        os.ftruncate(lock_fd, 0)
        os.write(lock_fd, pid_line(os.getpid()).encode())
        handler = RotatingFileHandler(
            self.service.log_file, maxBytes=self._log_max_bytes, backupCount=self._log_backups
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
        self._log.addHandler(handler)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        last_run_at = _read_state(self.service).get("last_run_at") if self.every else None
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
            pid_file.unlink(missing_ok=True)
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
                self._note(f"supervisor: service exited with code {code} after SIGTERM")
                return 0 if code in (0, -signal.SIGTERM) else code
            if self.every is not None:
                self._note(f"supervisor: run exited with code {code} after {ran_for:.1f} s")
                continue
            if code in FINAL_EXIT_CODES:
                reason = "finished" if code == 0 else "configuration error, not restarting"
                self._note(f"supervisor: service exited with code {code} ({reason})")
                return code
            failures = 1 if ran_for >= self.policy.stable_after else failures + 1
            delay = self.policy.next_delay(failures)
            self._update(state="backoff", restarts=self._state["restarts"] + 1)
            self._note(
                f"supervisor: service failed with code {code} after {ran_for:.1f} s; "
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
        _write_json(state_file(self.service), self._state)


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
    run_args: Sequence[str], service: Service, *, settle: float = 3.0, timeout: float = 30.0
) -> tuple[bool, str]:
    """Start `python -m tweet_triage <run_args>` (a supervisor) unless one runs already.

    Returns (started, message). Waits until the service has been started and then `settle`
    seconds more, so a service that dies at once (bad settings) fails the start with its log.
    """
    pid = service.pid()
    if pid is not None:
        return False, f"already running (supervisor pid {pid}); not starting a second one"
    child_seen_at: float | None = None

    def ready() -> bool:
        nonlocal child_seen_at
        state = _read_state(service)
        if state.get("supervisor_pid") != service.pid():
            return False  # not yet the new supervisor's state
        if state.get("state") == "waiting":  # a schedule, until its next run
            return True
        if child_seen_at is None and state.get("child_pid"):
            child_seen_at = time.monotonic()
        if child_seen_at is None or time.monotonic() - child_seen_at < settle:
            return False
        if state.get("state") != "running":
            stop_service(service, timeout=30)
            raise ServiceError(
                f"the service keeps failing ({state.get('restarts')} restart(s) within "
                f"{settle:.0f} s); stopped it. Last lines of {service.log_file}:\n"
                f"{log_tail(service.log_file, 15)}"
            )
        return True

    command = [sys.executable, "-m", "tweet_triage", *run_args]
    try:
        supervisor = service.start(command, ready, timeout=timeout, records_pid=False)
    except ServiceExited as exc:
        if exc.code == ALREADY_RUNNING_EXIT:
            return False, f"already running (supervisor pid {service.pid()})"
        raise
    state = _read_state(service)
    if state.get("state") == "waiting":
        due = state.get("next_run_at")
        when = _utc(due) if isinstance(due, int | float) else "?"
        return True, f"started (supervisor pid {supervisor}, scheduled: next run at {when})"
    return True, f"started (supervisor pid {supervisor}, service pid {state['child_pid']})"


def stop_service(service: Service, timeout: float) -> tuple[bool, str]:
    """SIGTERM the supervisor (it forwards to its service and waits for its flush).

    Returns (was_running, message). After `timeout` seconds the supervisor's whole process
    group gets SIGKILL, and the message says so: records a streamer still held are then
    only in its spool (re-sent by the next start), not yet in Firehose.
    """
    pid = service.pid()
    if pid is None:
        return False, "not running"
    started = time.monotonic()
    if terminate(pid, timeout, group=service.term_group):
        return True, (
            f"stopped cleanly in {time.monotonic() - started:.1f} s (SIGTERM; the service "
            "flushed and exited)"
        )
    child = _read_state(service).get("child_pid")
    if isinstance(child, int):  # a service that left the supervisor's process group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child, signal.SIGKILL)
    service.pid_file.unlink(missing_ok=True)  # the killed supervisor could not remove it
    return True, (
        f"did NOT exit within {timeout:.0f} s of SIGTERM: sent SIGKILL to supervisor pid {pid}"
        f" and service pid {child}; records it still held stay in its spool for the next start"
    )


def _read_state(service: Service) -> dict[str, Any]:
    try:
        data = json.loads(state_file(service).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_stats(stats_file: Path | None) -> dict[str, Any] | None:
    if stats_file is None:
        return None
    try:
        data = json.loads(stats_file.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def supervisor_status(service: Service, stats_file: Path | None) -> dict[str, Any]:
    pid = service.pid()
    state = _read_state(service) if pid is not None else {}
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
        raise ServiceError(f"systemctl show {unit} failed: {result.stderr.strip()}")
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
    """Two lines: running or not with uptime, then the streamer's last stats (if given)."""
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
