"""The triage host over real SSH: triage.yml provisions the loopback host as it does EC2's.

local-aws-up (moto) and a bucket, local-host-up (a real sshd on loopback, no systemd),
triage-provision twice (offline, hash-checked install of the data, model and triage extras
into a code folder kept across runs, see HOST_CODE_CACHE; the second run must change
nothing), the follower, the scorer, the reply outbox worker (X_CLIENT_ID is set) and the inbox
running under the project's supervisor, the X app's secret in the 0640 settings file only and
the token key file made 0600 for the services' user, the inbox's /healthz through an SSH
tunnel (`ssh -L`, as the docs tell operators), raw objects put into the bucket reaching the
host's triage store, the daily jobs run once by hand
(triage-host-loop) and by their schedule, triage-host-stop, local-down, and no process of the
run left. Everything runs through `make -f Makefile-stream ...` with a private state folder
and free ports, as a user would.
"""

from __future__ import annotations

import contextlib
import getpass
import grp
import gzip
import json
import os
import pwd
import re
import shutil
import socket
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from tests.integration.test_stream_host import (
    _wait_for,
    make,
    read_env_file,
    recap_changed,
    run_make,
    snapshot_checkout,
)
from tests.unit.live.scorer_model import build_scorer_model
from tests.unit.model.conftest import write_splits
from tweet_triage.hosts.processes import free_port, pid_alive
from tweet_triage.model.folder import ModelMeta
from tweet_triage_local.corpus.store import BUNDLED_TWEETS, load_tweets
from tweet_triage_local.host import (
    FALLBACK_ROOTS,
    HostError,
    HostFiles,
    ensure_packages,
    local_triage_run_dir,
    ssh_options,
)

# One SSH host at a time (they share its system user and the host caches): one xdist group.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("ssh-host")]

STACK = "tt-e2e-triage"
BUCKET = "tt-e2e-triage-bucket"
TWEETS_PUT = 200  # corpus tweets put into the bucket as raw objects; the profile keeps most
TWEETS_WANTED = 5  # at least this many must reach the host's store
SERVICES = (
    "tweet-triage-follow",
    "tweet-triage-scorer",
    "tweet-triage-outbox",
    "tweet-triage-inbox",
)
X_CLIENT_SECRET = "tt-e2e-x-client-secret"  # must reach the settings file, never the output
JOBS = ("tweet-triage-retrain", "tweet-triage-drift")
LOOP_EVERY_SECONDS = 60  # the schedule's period here (daily on a real host)
# The host's code folder (venv, ~2 GB of Spark, torch, MLflow) is kept across runs, like the
# controller's wheel bundle: a run installs the dependencies only when their set changed (and
# on a fresh machine), and the project's wheel whenever the sources did. Everything else of
# the host lives under the test's own prefix. Below /var/tmp so the services' user reaches it.
HOST_CODE_CACHE = FALLBACK_ROOTS / "cache" / "tweet-triage-triage"


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    """A private state folder (pytest's tmp is 0700): the host's files then live under
    /var/tmp/tweet-triage-host/<id>, where the services' system user can reach them."""
    folder = tmp_path / "state"
    folder.mkdir()
    yield folder
    shutil.rmtree(HostFiles(folder).root, ignore_errors=True)


@dataclass(frozen=True)
class HostRun:
    env: dict[str, str]
    inbox_port: int


@pytest.fixture
def host_run(state: Path) -> HostRun:
    """A user's shell: private state and ports, the demo mission, a small Spark, quick polls;
    the playbook's variables for this test (the sources' snapshot, the model, the splits)."""
    model, splits = controller_files(state / "controller")
    inbox_port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "X_", "STREAM_", "TRIAGE_", "SPARK_"))
        and k not in ("TT_IGNORE_DOTENV", "ANSIBLE_INVENTORY", "MLFLOW_TRACKING_URI")
    }  # MLFLOW_TRACKING_URI: a file here; the host keeps its own registry
    extra_vars = {
        "triage_source_dir": str(snapshot_checkout(state / "checkout")),
        "triage_opt_dir": str(HOST_CODE_CACHE),
        "triage_model_dir": str(model),
        "triage_splits_dir": str(splits),
        "triage_inbox_port": inbox_port,
        "triage_loop_every_seconds": LOOP_EVERY_SECONDS,
    }
    env.update(
        TT_STATE_DIR=str(state),
        LOCAL_AWS_PORT=str(free_port()),
        STACK_NAME=STACK,
        S3_BUCKET=BUCKET,
        MISSION_PROFILE="demo",
        SPARK_MASTER="local[2]",
        SPARK_CONF=json.dumps({"spark.ui.enabled": "false", "spark.driver.memory": "1g"}),
        TRIAGE_SCORE_EVERY="2",
        X_CLIENT_ID="tt-e2e-x-app",  # an X app: the host runs the outbox worker
        X_CLIENT_SECRET=X_CLIENT_SECRET,
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_ARGS=f"-e '{json.dumps(extra_vars)}'",
    )
    return HostRun(env, inbox_port)


def controller_files(folder: Path) -> tuple[Path, Path]:
    """A tiny model with a drift reference, and tiny data splits, for the role to copy."""
    model = build_scorer_model(folder / "model")
    meta = ModelMeta.load(model)
    meta.reference_distribution = {"overall": {"flag_rate": 0.5, "mean": 0.5}}
    meta.save(model)
    return model, write_splits(folder / "data") / "splits"


def put_raw_objects(state_dir: Path) -> set[str]:
    """Corpus tweets as Firehose writes them (gzip, one X API object per line): two objects."""
    aws = read_env_file(state_dir / "local-aws.env")
    s3 = boto3.client(
        "s3",
        endpoint_url=aws["AWS_ENDPOINT_URL"],
        region_name=aws["AWS_REGION"],
        aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"],
    )
    tweets = load_tweets(BUNDLED_TWEETS)[-TWEETS_PUT:]
    for number, half in enumerate((tweets[: TWEETS_PUT // 2], tweets[TWEETS_PUT // 2 :])):
        lines = [
            json.dumps({"data": {**t, "lang": "en"}, "matching_rules": [{"id": "1", "tag": "t"}]})
            for t in half
        ]
        key = f"raw/2026/12/01/15/tt-e2e-host-tweets-1-2026-12-01-15-00-0{number}-host.gz"
        s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress("\n".join(lines).encode()))
    return {t["id"] for t in tweets}


def stored_ids(host_root: Path) -> set[str]:
    database = host_root / "var" / "lib" / "tweet-triage-triage" / "triage" / "triage.db"
    if not database.is_file():
        return set()
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        try:
            return {row[0] for row in db.execute("SELECT id FROM scored_tweets")}
        except sqlite3.OperationalError:  # locked by the scorer's write, or not migrated yet
            return set()


@contextlib.contextmanager
def inbox_tunnel(state_dir: Path, inbox_port: int) -> Iterator[int]:
    """`ssh -L` to the host's inbox, as an operator reaches it on EC2; yields the local port."""
    files = HostFiles(state_dir)
    local_port = free_port()
    ssh_port = int(files.port_file.read_text())
    tunnel = subprocess.Popen(
        ["ssh", *ssh_options(files), "-o", "ExitOnForwardFailure=yes", "-o", "ControlPath=none",
         "-i", str(files.client_key), "-p", str(ssh_port), "-N",
         "-L", f"127.0.0.1:{local_port}:127.0.0.1:{inbox_port}", f"{getpass.getuser()}@127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        def listening() -> bool:
            if tunnel.poll() is not None:
                reason = tunnel.stderr.read() if tunnel.stderr else ""
                pytest.fail(f"the SSH tunnel exited: {reason}")
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", local_port)) == 0

        _wait_for(listening, "the SSH tunnel", limit=30)
        yield local_port
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=10)


def healthz(port: int) -> dict[str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
        return dict(json.loads(response.read()))


def our_pids(state_dir: Path) -> set[int]:
    """Every live process of this run: by pid file, supervisor state, or a command line that
    names the state folder or the host's prefix (the host's venv, Spark's JVM)."""
    roots = [str(state_dir), str(HostFiles(state_dir).root), str(HOST_CODE_CACHE)]
    run_dir = local_triage_run_dir(state_dir)
    pids: set[int] = set()
    for pid_file in state_dir.rglob("*.pid"):  # the stand-ins' (the host's root is elsewhere)
        with contextlib.suppress(OSError, ValueError):
            pids.add(int(pid_file.read_text().split()[0]))
    for supervised in run_dir.glob("*.pid"):
        with contextlib.suppress(OSError, ValueError):
            pids.add(int(supervised.read_text().split()[0]))
            child = json.loads(supervised.with_suffix(".state.json").read_text()).get("child_pid")
            if isinstance(child, int):
                pids.add(child)
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                command = (proc / "cmdline").read_bytes()
                if any(root.encode() in command for root in roots):
                    pids.add(int(proc.name))
    return {pid for pid in pids if pid_alive(pid)}


def test_triage_host_over_ssh(state: Path, host_run: HostRun) -> None:
    try:
        ensure_packages()
    except HostError as exc:
        pytest.skip(f"no SSH host possible on this machine: {exc}")

    state_dir, env, inbox_port = state, host_run.env, host_run.inbox_port
    host_root = HostFiles(state_dir).root
    run_dir = local_triage_run_dir(state_dir)
    timings: dict[str, float] = {}
    started: set[int] = set()

    def timed(name: str, target: str, **extra: str) -> str:
        begin = time.monotonic()
        output = make(target, env, **extra)
        timings[name] = round(time.monotonic() - begin, 1)
        return output

    try:
        make("local-aws-up", env)
        aws = read_env_file(state_dir / "local-aws.env")
        boto3.client(
            "s3",
            endpoint_url=aws["AWS_ENDPOINT_URL"],
            region_name=aws["AWS_REGION"],
            aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"],
        ).create_bucket(Bucket=BUCKET)
        make("local-host-up", env)

        first = timed("first provision", "triage-provision")
        assert recap_changed(first) > 0
        started |= our_pids(state_dir)
        second = timed("second provision", "triage-provision")
        assert recap_changed(second) == 0, f"second provision changed something:\n{second}"

        # The same offline, hash-pinned install as the streamer's, with the triage extras.
        lines = [
            line
            for name in ("requirements-hashed.txt", "project-hashed.txt")
            for line in (HOST_CODE_CACHE / name).read_text().splitlines()
            if line.strip()
        ]
        assert all(re.fullmatch(r"\S+==\S+ --hash=sha256:[0-9a-f]{64}", x) for x in lines)
        assert {"pyspark", "torch", "fastapi", "tweet_triage"} <= {x.split("==")[0] for x in lines}
        env_file = host_root / "etc" / "tweet-triage" / "triage.env"
        assert (env_file.stat().st_uid, env_file.stat().st_mode & 0o777) == (0, 0o640)
        assert f'TRIAGE_PORT="{inbox_port}"' in env_file.read_text()
        assert f'X_CLIENT_SECRET="{X_CLIENT_SECRET}"' in env_file.read_text()
        assert X_CLIENT_SECRET not in first + second
        # Made once by the provision, before the inbox and the outbox worker open it.
        key_file = host_root / "var" / "lib" / "tweet-triage-triage" / "triage" / "x-token.key"
        service_user = grp.getgrgid(env_file.stat().st_gid).gr_name
        assert pwd.getpwuid(key_file.stat().st_uid).pw_name == service_user != "root"
        assert key_file.stat().st_mode & 0o777 == 0o600

        status = timed("status", "triage-host-status")
        for name in SERVICES:
            assert re.search(rf"{name}: running \(supervisor", status), status

        # The jobs' first runs start with the services (none on record yet); once each has
        # finished, its scheduler waits for the next period.
        def jobs_scheduled() -> bool:
            nonlocal status
            if not all(re.search(rf"{name}: scheduled \(supervisor", status) for name in JOBS):
                status = make("triage-host-status", env)
                return False
            return True

        _wait_for(jobs_scheduled, "the daily jobs' first runs to finish", limit=240)

        # The inbox listens on the host's loopback only; the operator's way in is a tunnel.
        with inbox_tunnel(state_dir, inbox_port) as local_port:
            _wait_for(lambda: _answers(local_port), "the inbox through the tunnel", limit=120)
            assert healthz(local_port) == {"status": "ok", "database": "ok"}

        begin = time.monotonic()
        put = put_raw_objects(state_dir)
        _wait_for(
            lambda: len(stored_ids(host_root)) >= TWEETS_WANTED,
            f"{TWEETS_WANTED} tweets in the host's triage store",
            limit=300,
        )
        timings["bucket to store"] = round(time.monotonic() - begin, 1)
        assert stored_ids(host_root) <= put

        # The daily jobs, run once by hand: retrain refuses (no inbox labels yet, exit 2), the
        # drift check compares the live scores with the model's reference (0 pass, 1 drift).
        loop = " ".join(timed("loop jobs", "triage-host-loop").split())  # unfold YAML lines
        assert re.search(r"tweet-triage-retrain: exit 2:.*only 0 new label", loop), loop
        assert re.search(r"tweet-triage-drift: exit [01]:.*drift check within", loop), loop
        # ... and by their schedule, every LOOP_EVERY_SECONDS here.
        retrain_log = run_dir / "tweet-triage-retrain.log"
        _wait_for(
            lambda: retrain_log.is_file() and "run exited with code 2" in retrain_log.read_text(),
            "the scheduled retrain",
            limit=3 * LOOP_EVERY_SECONDS + 60,
        )
        assert "only 0 new label" in retrain_log.read_text()

        started |= our_pids(state_dir)
        stop = timed("stop", "triage-host-stop")
        for name in (*SERVICES, *JOBS):
            assert re.search(rf"{name}: stopped cleanly", stop), stop
        # The inbox first (no new replies), the outbox worker next (the reply in hand sent).
        order = [stop.index(f"{name}: stopped cleanly") for name in reversed(SERVICES)]
        assert order == sorted(order), stop
        status = make("triage-host-status", env)
        assert status.count("not running (supervisor: stopped)") == len(SERVICES) + len(JOBS)
    finally:
        started |= our_pids(state_dir)
        code, output = run_make("local-down", env)
        assert code == 0, f"make local-down failed:\n{output[-4000:]}"
        print(f"triage host timings (s): {timings}")

    left = {pid for pid in started | our_pids(state_dir) if pid_alive(pid)}
    assert not left, f"processes left behind: {left}"


def _answers(port: int) -> bool:
    try:
        return healthz(port)["status"] == "ok"
    except OSError:
        return False
