"""The same jobs on a Spark standalone cluster: a master and two workers on loopback
(`local spark-up`), each job submitted with `spark-submit` in client mode as on a production
cluster.

- combine through split on the cluster give what local mode gives on the same raw objects:
  the same summaries, and per split the same rows (a checksum of ids and labels);
- the streaming scorer on the cluster, one worker SIGKILLed mid-stream (a lost node, its
  executor with it): every tweet the profile keeps is in the store and the scored table
  exactly once;
- the cluster starts once (a repeated start changes nothing, and restarts a lost worker) and
  its stop leaves no process behind.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from tests.unit.live.scorer_model import build_scorer_model
from tweet_triage.config import CORPUS_DIR, Settings, load_settings
from tweet_triage.data import combine, filtering, jobs, process
from tweet_triage.data.paths import DataPaths
from tweet_triage.hosts.processes import pid_alive
from tweet_triage.live.store import TriageStore
from tweet_triage.profile import load_profile
from tweet_triage_local.spark_cluster import (
    ClusterFiles,
    ClusterLayout,
    cluster_status,
    master_state,
    start_spark_cluster,
    stop_spark_cluster,
    submit_command,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STAGES = ("combine", "filter", "process", "label", "split")
TWEETS = 2_000
PER_OBJECT = 250
# The confs of the local run (tests' SPARK_TEST_CONF) that shape results, given to the
# cluster's applications too; the JVM flags keep short jobs cheap on a busy machine.
CLUSTER_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.executor.memory": "1g",
    "spark.executor.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}
DRIVER_ARGS = ("--driver-java-options", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ClusterLayout]]:
    """One cluster for the module; its stop must leave none of its processes (executors
    included) running."""
    state = tmp_path_factory.mktemp("spark-cluster")
    layout = start_spark_cluster(state)
    yield state, layout
    pids = _cluster_pids(state)
    stop_spark_cluster(state)
    assert not [pid for pid in pids if pid_alive(pid)], "processes left after spark-down"
    assert cluster_status(state) == {"running": False}
    assert not (state / "local-spark.env").exists()


def _cluster_pids(state: Path) -> set[int]:
    """Every process of the cluster: its daemons and everything in their process groups."""
    return _processes(groups={s.pid() for s in ClusterFiles(state).services()} - {None})


def _processes(*, groups: set[int] | None = None, parent: int | None = None) -> set[int]:
    """Pids in the process groups `groups`, or the children of `parent` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid, pgrp = int(fields[1]), int(fields[2])
        if (groups is not None and pgrp in groups) or ppid == parent:
            found.add(int(stat.parent.name))
    return found


def app_names(layout: ClusterLayout, key: str) -> list[str]:
    """The master's own list of applications, `activeapps` or `completedapps`."""
    return [app["name"] for app in (master_state(layout.ui_url) or {}).get(key, [])]


def corpus_lines(count: int) -> list[str]:
    """Corpus tweets as the streamer stores them (the payload as X sent it)."""
    with gzip.open(CORPUS_DIR / "tweets.jsonl.gz", "rt", encoding="utf-8") as corpus:
        tweets = [json.loads(line) for line in itertools.islice(corpus, count)]
    payloads = [{"data": t, "matching_rules": [{"id": "7", "tag": "demo"}]} for t in tweets]
    return [json.dumps(p) + "\n" for p in payloads]


def write_object(raw: Path, index: int, lines: list[str]) -> None:
    folder = raw / "2026" / "11" / "21" / f"{10 + index // 4:02d}"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"tweet-triage-tweets-1-2026-11-21-{10 + index // 4:02d}-{index:04d}.gz"
    temporary = folder / f".{name}.tmp"  # renamed in whole, as `sync` writes objects
    temporary.write_bytes(gzip.compress("".join(lines).encode()))
    temporary.rename(folder / name)


def use(monkeypatch: pytest.MonkeyPatch, **environment: str) -> Settings:
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    load_settings.cache_clear()
    return load_settings()


def submit(settings: Settings, *args: str, log: Path) -> subprocess.Popen[bytes]:
    """`spark-submit --deploy-mode client ... tweet-triage ARGS`, in its own process group."""
    command, environment = submit_command(settings, args, spark_args=DRIVER_ARGS)
    with log.open("ab") as out:
        return subprocess.Popen(
            command, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def split_checksums(root: Path, spark: SparkSession) -> dict[str, tuple[int, str]]:
    """Per split: rows, and a SHA-256 over its sorted (id, needs_support, sentiment)."""
    result = {}
    for name in ("train", "val", "test"):
        rows = spark.read.parquet(str(root / "splits" / name)).select(
            "id", "needs_support", "sentiment"
        )
        values = sorted(tuple(r) for r in rows.collect())
        result[name] = (len(values), hashlib.sha256(repr(values).encode()).hexdigest())
    return result


def comparable(summary: dict[str, Any]) -> dict[str, Any]:
    return {key: summary[key] for key in ("rows_in", "rows_out", "reasons")}


def test_stages_on_the_cluster_equal_local_mode(
    cluster: tuple[Path, ClusterLayout],
    spark: SparkSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, layout = cluster
    started = cluster_status(state)
    assert started["alive_workers"] >= 1
    again = start_spark_cluster(state)  # idempotent: same cluster, same processes
    assert again == layout and cluster_status(state)["pids"] == started["pids"]

    lines = corpus_lines(TWEETS)
    lines[7] = "{not json\n"  # quarantined
    objects = [lines[i : i + PER_OBJECT] for i in range(0, TWEETS, PER_OBJECT)]
    objects[-1] += lines[100:120]  # at-least-once: a batch delivered twice
    for name in ("local", "cluster"):
        for index, chunk in enumerate(objects):
            write_object(tmp_path / name / "raw", index, chunk)

    # Local mode: the tests' local[2] session, in this process.
    local = DataPaths(tmp_path / "local")
    local_settings = use(monkeypatch, MISSION_PROFILE="demo", SPARK_MASTER="local[2]")
    jobs.run_combine(spark, local)
    jobs.run_filter(spark, local, "demo")
    jobs.run_process(spark, local)
    jobs.run_label(spark, local, local_settings)
    jobs.run_split(spark, local)

    # The cluster: one spark-submit per stage, as a scheduler (or EMR steps) would run them.
    settings = use(
        monkeypatch,
        DATA_DIR=str(tmp_path / "cluster"),
        SPARK_MASTER=layout.master_url,
        SPARK_CONF=json.dumps(CLUSTER_CONF),
    )
    log = tmp_path / "cluster.log"
    for stage in STAGES:
        assert submit(settings, stage, log=log).wait(600) == 0, log.read_text()[-4000:]
    assert set(STAGES) <= set(app_names(layout, "completedapps"))  # they ran on the cluster

    def summaries(root: Path) -> dict[str, dict[str, Any]]:
        return {s: json.loads((root / "summaries" / f"{s}.json").read_text()) for s in STAGES}

    on_cluster, in_local = summaries(tmp_path / "cluster"), summaries(tmp_path / "local")
    assert in_local["combine"]["reasons"] == {"duplicate_id": 20, "quarantined:not_json": 1}
    assert in_local["split"]["rows_out"] > 0
    for stage in STAGES:
        assert comparable(on_cluster[stage]) == comparable(in_local[stage]), stage
    assert split_checksums(tmp_path / "cluster", spark) == split_checksums(
        tmp_path / "local", spark
    )


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def test_scorer_on_the_cluster_survives_a_lost_worker(
    cluster: tuple[Path, ClusterLayout],
    spark: SparkSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, layout = cluster
    start_spark_cluster(state)  # both workers, whatever ran before
    raw = tmp_path / "data" / "raw"
    settings = use(
        monkeypatch,
        DATA_DIR=str(tmp_path / "data"),
        MISSION_PROFILE="demo",
        TRIAGE_DATABASE_URL=f"sqlite:///{tmp_path / 'triage.db'}",
        TRIAGE_MODEL=str(build_scorer_model(tmp_path / "model")),
        TRIAGE_MAX_FILES_PER_TRIGGER="2",
        SPARK_MASTER=layout.master_url,
        SPARK_CONF=json.dumps(CLUSTER_CONF),
    )
    lines = corpus_lines(600)
    objects = [lines[i : i + 50] for i in range(0, len(lines), 50)]
    write_object(raw, 0, objects[0])  # scored first: the model is loaded before the stream
    stats_file = settings.state_dir / "triage" / "scorer-stats.json"
    log = tmp_path / "scorer.log"
    scorer = submit(settings, "triage", "score", "--every", "2s", log=log)

    def scored() -> int:
        if scorer.poll() is not None:
            raise AssertionError(f"scorer exited: {log.read_text()[-4000:]}")
        try:
            return int(json.loads(stats_file.read_text()).get("scored", 0))
        except (OSError, ValueError):
            return 0

    try:
        wait_until(lambda: scored() > 0, 600, "the scorer to score the first object")
        assert "triage-score" in app_names(layout, "activeapps")
        first = scored()
        for index in range(1, 6):
            write_object(raw, index, objects[index])
        wait_until(lambda: scored() > first, 300, "the stream's next tweets scored")
        # A node lost mid-stream: its worker and the executor on it, killed outright.
        lost = ClusterFiles(state).worker(1)
        lost_pid = lost.pid()
        assert lost_pid is not None
        node = _processes(groups={lost_pid})
        assert len(node) > 1, "the worker runs an executor of the scorer"
        os.killpg(lost_pid, signal.SIGKILL)
        wait_until(lambda: not any(pid_alive(p) for p in node), 30, "the lost node's processes")
        for index in range(6, len(objects)):
            write_object(raw, index, objects[index])
            time.sleep(1)

        parsed = combine.parse_records(combine.read_raw_lines(spark, str(raw)))
        tweets = combine.deduplicate(parsed)
        compiled = filtering.compile_filter(load_profile("demo").filter)
        kept = process.add_features(
            filtering.apply_filter(tweets, compiled).where(F.col("decision") == filtering.KEPT)
        ).where(F.col("model_text") != "")
        expected = sorted(r["id"] for r in kept.select("id").collect())
        assert 0 < len(expected) < len(lines)

        store = TriageStore(settings.triage_store_url)
        wait_until(lambda: scored() >= len(expected), 600, "the scorer to catch up")
        time.sleep(6)  # more triggers: nothing more may arrive
        assert scored() == len(expected)
    finally:
        # A stop as a supervisor sends it: SIGTERM to the Python driver, which lets a running
        # micro-batch finish; spark-submit's JVM exits with it.
        for driver in _processes(parent=scorer.pid):
            os.kill(driver, signal.SIGTERM)
        try:
            code = scorer.wait(180)
        except subprocess.TimeoutExpired:
            os.killpg(scorer.pid, signal.SIGKILL)
            raise
    assert code == 0, log.read_text()[-4000:]

    table = spark.read.parquet(str(settings.data_dir / "scored"))
    assert sorted(r["id"] for r in table.select("id").collect()) == expected  # each once
    assert sorted(t.id for t in store.tweets(limit=10_000)) == expected
    assert store.count_scored() == len(expected)

    assert not lost.running()
    start_spark_cluster(state)  # a repeated start brings the lost worker back
    assert lost.running() and cluster_status(state)["alive_workers"] == layout.workers
