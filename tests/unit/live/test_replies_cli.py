"""`tweet-triage triage x connect|status|disconnect` as an admin runs them on a headless host:
the authorize URL is printed, the redirect URL is pasted back on stdin; tokens never printed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.xapi.test_xapi_writes import CLIENT_ID, REDIRECT, approve, make_server
from tweet_triage.config import PROJECT_ROOT
from tweet_triage_local.xapi.server import XStandInServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[XStandInServer]:
    srv = make_server(tmp_path / "xapi")
    yield srv
    srv.stop()


@pytest.fixture
def env(server: XStandInServer) -> dict[str, str]:
    return {
        **os.environ,
        "X_API_BASE_URL": server.url,
        "X_CLIENT_ID": CLIENT_ID,
        "X_REDIRECT_URI": REDIRECT,
    }


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tweet_triage", "triage", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def connect(
    server: XStandInServer, env: dict[str, str], paste: str | None = None
) -> tuple[int, str, str]:
    """Run `x connect`, approve the URL it prints, paste the redirect (or `paste`)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tweet_triage", "triage", "x", "connect"],
        env=env,
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin and process.stdout and process.stderr
    printed = []
    while "/2/oauth2/authorize?" not in (line := process.stderr.readline()):
        printed.append(line)
        if not line:
            pytest.fail(f"no authorize URL printed: {''.join(printed)}")
    printed.append(line)
    redirect = approve(server, line.strip())
    process.stdin.write(f"{paste or redirect}\n")
    process.stdin.close()
    out, err = process.stdout.read(), process.stderr.read()  # the readline buffer, then the rest
    return process.wait(timeout=120), out, "".join(printed) + err


def test_connect_status_disconnect_headless(server: XStandInServer, env: dict[str, str]) -> None:
    code, out, err = connect(server, env)
    assert code == 0, err
    assert "connected as @WebbTriageDemo" in out, err
    assert "paste it below" in err, err

    status = cli(env, "x", "status")
    assert status.returncode == 0 and status.stdout.strip() == "connected as @WebbTriageDemo"
    digests = server.standin.oauth._issued.access  # the stand-in keeps only digests
    assert len(digests) == 1

    outbox = cli(env, "outbox", "status")
    assert "X account: connected as @WebbTriageDemo" in outbox.stdout

    gone = cli(env, "x", "disconnect")
    assert "@WebbTriageDemo disconnected: tokens revoked at X" in gone.stdout
    assert not server.standin.oauth._issued.access and not server.standin.oauth._issued.refresh
    after = cli(env, "x", "status")
    assert after.returncode == 1 and after.stdout.startswith("not connected")


def test_a_redirect_from_elsewhere_is_refused_with_the_fix(
    server: XStandInServer, env: dict[str, str]
) -> None:
    code, _out, err = connect(server, env, paste=f"{REDIRECT}?state=forged&code=stolen")
    assert code != 0
    assert "does not answer this connect request" in err
    assert cli(env, "x", "status").returncode == 1


def test_no_x_app_configured_names_the_setting(env: dict[str, str]) -> None:
    del env["X_CLIENT_ID"]
    result = cli(env, "x", "status")
    assert result.returncode != 0 and "X_CLIENT_ID is not set" in result.stderr
