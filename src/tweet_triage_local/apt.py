"""Debian packages the local stand-ins need (sshd, PostgreSQL), installed with apt-get when
missing and this process may (root).

Two stand-ins may install at the same time (the test suite's two workers on a fresh machine):
one file lock serialises our own installs, and apt waits for dpkg's lock instead of failing
when another tool holds it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

from tweet_triage.errors import TriageError

LOCK_FILE = Path("/var/lock/tweet-triage-apt.lock")
DPKG_LOCK_TIMEOUT_SECONDS = 600


def apt_install(packages: list[str], needed_by: str, error: type[TriageError]) -> None:
    """apt-get update + install of `packages`; `error` names what failed and the fix."""
    listed = " ".join(packages)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise error(
            f"{needed_by} needs {' and '.join(packages)}, which is not installed, and this "
            "process cannot install it (needs root and apt-get); install it with your package "
            f"manager (e.g. sudo apt-get install {listed}) and rerun"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    wait = ["-o", f"DPkg::Lock::Timeout={DPKG_LOCK_TIMEOUT_SECONDS}"]
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for command in (
            ["apt-get", *wait, "update", "-qq"],
            ["apt-get", *wait, "install", "-y", "-qq", "--no-install-recommends", *packages],
        ):
            result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                detail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
                raise error(
                    f"`{' '.join(command)}` failed (exit {result.returncode}): {detail}; "
                    f"install {listed} by hand and rerun"
                )
