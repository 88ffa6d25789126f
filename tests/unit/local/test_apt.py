"""The stand-ins' apt-get installs: one at a time, waiting for dpkg's lock, clear failures."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tweet_triage.errors import TriageError
from tweet_triage_local import apt


class Refused(TriageError):
    pass


@pytest.fixture
def as_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apt.os, "geteuid", lambda: 0)
    monkeypatch.setattr(apt.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(apt, "LOCK_FILE", tmp_path / "apt.lock")


def test_installs_wait_for_each_other_and_for_dpkg(
    as_root: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    running: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    commands: list[list[str]] = []

    def run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        running.append(command[-1])
        if len(running) > 1:
            overlaps.append(tuple(running))
        commands.append(command)
        time.sleep(0.05)
        running.remove(command[-1])
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(apt.subprocess, "run", run)
    threads = [
        threading.Thread(target=apt.apt_install, args=([name], "a test", Refused))
        for name in ("openssh-server", "postgresql")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not overlaps
    assert len(commands) == 4
    assert all(c[:3] == ["apt-get", "-o", "DPkg::Lock::Timeout=600"] for c in commands)
    installs = [c for c in commands if "install" in c]
    assert sorted(c[-1] for c in installs) == ["openssh-server", "postgresql"]


def test_a_failed_install_names_the_command_and_the_fix(
    as_root: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        failed = "install" in command
        return subprocess.CompletedProcess(command, 100 if failed else 0, "", "E: no space")

    monkeypatch.setattr(apt.subprocess, "run", run)
    with pytest.raises(Refused, match=r"apt-get .*install.*exit 100.*E: no space.*by hand"):
        apt.apt_install(["postgresql"], "a test", Refused)


def test_without_root_it_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apt.os, "geteuid", lambda: 1000)
    with pytest.raises(Refused, match=r"a test needs postgresql.*sudo apt-get install postgresql"):
        apt.apt_install(["postgresql"], "a test", Refused)
