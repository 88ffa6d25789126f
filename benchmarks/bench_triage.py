"""The live path at one X connection's rates: follower -> streaming scorer -> triage store.

For each arrival rate (25, 50, 100, 250 and 500 tweets/s, `TRIAGE_BENCH_SECONDS` each, 60 s by
default) a fresh live path runs as users run it: a moto server holds the bucket, `tweet-triage
sync --follow` (a subprocess) copies new objects every second, `tweet-triage triage score`
(a subprocess, micro-batches every `TRIAGE_BENCH_SCORE_EVERY` s) scores them into a SQLite
triage store. The bench puts one Firehose-like gzip object a second into the bucket (what
Firehose does with a 1 s buffer), so a tweet arrives when its object lands. A bench profile
keeps every tweet (the heaviest case); the demo profile (about a third kept) runs at 250/s too.

Per rate: sustained scored tweets/s (the store's growth from 10 s into the window to its
end), tweets in the store per second of the whole measurement (window and drain),
arrival-to-store p50/p95/max (the store polled every 0.5 s), the backlog (arrived, not yet
in the store) every second (a plot of the keep-all rates), and the CPU seconds of each
process group read from /proc: the Spark JVM, the Python workers (the model), the scorer's
driver (the store's writes run in it; the scorer's own stats time them), the follower. A
rate's tweets still not in the store `TRIAGE_BENCH_DRAIN_SECONDS` after its window are
counted. Each rate starts a fresh scorer after one warm-up tweet, so the JVM's JIT is
still compiling during the window: its CPU share is that of a scorer's first minutes.

Also in the same run: a backlog of 15,000 raw tweets waiting when the scorer starts (`make live`
after `make demo`): when the first and the last reach the store. And `tweet-triage predict
--engine onnx` on the same tweets, so the scorer's sustained rate is a ratio of bare
inference. The machine is shared: each figure carries the load average it was taken at.

The model is the trained one in MODEL_DIR when there is one, else all-MiniLM-L6-v2 with an
untrained head: the same network, so the same cost.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECONDS_PER_RATE = float(os.environ.get("TRIAGE_BENCH_SECONDS", "60"))
DRAIN_BOUND = float(os.environ.get("TRIAGE_BENCH_DRAIN_SECONDS", "60"))
SCORE_EVERY = os.environ.get("TRIAGE_BENCH_SCORE_EVERY", "5")
RATES = tuple(int(r) for r in os.environ.get("TRIAGE_BENCH_RATES", "25,50,100,250,500").split(","))
BACKLOG_TWEETS = int(os.environ.get("TRIAGE_BENCH_BACKLOG", "15000"))
BACKLOG_OBJECT_TWEETS = 100  # a Firehose object of the demo's replay holds about this many
PREDICT_TWEETS = int(os.environ.get("TRIAGE_BENCH_PREDICT_TWEETS", "4000"))
RESULTS_DIR = Path(__file__).resolve().parent / "results"
KEEP_ALL_PROFILE = {
    "name": "bench-keep-all",
    "description": "Keeps every tweet: the live path's heaviest case.",
    "stream": {"rules": [{"tag": "bench", "value": "bench"}]},
    "filter": {"min_words": 0, "exclude_retweets": False},
}
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The scorer's own totals (its stats file): where a micro-batch's time goes.
SCORER_TIMES = (
    "batches",
    "scored",
    "busy_seconds",
    "score_seconds",
    "parquet_seconds",
    "store_seconds",
)


def _payload(tweet: dict[str, Any]) -> str:
    return json.dumps({"data": tweet, "matching_rules": [{"id": "1", "tag": "bench"}]}) + "\n"


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def bench_model(folder: Path) -> tuple[Path, str]:
    """The trained model in MODEL_DIR when there is one, else MiniLM with a fresh head.

    Not the registry's champion: a development registry may hold the tests' tiny models.
    """
    from tweet_triage.config import load_settings
    from tweet_triage.model.folder import SENTIMENT_LABELS, ModelMeta, default_backbone

    settings = load_settings()
    if (settings.model_dir / "triage.json").is_file():
        shutil.copytree(settings.model_dir, folder, ignore=shutil.ignore_patterns("onnx"))
        return folder, f"trained model ({settings.model_dir})"
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    backbone = default_backbone()
    AutoTokenizer.from_pretrained(backbone).save_pretrained(folder)
    AutoModelForSequenceClassification.from_pretrained(
        backbone, num_labels=3, id2label=SENTIMENT_LABELS
    ).save_pretrained(folder)
    ModelMeta(
        objective="three_class",
        threshold=0.5,
        id2label=dict(SENTIMENT_LABELS),
        needs_support_ids=[0, 1],
        max_length=128,
        backbone=backbone,
    ).save(folder)
    return folder, "all-MiniLM-L6-v2, untrained 3-class head (no trained model in MODEL_DIR)"


# --- CPU per process group, from /proc ----------------------------------------------------


def _proc_table() -> dict[int, tuple[int, str, int]]:
    """pid -> (parent pid, command name, utime + stime in ticks) of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(entry)] = (int(fields[1]), name, int(fields[11]) + int(fields[12]))
    return table


@dataclass
class CpuMeter:
    """CPU seconds per group; a process that ends keeps the last value it was seen with."""

    roots: dict[str, int]  # group -> root pid (its whole tree, unless claimed below)
    ticks: dict[int, tuple[str, int]] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)

    def _group(self, pid: int, table: dict[int, tuple[int, str, int]]) -> str | None:
        chain, current = [], pid
        while current in table and current > 1:
            chain.append(current)
            current = table[current][0]
        roots = {pid: group for group, pid in self.roots.items()}
        for depth, ancestor in enumerate(chain):
            if ancestor in roots:
                group = roots[ancestor]
                if group != "scorer":
                    return group
                below = [table[p][1] for p in chain[:depth]]
                if table[pid][1] == "java":
                    return "spark_jvm"
                if "java" in below:
                    return "python_workers"
                return "scorer_driver"
        return None

    def sample(self) -> None:
        table = _proc_table()
        for pid, (_, _, ticks) in table.items():
            group = self._group(pid, table)
            if group:
                self.ticks[pid] = (group, ticks)

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for group, ticks in self.ticks.values():
            out[group] = out.get(group, 0.0) + ticks / CLK_TCK
        return out

    def start_window(self) -> None:
        self.sample()
        self.baseline = self.totals()

    def window(self) -> dict[str, float]:
        self.sample()
        return {
            group: round(seconds - self.baseline.get(group, 0.0), 1)
            for group, seconds in sorted(self.totals().items())
        }


# --- one live path ------------------------------------------------------------------------


class StoreWatch:
    """When each tweet id first shows in the SQLite triage store (polled by rowid)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: dict[str, float] = {}
        self._rowid = 0

    def poll(self) -> None:
        if not self.path.is_file():
            return
        try:
            with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5) as db:
                rows = db.execute(
                    "SELECT rowid, id FROM scored_tweets WHERE rowid > ? ORDER BY rowid",
                    (self._rowid,),
                ).fetchall()
        except sqlite3.Error:  # the scorer creates the table when it starts
            return
        now = time.time()
        for rowid, tweet_id in rows:
            self.seen.setdefault(tweet_id, now)
            self._rowid = max(self._rowid, rowid)


@dataclass
class LivePath:
    root: Path
    env: dict[str, str]
    bucket: str
    follower: subprocess.Popen[bytes]
    scorer: subprocess.Popen[bytes]
    watch: StoreWatch
    started: float

    @property
    def stats_file(self) -> Path:
        return self.root / "state" / "triage" / "scorer-stats.json"

    def stats(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.stats_file.read_text()))
        except (OSError, ValueError):
            return {}

    def check(self) -> None:
        for name, process in (("scorer", self.scorer), ("follower", self.follower)):
            if process.poll() is not None:
                log = (self.root / f"{name}.log").read_text()[-3000:]
                raise RuntimeError(f"the {name} exited ({process.returncode}): {log}")


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tweet_triage", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(150)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)


def s3_client(endpoint: str) -> Any:
    import boto3

    from tweet_triage_local.aws import local_aws_settings

    settings = local_aws_settings(endpoint)
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=settings["AWS_REGION"],
        aws_access_key_id=settings["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=settings["AWS_SECRET_ACCESS_KEY"],
    )


def put_object(s3: Any, bucket: str, key: str, tweets: list[dict[str, Any]]) -> float:
    body = gzip.compress("".join(_payload(t) for t in tweets).encode())
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return time.time()


@contextmanager
def live_path(
    root: Path, endpoint: str, model: Path, profile: str, backlog: list[dict[str, Any]] = ()
) -> Iterator[LivePath]:
    """A bucket, the follower and the scorer; `backlog` waits in the bucket before they start."""
    from tweet_triage_local.aws import local_aws_settings

    root.mkdir(parents=True)
    bucket = f"bench-live-{root.name}"
    env = {
        **os.environ,
        **local_aws_settings(endpoint),
        "TT_IGNORE_DOTENV": "1",
        "TT_STATE_DIR": str(root / "state"),
        "S3_BUCKET": bucket,
        "MISSION_PROFILE": profile,
        "DATA_DIR": str(root / "data"),
        "TRIAGE_DATABASE_URL": f"sqlite:///{root / 'triage.db'}",
        "TRIAGE_MODEL": str(model),
        "TRIAGE_FOLLOW_SECONDS": "1",
        "TRIAGE_SCORE_EVERY": SCORE_EVERY,
        "SPARK_MASTER": "local[2]",
        "SPARK_CONF": json.dumps({"spark.ui.enabled": "false"}),
    }
    s3 = s3_client(endpoint)
    s3.create_bucket(Bucket=bucket)
    for n, start in enumerate(range(0, len(backlog), BACKLOG_OBJECT_TWEETS)):
        chunk = backlog[start : start + BACKLOG_OBJECT_TWEETS]
        put_object(s3, bucket, f"raw/2026/12/01/00/backlog-{n:05d}", chunk)
    follower = _spawn(["sync", "--follow", "--every", "1"], env, root / "follower.log")
    scorer = _spawn(["triage", "score"], env, root / "scorer.log")
    path = LivePath(
        root, env, bucket, follower, scorer, StoreWatch(root / "triage.db"), time.time()
    )
    try:
        yield path
    finally:
        _stop(scorer)
        _stop(follower)


def _percentiles(values: list[float]) -> dict[str, Any]:
    from tweet_triage.live.scorer import latency_percentiles

    out = latency_percentiles(values)
    out["max"] = round(max(values), 3) if values else None
    return out


def measure_rate(
    work: Path, endpoint: str, model: Path, profile: str, rate: int, corpus: list[dict[str, Any]]
) -> dict[str, Any]:
    """One rate on a fresh live path: warm-up, `SECONDS_PER_RATE` of arrivals, drain."""
    s3 = s3_client(endpoint)
    with live_path(work, endpoint, model, profile) as path:
        meter = CpuMeter({"scorer": path.scorer.pid, "follower": path.follower.pid})
        warm = {**corpus[-1], "id": "1", "text": "my netflix app keeps crashing, why"}
        put_object(s3, path.bucket, "raw/2015/01/01/00/warm-up", [warm])
        deadline = time.monotonic() + 900
        while "1" not in path.watch.seen:
            path.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the scorer did not score the warm-up tweet: {work}")
            path.watch.poll()
            time.sleep(0.5)
        startup = round(time.time() - path.started, 1)
        tweets = corpus[: int(rate * SECONDS_PER_RATE)]
        put_at: dict[str, float] = {}
        timeline: list[tuple[float, int, int]] = []
        load_start = load_average()
        stats_start = path.stats()
        meter.start_window()
        started = time.time()
        stop = threading.Event()

        def arrive() -> None:
            for second, begin in enumerate(range(0, len(tweets), rate)):
                chunk = tweets[begin : begin + rate]
                key = f"raw/2026/12/01/{second // 3600:02d}/bench-{rate}-{second:05d}"
                at = put_object(s3, path.bucket, key, chunk)
                put_at.update({t["id"]: at for t in chunk})
                stop.wait(max(0.0, started + second + 1 - time.time()))

        arrivals = threading.Thread(target=arrive, daemon=True)
        arrivals.start()
        next_sample = started
        while True:
            path.check()
            path.watch.poll()
            now = time.time()
            if now >= next_sample:
                stored = sum(1 for i in put_at if i in path.watch.seen)
                timeline.append((round(now - started, 1), len(put_at), stored))
                next_sample += 1.0
                meter.sample()
            read = path.stats().get("records", 0) - stats_start.get("records", 0)
            done = not arrivals.is_alive() and read >= len(put_at)  # every arrival processed
            if done or now - started > SECONDS_PER_RATE + DRAIN_BOUND:
                break
            time.sleep(0.5)
        cpu = meter.window()
        stats = path.stats()
        load_end = load_average()
    latencies = [path.watch.seen[i] - put_at[i] for i in put_at if i in path.watch.seen]
    window = [(t, stored) for t, _, stored in timeline if 10 <= t <= SECONDS_PER_RATE]
    sustained = (
        (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
        if len(window) > 1 and window[-1][0] > window[0][0]
        else None
    )
    return {
        "rate": rate,
        "profile": profile,
        "arrived": len(put_at),
        "stored": len(latencies),
        "read_by_scorer": stats.get("records", 0) - stats_start.get("records", 0),
        "kept_by_profile": stats.get("scored", 0) - stats_start.get("scored", 0),
        "sustained_scored_per_s": None if sustained is None else round(sustained, 1),
        "latency_seconds": _percentiles(latencies),
        "backlog": [(t, arrived - stored) for t, arrived, stored in timeline],
        "cpu_seconds": cpu,
        "batches": stats.get("batches", 0) - stats_start.get("batches", 0),
        "scorer": {key: stats.get(key) for key in SCORER_TIMES},
        "startup_seconds": startup,
        "measured_for_seconds": round(time.time() - started, 1),
        "load_average": {"start": load_start, "end": load_end},
    }


def measure_backlog(
    work: Path, endpoint: str, model: Path, corpus: list[dict[str, Any]]
) -> dict[str, Any]:
    """`make live` after `make demo`: a backlog waits; when do its first and last tweets land?"""
    tweets = corpus[:BACKLOG_TWEETS]
    load_start = load_average()
    with live_path(work, endpoint, model, "demo", backlog=tweets) as path:
        deadline = time.time() + 600
        while time.time() < deadline:  # until every raw record is read and its kept tweets stored
            path.check()
            path.watch.poll()
            stats = path.stats()
            if stats.get("records", 0) >= len(tweets) and stats.get("scored") == len(
                path.watch.seen
            ):
                break
            time.sleep(0.5)
        seen = sorted(path.watch.seen.values())
        stats = path.stats()
    return {
        "raw_tweets": len(tweets),
        "objects": -(-len(tweets) // BACKLOG_OBJECT_TWEETS),
        "kept_and_stored": len(seen),
        "first_in_store_after_s": round(seen[0] - path.started, 1) if seen else None,
        "all_in_store_after_s": round(seen[-1] - path.started, 1) if seen else None,
        "batches": stats.get("batches"),
        "load_average": {"start": load_start, "end": load_average()},
    }


def bare_inference(work: Path, model: Path, corpus: list[dict[str, Any]]) -> dict[str, Any]:
    """`tweet-triage predict --engine onnx` on the same tweets (its own copy of the model)."""
    import pandas as pd

    work.mkdir(parents=True)
    folder = work / "model"
    shutil.copytree(model, folder)
    tweets = corpus[:PREDICT_TWEETS]
    pd.DataFrame({"id": [t["id"] for t in tweets], "text": [t["text"] for t in tweets]}).to_parquet(
        work / "tweets.parquet"
    )
    args = ["predict", "--input", str(work / "tweets.parquet"), "--output"]
    args += [str(work / "scored.parquet"), "--model-dir", str(folder), "--engine", "onnx", "--json"]
    runs = []
    for _ in range(2):  # the first exports the model to ONNX; the second is what a user sees
        load_start, started = load_average(), time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "tweet_triage", *args],
            env={**os.environ, "TT_IGNORE_DOTENV": "1", "TT_STATE_DIR": str(work / "state")},
            capture_output=True,
            text=True,
            check=True,
        )
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        runs.append(
            {
                "tweets": summary["scored"],
                "scoring_seconds": round(summary["seconds"], 1),
                "tweets_per_s": round(summary["tweets_per_second"], 1),
                "wall_seconds_with_load": round(time.perf_counter() - started, 1),
                "load_average": {"start": load_start, "end": load_average()},
            }
        )
    return {"engine": "onnx", "runs": runs, **runs[-1]}


def profile_name(row: dict[str, Any]) -> str:
    return Path(row["profile"]).stem


def plot_backlog(rates: list[dict[str, Any]], path: Path, title: str) -> None:
    """The keep-all rates' backlog (with the demo profile, arrived minus stored would count
    the tweets the profile drops as backlog)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4.5))
    for row in rates:
        if profile_name(row) == "demo":
            continue
        times = [t for t, _ in row["backlog"]]
        axis.plot(times, [b for _, b in row["backlog"]], label=f"{row['rate']}/s")
    axis.axvline(SECONDS_PER_RATE, color="grey", linestyle=":", label="arrivals end")
    axis.set_xlabel("seconds since arrivals began")
    axis.set_ylabel("backlog (tweets arrived, not in the store)")
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def run() -> dict[str, Any]:
    import yaml

    from tweet_triage.hosts.processes import free_port
    from tweet_triage_local.aws import start_local_aws, stop_local_aws
    from tweet_triage_local.corpus.store import BUNDLED_TWEETS, load_tweets

    label = os.environ.get("TRIAGE_BENCH_LABEL", "after")
    corpus = [t for t in load_tweets(BUNDLED_TWEETS) if t.get("text")]
    corpus = [{**t, "id": str(10**15 + n)} for n, t in enumerate(corpus)]  # the warm-up is "1"
    with tempfile.TemporaryDirectory(prefix="bench-triage-") as folder:
        root = Path(folder)
        model, model_name = bench_model(root / "model")
        profile = root / "keep-all.yaml"
        profile.write_text(yaml.safe_dump(KEEP_ALL_PROFILE))
        endpoint = start_local_aws(root / "moto", free_port())
        try:
            predict = bare_inference(root / "predict", model, corpus)
            print(f"  predict --engine onnx: {predict}", flush=True)
            rates = []
            for rate in RATES:
                rates.append(
                    measure_rate(root / f"r{rate}", endpoint, model, str(profile), rate, corpus)
                )
                print(f"  {rate}/s keep-all: {_brief(rates[-1])}", flush=True)
            rates.append(measure_rate(root / "demo250", endpoint, model, "demo", 250, corpus))
            print(f"  250/s demo: {_brief(rates[-1])}", flush=True)
            backlog = measure_backlog(root / "backlog", endpoint, model, corpus)
            print(f"  backlog: {backlog}", flush=True)
        finally:
            stop_local_aws(root / "moto")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    plot = RESULTS_DIR / f"triage-backlog-{label}.png"
    plot_backlog(
        rates, plot, f"live path backlog, keep-all ({label}; scorer every {SCORE_EVERY} s)"
    )
    result = {
        "label": label,
        "model": model_name,
        "seconds_per_rate": SECONDS_PER_RATE,
        "drain_bound_seconds": DRAIN_BOUND,
        "score_every_seconds": float(SCORE_EVERY),
        "follow_every_seconds": 1.0,
        "predict_onnx": predict,
        "rates": rates,
        "backlog_start": backlog,
        "backlog_plot": plot.name,
    }
    before = RESULTS_DIR / "triage-before.json"
    if label != "before" and before.is_file():
        result["before"] = json.loads(before.read_text())
    return result


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "backlog"}


def _largest_batches(result: dict[str, Any]) -> list[str]:
    """The scorer's rate inside its largest micro-batch of each rate (from its log)."""
    rows = [r for r in result["rates"] if r.get("largest_batch")]
    if not rows:
        return []
    cells = [
        f"{r['rate']}/s {profile_name(r)}: {r['largest_batch']['scored']:,} in "
        f"{r['largest_batch']['seconds']:g} s = {r['largest_batch']['scored_per_s']}/s "
        f"({r['largest_batch']['x_predict_onnx']}x)"
        for r in rows
    ]
    return [
        "",
        "Largest micro-batch of each rate, scored tweets/s (x predict onnx): "
        + "; ".join(cells)
        + ".",
    ]


def _busy(scorer: dict[str, Any] | None) -> str:
    if not scorer or scorer.get("busy_seconds") is None:
        return "-"
    parts = " / ".join(
        f"{scorer[k]:.0f}" for k in ("score_seconds", "parquet_seconds", "store_seconds")
    )
    return f"{scorer['busy_seconds']:.0f}: {parts}"


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:,}"


def _rate_table(result: dict[str, Any]) -> list[str]:
    bare = result["predict_onnx"]["tweets_per_s"]
    lines = [
        "| arriving/s (profile) | arrived | in store | sustained scored/s | x predict onnx "
        "| in store / s measured | p50 s | p95 s | max s | backlog at end of arrivals | CPU s: "
        "JVM / Python workers / driver / follower | scorer busy s: read and score / Parquet / "
        "store | load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for row in result["rates"]:
        lat = row["latency_seconds"]
        at_end = [b for t, b in row["backlog"] if t <= result["seconds_per_rate"]]
        cpu = row["cpu_seconds"]
        split = " / ".join(
            _fmt(cpu.get(k)) for k in ("spark_jvm", "python_workers", "scorer_driver", "follower")
        )
        sustained = row["sustained_scored_per_s"]
        ratio = None if sustained is None else round(sustained / bare, 2)
        lines.append(
            f"| {row['rate']} ({profile_name(row)}) | "
            f"{row['arrived']:,} | {row['stored']:,} | {_fmt(sustained)} | {_fmt(ratio)} | "
            f"{row['stored'] / row['measured_for_seconds']:.1f} | "
            f"{_fmt(lat['p50'])} | {_fmt(lat['p95'])} | {_fmt(lat['max'])} | "
            f"{_fmt(at_end[-1] if at_end else None)} | {split} | {_busy(row.get('scorer'))} | "
            f"{row['load_average']['start']} - {row['load_average']['end']} |"
        )
    return lines


def summarise(result: dict[str, Any]) -> str:
    bare = result["predict_onnx"]
    backlog = result["backlog_start"]
    lines = [
        "## Live path: follower -> streaming scorer -> triage store",
        "",
        f"Model: {result['model']}. Each rate {result['seconds_per_rate']:g} s of arrivals (one "
        f"gzip object a second into the moto bucket), then up to "
        f"{result['drain_bound_seconds']:g} s to drain; `sync --follow` every "
        f"{result['follow_every_seconds']:g} s, micro-batches every "
        f"{result['score_every_seconds']:g} s, SQLite store, `local[2]` on the shared 2-core "
        "machine. keep-all: a bench profile that keeps every tweet; demo: the demo profile.",
        "",
        f"`predict --engine onnx` on {bare['tweets']:,} of the same tweets: "
        f"{bare['tweets_per_s']} tweets/s ({bare['scoring_seconds']} s scoring, "
        f"{bare['wall_seconds_with_load']} s with the model load; load average "
        f"{bare['load_average']['start']} - {bare['load_average']['end']}).",
        "",
        *_rate_table(result),
        *_largest_batches(result),
        "",
        f"Backlog at start (`make live` after `make demo`): {backlog['raw_tweets']:,} raw tweets "
        f"in {backlog['objects']} objects, demo profile: the first in the store "
        f"{_fmt(backlog['first_in_store_after_s'])} s after the scorer started, all "
        f"{backlog['kept_and_stored']:,} kept after {_fmt(backlog['all_in_store_after_s'])} s "
        f"({backlog['batches']} micro-batches; load average {backlog['load_average']['start']} "
        f"- {backlog['load_average']['end']}). Backlog plot: `{result['backlog_plot']}`.",
    ]
    before = result.get("before")
    if before:
        lines += ["", "Before the changes (same bench, same machine, earlier):", ""]
        lines += [
            f"`predict --engine onnx`: {before['predict_onnx']['tweets_per_s']} tweets/s.",
            "",
            *_rate_table(before),
            "",
            f"Backlog at start: first in the store after "
            f"{_fmt(before['backlog_start']['first_in_store_after_s'])} s, all after "
            f"{_fmt(before['backlog_start']['all_in_store_after_s'])} s.",
        ]
    return "\n".join(lines)
