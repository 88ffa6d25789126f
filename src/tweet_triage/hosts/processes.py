"""Operating-system processes, in one place: free ports, pid liveness, pid files, start, stop.

The stand-ins (tweet_triage_local), the live half's local services and the hosts' supervisor
all use it. Every background process (moto server, X API stand-in, sshd, the local inbox, a
supervised streamer) has the same life: start detached with a log file, wait until it
answers, remember its pid, stop it by that pid with SIGTERM (escalating to SIGKILL only
after a timeout, and saying so). Both `start` and `stop` are safe to repeat.

A pid file records the pid and the process's start time (from /proc), so a pid that the
kernel has reused for another process is never mistaken for the service, nor signalled. A
service given its port refuses to start when the port is taken, and checks afterwards that
the process listening there is its own, not a server that happened to be there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tweet_triage.errors import TriageError


class ServiceError(TriageError):
    """A service could not be started or stopped; the message says why and where to look."""


class ServiceExited(ServiceError):
    """The service exited while starting; `code` is its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return not _is_zombie(pid)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (a bind would succeed)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def listening_pids(port: int) -> set[int] | None:
    """The pids holding a socket that listens on TCP `port`; None where /proc cannot tell."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            return None
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    pids = set()
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in fd_dir.iterdir()):
                pids.add(int(fd_dir.parent.name))
    return pids


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def started_at(pid: int) -> float | None:
    """The process's start as a Unix time, from its start time and the boot time."""
    ticks = start_time(pid)
    try:
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration):
        return None
    return None if ticks is None else boot + int(ticks) / os.sysconf("SC_CLK_TCK")


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def pid_line(pid: int) -> str:
    """A pid file's content: the pid and its start time, which a reused pid does not share."""
    return f"{pid} {start_time(pid)}\n"


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def terminate(pid: int, timeout: float, *, group: bool = True) -> bool:
    """SIGTERM `pid` (with `group`, its whole process group too) and wait up to `timeout`
    seconds for it to exit; then SIGKILL its process group. True when it exited on SIGTERM.

    Raises PermissionError when `pid` belongs to a user this one may not signal.
    """
    if group:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)
    return False


@dataclass(frozen=True)
class Service:
    """A background process known by its pid file and log file under a state folder.

    `term_group`: a stop sends SIGTERM to the whole process group; without it, to the main
    process only, which stops its children itself (a supervisor; systemd's KillMode=mixed).
    """

    name: str
    state_dir: Path
    term_group: bool = True

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of the running service, or None. A stale pid file (the process is gone, or
        the pid now belongs to a process started at another time) is removed; an empty one is
        being written by its process and is left alone."""
        try:
            fields = self.pid_file.read_text().split()
        except OSError:
            return None
        if not fields:
            return None
        try:
            pid = int(fields[0])
        except ValueError:
            pid = None
        recorded_start = fields[1] if len(fields) > 1 else None
        if pid is not None and pid_alive(pid) and self._same_process(pid, recorded_start):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def _same_process(self, pid: int, recorded_start: str | None) -> bool:
        """Is `pid` still the process this pid file was written for?"""
        if recorded_start is not None:
            return recorded_start == start_time(pid)
        # A pid file without a start time: the process must be older than the file.
        started = started_at(pid)
        return started is None or started <= self.pid_file.stat().st_mtime + 1.0

    def running(self) -> bool:
        return self.pid() is not None

    def start(
        self,
        command: Sequence[str],
        ready: Callable[[], bool],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 60.0,
        port: int | None = None,
        records_pid: bool = True,
    ) -> int:
        """Start `command` detached unless already running; wait until `ready()`; return pid.

        With `port`: refuse a port that is taken, and once ready, check the listener is ours.
        Without `records_pid` the process writes its own pid file (a supervisor, under a lock).
        Exiting while starting raises `ServiceExited`; not ready in time stops it and raises.
        """
        existing = self.pid()
        if existing is not None:
            return existing
        if port is not None and not port_free(port):
            holders = listening_pids(port)
            held_by = f" (pid {', '.join(map(str, sorted(holders)))})" if holders else ""
            raise ServiceError(
                f"{self.name}: port {port} on 127.0.0.1 is already in use by another "
                f"process{held_by}; stop it, or choose another port with --port"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                list(command),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        if records_pid:
            self.pid_file.write_text(pid_line(process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                if records_pid:
                    self.pid_file.unlink(missing_ok=True)
                raise ServiceExited(
                    f"{self.name} exited with code {process.returncode} while starting; "
                    f"see {self.log_file}:\n{self.log_tail()}",
                    process.returncode,
                )
            if ready():
                self._check_listener(process.pid, port)
                return process.pid
            time.sleep(0.1)
        self.stop()
        raise ServiceError(
            f"{self.name} did not become ready within {timeout:.0f} s; see {self.log_file}:\n"
            f"{self.log_tail()}"
        )

    def stop(self, timeout: float = 30.0) -> str:
        """SIGTERM the service and wait; SIGKILL its process group after `timeout`. Idempotent."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return f"{self.name}: not running"
        try:
            clean = terminate(pid, timeout, group=self.term_group)
        except PermissionError as exc:
            raise ServiceError(
                f"{self.name}: cannot signal pid {pid} ({exc}); it runs as another user"
            ) from exc
        self.pid_file.unlink(missing_ok=True)
        if clean:
            return f"{self.name}: stopped (pid {pid})"
        return f"{self.name}: did not exit within {timeout:.0f} s of SIGTERM; killed (pid {pid})"

    def _check_listener(self, pid: int, port: int | None) -> None:
        """The process answering on `port` must be this service's, not a bystander's."""
        holders = listening_pids(port) if port is not None else None
        if holders is None or pid in holders:
            return
        self.stop()
        raise ServiceError(
            f"{self.name}: port {port} answers, but from pid(s) {sorted(holders)}, not from "
            f"the {self.name} just started (pid {pid}); see {self.log_file}"
        )

    def log_tail(self, lines: int = 20) -> str:
        return log_tail(self.log_file, lines)
