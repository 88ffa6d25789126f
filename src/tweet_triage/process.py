"""Process management, in one place: free ports, pid liveness, services known by pid file.

The runtime (the streamer's supervisor) and the stand-ins (tweet_triage_local) both use it.
Every local service (moto server, X API stand-in, sshd, a streamer without systemd) has the
same life: start detached with a log file, wait until it answers, remember its pid, stop it
by that pid with SIGTERM (escalating to SIGKILL only after a timeout, and saying so). Both
`start` and `stop` are safe to repeat.
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
    """A local service could not be started or stopped; the message says why and where to look."""


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


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


@dataclass(frozen=True)
class Service:
    """A background process known by its pid file and log file under a state folder."""

    name: str
    state_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of the running service, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if pid_alive(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

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
    ) -> int:
        """Start `command` detached unless already running; wait until `ready()`; return pid."""
        existing = self.pid()
        if existing is not None:
            return existing
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
        self.pid_file.write_text(f"{process.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise ServiceError(
                    f"{self.name} exited with code {process.returncode} while starting; "
                    f"see {self.log_file}:\n{self.log_tail()}"
                )
            if ready():
                return process.pid
            time.sleep(0.2)
        self.stop()
        raise ServiceError(
            f"{self.name} did not become ready within {timeout:.0f} s; see {self.log_file}:\n"
            f"{self.log_tail()}"
        )

    def stop(self, timeout: float = 30.0) -> str:
        """SIGTERM the service's process group and wait; SIGKILL after `timeout`. Idempotent."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return f"{self.name}: not running"
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                self.pid_file.unlink(missing_ok=True)
                return f"{self.name}: stopped (pid {pid})"
            time.sleep(0.1)
        _signal_group(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return f"{self.name}: did not exit within {timeout:.0f} s of SIGTERM; killed (pid {pid})"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)
