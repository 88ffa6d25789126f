"""End to end over real SSH: the user's make targets from stand-ins to tweets in S3 and back.

local-aws-up, local-xapi-up, local-host-up (a real sshd on loopback), aws-create, provision
(twice: the second run must change nothing), bad input (wrong key, unknown profile, empty
token), stream-start (twice: still one streamer), stream-status, a provision that changes a
setting (restarts the streamer), stream-stop, then every tweet id the X stand-in sent must be
in the bucket under the raw prefix, exactly once. Then
aws-destroy and local-down, and no process of this run may be left. Everything runs through
`make -f Makefile-stream ...` with a private state folder and free ports, as a user would.
The host's code folder is kept across runs (see STREAMER_CODE_CACHE), as the triage host's.
"""

from __future__ import annotations

import contextlib
import grp
import gzip
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tweet_triage.config import PROJECT_ROOT
from tweet_triage.hosts.processes import free_port, pid_alive
from tweet_triage.hosts.supervisor import state_file, supervised
from tweet_triage.stream.stats import read_stats_file
from tweet_triage_local.host import (
    FALLBACK_ROOTS,
    HostError,
    HostFiles,
    ensure_packages,
    local_streamer_pid_file,
)

# One SSH host at a time (they share its system user and the host caches): one xdist group.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("ssh-host")]

TWEETS_WANTED = 2000  # at least this many tweets must flow through the host
REPLAY_WINDOW = 2500  # corpus tweets replayed; about 83% match the demo profile's rules
REPLAY_RATE = "500"  # corpus tweets per second, matching or not
STACK = "tt-e2e-host"
BUCKET = "tt-e2e-host-bucket"
# The host's code folder (its venv) is kept across runs, like the controller's wheelhouse:
# the dependencies are installed on the first run and whenever their set changed, the
# project's wheel whenever the sources did; everything else of the host lives under the
# test's own prefix. Below /var/tmp so the streamer's user reaches it.
STREAMER_CODE_CACHE = FALLBACK_ROOTS / "cache" / "tweet-triage-streamer"


def _wait_for(condition: Callable[[], bool], what: str, limit: float = 300.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {limit:.0f} s waiting for {what}")
        time.sleep(1)


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A private state folder (pytest's tmp is 0700): the host's files then live under
    /var/tmp/tweet-triage-host/<id>, where the streamer's system user can reach them."""
    folder = tmp_path / "state"
    folder.mkdir()
    yield folder
    shutil.rmtree(HostFiles(folder).root, ignore_errors=True)


def snapshot_checkout(target: Path) -> Path:
    """A copy of the sources to build the host's wheel from: teammates editing this working
    tree between two provision runs must not count as a change (CI's clone never changes)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(PROJECT_ROOT / "src", target / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT_ROOT / name, target / name)
    return target


@pytest.fixture
def user_env(state_dir: Path) -> dict[str, str]:
    """The environment of a user's shell: private state and ports, the demo mission."""
    source = snapshot_checkout(state_dir / "checkout")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "X_", "STREAM_"))}
    env.pop("TT_IGNORE_DOTENV", None)  # the make targets must read the stand-ins' settings
    env.pop("ANSIBLE_INVENTORY", None)
    env.update(
        TT_STATE_DIR=str(state_dir),
        LOCAL_AWS_PORT=str(free_port()),
        LOCAL_XAPI_PORT=str(free_port()),
        LOCAL_XAPI_RATE=REPLAY_RATE,
        STACK_NAME=STACK,
        S3_BUCKET=BUCKET,
        MISSION_PROFILE="demo",
        FIREHOSE_BUFFER_SECONDS="0",
        STREAM_STATS_SECONDS="1",
        SSH_KEY_PATH=str(state_dir / "aws-create-key.pem"),
        OPERATOR_CIDR="127.0.0.1/32",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_ARGS=f"-e streamer_source_dir={source} -e streamer_opt_dir={STREAMER_CODE_CACHE}",
    )
    return env


def run_make(target: str, env: dict[str, str], **extra: str) -> tuple[int, str]:
    result = subprocess.run(
        ["make", "--no-print-directory", "-f", "Makefile-stream", target],
        cwd=PROJECT_ROOT,
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def make(target: str, env: dict[str, str], **extra: str) -> str:
    code, output = run_make(target, env, **extra)
    if code != 0:
        pytest.fail(f"make {target} failed ({code}):\n{output[-6000:]}")
    return output


def make_fails(target: str, env: dict[str, str], **extra: str) -> str:
    code, output = run_make(target, env, **extra)
    if code == 0:
        pytest.fail(f"make {target} should have failed:\n{output[-6000:]}")
    return output


def recap_changed(output: str, host: str = "local-streamer") -> int:
    match = re.search(rf"^{host}\s*:.*changed=(\d+)", output, re.MULTILINE)
    assert match, f"no PLAY RECAP for {host}:\n{output[-3000:]}"
    return int(match.group(1))


def read_env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def xapi(state_dir: Path, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    recorded = read_env_file(state_dir / "local-xapi.env")
    request = urllib.request.Request(
        recorded["X_API_BASE_URL"] + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Authorization": f"Bearer {recorded['X_BEARER_TOKEN']}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def delivered_ids(state_dir: Path) -> list[str]:
    """Every tweet id in every object under the raw prefix, duplicates kept."""
    aws = read_env_file(state_dir / "local-aws.env")
    s3 = boto3.client(
        "s3",
        endpoint_url=aws["AWS_ENDPOINT_URL"],
        region_name=aws["AWS_REGION"],
        aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"],
    )
    ids: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="raw/"):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            if body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
            ids += [json.loads(line)["data"]["id"] for line in body.splitlines() if line]
    return ids


def our_pids(state_dir: Path) -> set[int]:
    """Every process this run started that can still be found: by pid file, supervisor state,
    or a command line that names the state folder, the host's prefix or its code folder."""
    roots = [str(state_dir), str(HostFiles(state_dir).root), str(STREAMER_CODE_CACHE)]
    pids: set[int] = set()
    for pid_file in [*state_dir.rglob("*.pid")]:
        with contextlib.suppress(OSError, ValueError):
            pids.add(int(pid_file.read_text().split()[0]))
    state = state_file(supervised(local_streamer_pid_file(state_dir)))
    with contextlib.suppress(OSError, ValueError):
        child = json.loads(state.read_text()).get("child_pid")
        if isinstance(child, int):
            pids.add(child)
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                command = (proc / "cmdline").read_bytes()
                if any(root.encode() in command for root in roots):
                    pids.add(int(proc.name))
    return {pid for pid in pids if pid_alive(pid)}


def test_provision_and_stream_lifecycle_over_ssh(state_dir: Path, user_env: dict[str, str]) -> None:
    try:
        ensure_packages()
    except HostError as exc:
        pytest.skip(f"no SSH host possible on this machine: {exc}")

    started: set[int] = set()
    timings: dict[str, float] = {}

    def timed(name: str, target: str, **extra: str) -> str:
        begin = time.monotonic()
        output = make(target, user_env, **extra)
        timings[name] = round(time.monotonic() - begin, 1)
        return output

    try:
        make("local-aws-up", user_env)
        make("local-xapi-up", user_env)
        make("local-host-up", user_env)
        started |= our_pids(state_dir)
        timed("aws-create", "aws-create")
        # The production inventory (aws_ec2 plugin) finds the instance aws-create launched in
        # the stand-in and the same playbook tries it as ec2-user with the stack's key.
        output = make_fails("stream-status", user_env, ANSIBLE_INVENTORY="inventories/production")
        assert f"cannot reach {STACK}-streamer at " in output and "as ec2-user" in output

        first = timed("first provision", "provision")
        assert recap_changed(first) > 0
        second = timed("second provision", "provision")
        assert recap_changed(second) == 0, f"second provision changed something:\n{second}"
        host_root = HostFiles(state_dir).root
        env_file = host_root / "etc" / "tweet-triage" / "streamer.env"
        # Root-owned, readable by the service's group only: the service cannot rewrite it.
        env_stat = env_file.stat()
        assert (env_stat.st_uid, env_stat.st_mode & 0o777) == (0, 0o640)
        assert grp.getgrgid(env_stat.st_gid).gr_name == "tweet-triage"
        # pip installed with --require-hashes from these controller-computed hashes.
        lines = [
            line
            for name in ("requirements-hashed.txt", "project-hashed.txt")
            for line in (STREAMER_CODE_CACHE / name).read_text().splitlines()
            if line.strip()
        ]
        assert all(re.fullmatch(r"\S+==\S+ --hash=sha256:[0-9a-f]{64}", x) for x in lines)
        assert {"boto3", "tweepy", "tweet_triage"} <= {x.split("==")[0] for x in lines}
        assert "torch" not in {x.split("==")[0] for x in lines}  # the core dependencies only
        token = read_env_file(state_dir / "local-xapi.env")["X_BEARER_TOKEN"]
        assert token not in first + second, "the X token was printed"

        # Bad input: one message naming the cause, and the play fails.
        wrong_key = state_dir / "wrong_key"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong_key)], check=True
        )
        output = make_fails(
            "stream-status",
            user_env,
            ANSIBLE_ARGS=f"-e ansible_ssh_private_key_file={wrong_key}",  # not the host's
        )
        assert "the host refused the SSH key" in output and "wrong key" in output
        output = make_fails("provision", user_env, MISSION_PROFILE="no-such-mission")
        assert "unknown mission profile 'no-such-mission'" in output
        output = make_fails("provision", user_env, X_BEARER_TOKEN="")
        assert "X_BEARER_TOKEN are empty" in output

        # Replay the last REPLAY_WINDOW tweets of the corpus: the stand-in then runs dry, so
        # the set of tweets it sent is final and every one of them must reach S3.
        corpus_size = xapi(state_dir, "GET", "/_standin/stats?ids=false")["corpus_size"]
        xapi(state_dir, "POST", "/_standin/replay", {"start": corpus_size - REPLAY_WINDOW})

        output = make("stream-start", user_env)
        assert "started (supervisor pid" in output
        output = make("stream-start", user_env)
        assert "already running" in output and recap_changed(output) == 0
        started |= our_pids(state_dir)

        def stand_in_done() -> bool:
            return bool(xapi(state_dir, "GET", "/_standin/stats?ids=false")["exhausted"])

        _wait_for(stand_in_done, "the X stand-in to send its replay window")
        sent = xapi(state_dir, "GET", "/_standin/stats")["ids_sent"]
        assert len(sent) >= TWEETS_WANTED

        # The streamer's stats file (written every second here) says when all are sent; one
        # stream-status run (a playbook run) then shows the same.
        stats_file = host_root / "var" / "lib" / "tweet-triage" / "stream" / "stats.json"

        def all_sent() -> bool:
            stats = read_stats_file(stats_file) or {}
            return stats.get("received") == stats.get("sent") == len(sent)

        _wait_for(all_sent, f"the streamer's stats to show {len(sent)} tweets received and sent")
        status = make("stream-status", user_env)
        assert f"received={len(sent)} sent={len(sent)}" in status
        assert "running (supervisor, pid" in status and "0 restart(s)" in status
        streamer_pid = re.search(r"running \(supervisor, pid (\d+)", status)

        # A provision that changes a setting restarts the running streamer (clean stop first).
        output = timed("provision with a changed setting", "provision", STREAM_STATS_SECONDS="2")
        assert recap_changed(output) == 2  # the settings file and the restart
        status = make("stream-status", user_env)
        restarted = re.search(r"running \(supervisor, pid (\d+)", status)
        assert streamer_pid and restarted and restarted.group(1) != streamer_pid.group(1)

        output = timed("stop", "stream-stop")
        assert "stopped cleanly" in output
        output = make("stream-status", user_env)
        assert "not running" in output

        delivered = delivered_ids(state_dir)
        assert sorted(delivered) == sorted(sent), (
            f"{len(set(sent) - set(delivered))} sent tweet(s) missing from S3, "
            f"{len(delivered) - len(set(delivered))} duplicated"
        )

        make("aws-destroy", user_env)
    finally:
        started |= our_pids(state_dir)
        code, output = run_make("local-down", user_env)
        assert code == 0, f"make local-down failed:\n{output[-4000:]}"
        print(f"streamer host timings (s): {timings}")

    left = {pid for pid in started | our_pids(state_dir) if pid_alive(pid)}
    assert not left, f"processes left behind: {left}"
    output = make_fails("stream-status", user_env)
    assert "no host in group 'streamer'" in output
