"""Data stage throughput: combine, filter, process, label and split in tweets/s, at the demo
corpus size and at 1.2 million raw tweets (the original's volume), in one run.

The input is generated here, deterministically, in a temporary folder (never committed):
the bundled corpus as it is at demo size, and at 1.2 M the corpus 24 more times, each round
with its own templated perturbation of every text (a different lead-in and sign-off, words
that no filter rule names), so all 1.2 M texts are distinct and filter, process, label and
split each handle their realistic share. Every tweet gets a fresh id, an author, and a
creation time spread over a 12-day mission (288 hourly partitions at both sizes); records
are gzip Firehose objects of 5,000 in the hourly key layout, and an annotations file labels
every tweet with its source's label. Both sizes run with the demo profile.

Each size runs the stages in a fresh Python process with its own SparkSession (start-up
reported on its own), one at a time: in `local[*]` and, for `make bench BENCH=data_cluster`
(benchmarks/bench_data_cluster.py), then on a Spark standalone cluster on loopback
(`tweet_triage_local.spark_cluster`: a master and two workers of one core each, the same two
cores) in client mode, so the cluster's overhead on one machine is a ratio from one run.
With `BENCH_DATA_BASELINE=<src folder of another checkout>` (for example a `git worktree` of
the commit before a change) the same input also goes through that code first, so before and
after are compared side by side in one run.
The original needed 20 min 45 s to combine and 52 s to filter 1.16 M tweets with pandas on
12 CPUs (original-system.md §4.1-4.2).
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SIZES = {"demo": None, "1.2M": 1_200_000}
MISSION_START = datetime(2026, 11, 21, tzinfo=UTC)
MISSION_SECONDS = 12 * 24 * 3600
RECORDS_PER_OBJECT = 5_000
FRESH_IDS = 1_600_000_000_000_000_000
ORIGINAL = {"tweets": 1_163_060, "combine_s": 20 * 60 + 45, "filter_s": 52, "cpus": 12}
STAGES = ("combine", "filter", "process", "label", "split")
TIMED = ("combine", "filter", "process", "split")  # the four the original is compared on
# Round r > 0 of the corpus wraps every text in LEAD_INS[r % 6] and SIGN_OFFS[r // 6]: 24
# distinct pairs for the 24 extra rounds of 1.2 M. No word here is a filter term.
LEAD_INS = ("", "Okay so", "Quick note:", "Heard that", "Reading this:", "Honestly,")
SIGN_OFFS = ("", "Any views?", "Just saying.", "Noted here.", "Via the feed.")


def _corpus() -> list[dict[str, Any]]:
    from tweet_triage.config import CORPUS_DIR

    with gzip.open(CORPUS_DIR / "tweets.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _labels() -> dict[str, str]:
    from tweet_triage.config import CORPUS_DIR

    with gzip.open(CORPUS_DIR / "annotations.csv.gz", "rt", encoding="utf-8") as handle:
        return {row["id"]: row["sentiment"] for row in csv.DictReader(handle)}


def perturbed(text: str, round_: int) -> str:
    """The corpus text of round `round_`: round 0 as is, later rounds with their template."""
    lead, sign_off = LEAD_INS[round_ % len(LEAD_INS)], SIGN_OFFS[round_ // len(LEAD_INS)]
    return " ".join(part for part in (lead, text, sign_off) if part)


def write_inputs(root: Path, size: int | None) -> tuple[int, Path]:
    """Raw objects under root/data/raw and an annotations CSV; returns (tweets, csv path)."""
    corpus, labels = _corpus(), _labels()
    total = size or len(corpus)
    if total > len(corpus) * len(LEAD_INS) * len(SIGN_OFFS):
        raise ValueError(f"{total} tweets would repeat texts; add templates")
    step = MISSION_SECONDS / total
    raw = root / "data" / "raw"
    annotations = root / "annotations.csv"
    with annotations.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "sentiment"])
        batch: list[str] = []
        objects = 0
        for n in range(total):
            round_, position = divmod(n, len(corpus))
            source = corpus[(position * 7919) % len(corpus)]  # 7919 is prime: a permutation
            tweet = dict(source)
            tweet_id = str(FRESH_IDS + n)
            created = MISSION_START + timedelta(seconds=n * step)
            tweet.update(
                id=tweet_id,
                text=perturbed(source["text"], round_),
                created_at=created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                edit_history_tweet_ids=[tweet_id],
                author_id=str(1000 + n % 40_000),
                conversation_id=tweet_id,
            )
            if source["id"] in labels:
                writer.writerow([tweet_id, labels[source["id"]]])
            user = {"id": tweet["author_id"], "username": f"user{n % 40_000}", "name": "A"}
            batch.append(
                json.dumps(
                    {
                        "data": tweet,
                        "matching_rules": [{"id": "1", "tag": "demo"}],
                        "includes": {"users": [user]},
                    },
                    separators=(",", ":"),
                )
            )
            if len(batch) == RECORDS_PER_OBJECT or n == total - 1:
                hour = MISSION_START + timedelta(seconds=n * step)
                folder = raw / hour.strftime("%Y/%m/%d/%H")
                folder.mkdir(parents=True, exist_ok=True)
                name = f"tweet-triage-tweets-1-{hour:%Y-%m-%d-%H}-{objects:06d}.gz"
                (folder / name).write_bytes(gzip.compress(("\n".join(batch) + "\n").encode(), 1))
                batch, objects = [], objects + 1
    return total, annotations


def _run_stages(root: Path, annotations: Path) -> dict[str, Any]:
    """Run every stage on root/data in this process (a fresh SparkSession); the timings."""
    import tweet_triage
    from tweet_triage.config import Settings
    from tweet_triage.data import jobs
    from tweet_triage.data.paths import DataPaths
    from tweet_triage.data.spark import spark_session

    started = time.perf_counter()
    spark = spark_session(Settings(), "bench-data", {"spark.ui.enabled": "false"})
    executors = int(os.environ.get("BENCH_DATA_EXECUTORS", "0"))
    if executors:  # a cluster: its executors registered before anything is timed
        _wait_for_executors(spark, executors)
    cluster_groups = {
        int(g) for g in os.environ.get("BENCH_DATA_CLUSTER_GROUPS", "").split(",") if g
    }
    result: dict[str, Any] = {
        "code": str(Path(tweet_triage.__file__).parent),
        "spark_start_s": round(time.perf_counter() - started, 1),
        "spark_master": spark.sparkContext.master,
        "cores": spark.sparkContext.defaultParallelism,
        "stages": {},
    }
    jvm = spark.sparkContext._gateway.proc.pid  # type: ignore[union-attr]
    paths = DataPaths(root / "data")
    runs = {
        "combine": lambda: jobs.run_combine(spark, paths),
        "filter": lambda: jobs.run_filter(spark, paths, "demo"),
        "process": lambda: jobs.run_process(spark, paths),
        "label": lambda: jobs.run_label(spark, paths, Settings(), annotations),
        "split": lambda: jobs.run_split(spark, paths),
    }
    for stage in STAGES:
        started, cpu = time.perf_counter(), _cpu_seconds(jvm, cluster_groups)
        summary = runs[stage]()
        result["stages"][stage] = {
            "seconds": round(time.perf_counter() - started, 2),
            "cpu_s": round(_cpu_seconds(jvm, cluster_groups) - cpu, 1),
            "rows_in": summary.rows_in,
            "rows_out": summary.rows_out,
        }
        if progress := os.environ.get("BENCH_DATA_PROGRESS"):  # a long run keeps what it has
            with open(progress, "a") as out:
                line = {"run": os.environ.get("BENCH_DATA_RUN"), "stage": stage}
                out.write(json.dumps(line | result["stages"][stage]) + "\n")
    spark.stop()
    result["timed_s"] = round(sum(result["stages"][s]["seconds"] for s in TIMED), 1)
    result["timed_cpu_s"] = round(sum(result["stages"][s]["cpu_s"] for s in TIMED), 1)
    return result


def _cpu_seconds(jvm_pid: int, cluster_groups: set[int]) -> float:
    """CPU time used so far by Spark's JVM (in local mode its tasks run there), this Python
    driver and, on a cluster, every process of the cluster's process groups (the master, the
    workers, their executors and the executors' Python workers).

    On a shared machine wall time says how long the others let us run; CPU time says how
    much work a stage is, so it is what a before/after comparison should look at too.
    """
    ticks = _ticks(Path(f"/proc/{jvm_pid}/stat"))
    if cluster_groups:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            ticks += _ticks(stat, cluster_groups)
    return ticks / os.sysconf("SC_CLK_TCK") + time.process_time()


def _ticks(stat: Path, groups: set[int] | None = None) -> int:
    """utime + stime + cutime + cstime of one process (0 if gone, or not in `groups`)."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    if groups is not None and int(fields[2]) not in groups:
        return 0
    return sum(int(x) for x in fields[11:15])


def _wait_for_executors(spark: Any, count: int, timeout: float = 300) -> None:
    """Until `count` executors have registered with the driver (it lists itself too)."""
    deadline = time.monotonic() + timeout
    while spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() < count + 1:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {count} executors registered within {timeout:.0f} s")
        time.sleep(0.5)


def _stages_in_subprocess(
    root: Path,
    annotations: Path,
    code: str | None,
    run_name: str,
    environment: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`_run_stages` in a fresh interpreter, on `code` (a src folder) or the installed code."""
    env = dict(os.environ, TT_IGNORE_DOTENV="1", BENCH_DATA_RUN=run_name, **(environment or {}))
    if code:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [code, env.get("PYTHONPATH")]))
    load_before = os.getloadavg()[0]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_data", str(root), str(annotations)],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"stages failed on {code or 'this checkout'}:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["load_average"] = {"before": round(load_before, 1), "after": os.getloadavg()[0]}
    for stage_output in (root / "data").iterdir():  # the next run starts from raw again
        if stage_output.name != "raw":
            shutil.rmtree(stage_output)
    return result


def _gpu() -> str:
    """The GPU this run had (the data stages use none; the results say whether one was there)."""
    import torch

    if torch.cuda.is_available():
        return str(torch.cuda.get_device_name(0))
    return "none (no GPU machine was lent to this run: no GPU training or CUDA scoring figures)"


def _sizes(default: dict[str, int | None]) -> dict[str, int | None]:
    """`default`, or BENCH_DATA_SIZES (e.g. 'demo,200000') for a quick profiling run."""
    wanted = os.environ.get("BENCH_DATA_SIZES")
    if not wanted:
        return default
    return {w: SIZES[w] if w in SIZES else int(w) for w in wanted.split(",")}


@contextmanager
def _cluster(wanted: bool) -> Iterator[dict[str, str] | None]:
    """A Spark cluster on loopback for the run, and the environment that sends a session to
    it; None when not `wanted`."""
    if not wanted:
        yield None
        return
    from tweet_triage_local.spark_cluster import (
        ClusterFiles,
        start_spark_cluster,
        stop_spark_cluster,
    )

    with tempfile.TemporaryDirectory(prefix="bench-data-cluster-") as state:
        layout = start_spark_cluster(Path(state))
        try:
            groups = [s.pid() for s in ClusterFiles(Path(state)).services()]
            yield {
                "SPARK_MASTER": layout.master_url,
                "BENCH_DATA_EXECUTORS": str(layout.workers),
                "BENCH_DATA_CLUSTER_GROUPS": ",".join(str(g) for g in groups if g),
            }
        finally:
            stop_spark_cluster(Path(state))


def run(cluster: bool = False, sizes: dict[str, int | None] = SIZES) -> dict[str, Any]:
    """Every size in local mode (and a baseline, if given); with `cluster`, on the loopback
    cluster too."""
    with _cluster(cluster) as environment:
        return _run(environment, _sizes(sizes))


def _run(cluster: dict[str, str] | None, sizes: dict[str, int | None]) -> dict[str, Any]:
    baseline = os.environ.get("BENCH_DATA_BASELINE")
    # The baseline can be left out of the largest sizes when time is short.
    baseline_up_to = int(os.environ.get("BENCH_DATA_BASELINE_UP_TO", "0")) or None
    result: dict[str, Any] = {
        "original": ORIGINAL,
        "baseline_code": baseline,
        "gpu": _gpu(),
        "sizes": {},
    }
    for label, size in sizes.items():
        with_baseline = baseline and (baseline_up_to is None or (size or 0) <= baseline_up_to)
        variants = {"baseline": baseline, "current": None} if with_baseline else {"current": None}
        with tempfile.TemporaryDirectory(prefix="bench-data-") as folder:
            root = Path(folder)
            generated = time.perf_counter()
            tweets, annotations = write_inputs(root, size)
            entry: dict[str, Any] = {
                "raw_tweets": tweets,
                "generate_s": round(time.perf_counter() - generated, 1),
            }
            print(f"{label}: {tweets:,} tweets generated", file=sys.stderr, flush=True)
            for variant, code in variants.items():
                run_ = _stages_in_subprocess(root, annotations, code, f"{label} {variant}")
                run_["tweets_per_s"] = round(tweets / run_["timed_s"])
                entry[variant] = run_
            if cluster is not None:
                run_ = _stages_in_subprocess(root, annotations, None, f"{label} cluster", cluster)
                run_["tweets_per_s"] = round(tweets / run_["timed_s"])
                entry["cluster"] = run_
                entry["cluster_vs_local_x"] = {
                    "wall": round(run_["timed_s"] / entry["current"]["timed_s"], 2),
                    "cpu": round(run_["timed_cpu_s"] / entry["current"]["timed_cpu_s"], 2),
                }
                entry["same_rows"] = all(
                    run_["stages"][s]["rows_out"] == entry["current"]["stages"][s]["rows_out"]
                    for s in STAGES
                )
            if with_baseline:
                entry["cpu_saving_x"] = round(
                    entry["baseline"]["timed_cpu_s"] / entry["current"]["timed_cpu_s"], 1
                )
                entry["speedup_x"] = {
                    stage: round(
                        entry["baseline"]["stages"][stage]["seconds"]
                        / entry["current"]["stages"][stage]["seconds"],
                        1,
                    )
                    for stage in STAGES
                }
                entry["speedup_x"]["timed"] = round(
                    entry["baseline"]["timed_s"] / entry["current"]["timed_s"], 1
                )
            result["sizes"][label] = entry
    current = {label: size["current"] for label, size in result["sizes"].items()}
    result["spark_master"] = next(iter(current.values()))["spark_master"]
    result["cores"] = next(iter(current.values()))["cores"]
    if {"demo", "1.2M"} <= current.keys():
        small, large = result["sizes"]["demo"], result["sizes"]["1.2M"]
        result["growth"] = {
            "tweets_x": round(large["raw_tweets"] / small["raw_tweets"], 1),
            "time_x": round(current["1.2M"]["timed_s"] / current["demo"]["timed_s"], 1),
        }
        ours = sum(current["1.2M"]["stages"][s]["seconds"] for s in ("combine", "filter"))
        original = ORIGINAL["combine_s"] + ORIGINAL["filter_s"]
        result["vs_original"] = {
            "original_combine_filter_s": original,
            "ours_combine_filter_s": round(ours, 1),
            "speedup_x": round(original / ours, 1),
        }
    return result


def summarise(result: dict[str, Any]) -> str:
    lines = [
        "## Data stage (PySpark)",
        "",
        f"Spark `{result['spark_master']}` ({result['cores']} cores), a fresh session per size "
        "and code version (start-up not in the timings). Realistic input: distinct texts, "
        "fresh ids, a 12-day mission. Throughput counts raw tweets over combine + filter + "
        "process + split; CPU s is the CPU time of Spark's JVM and the driver over those "
        "stages (what the work costs, whatever the machine's load); load is the 1-minute load "
        "average before the run.",
        "",
        "| size | code | raw tweets | combine s | filter s | process s | label s | split s "
        "| 4 stages s | 4 stages CPU s | tweets/s | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, size in result["sizes"].items():
        for variant in ("baseline", "current", "cluster"):
            if variant not in size:
                continue
            run_ = size[variant]
            stage = run_["stages"]
            code = f"`{run_['spark_master']}`" if "cluster" in size else variant
            lines.append(
                f"| {label} | {code} | {size['raw_tweets']:,} | "
                + " | ".join(f"{stage[s]['seconds']:.1f}" for s in STAGES)
                + f" | {run_['timed_s']:.1f} | {run_['timed_cpu_s']:.1f} "
                f"| {run_['tweets_per_s']:,} | {run_['load_average']['before']} |"
            )
    lines.append("")
    for label, size in result["sizes"].items():
        if "speedup_x" in size:
            lines.append(
                f"{label}: current is {size['speedup_x']['timed']}x the baseline's speed over the "
                f"four stages and uses {size['cpu_saving_x']}x less CPU (wall time per stage: "
                + ", ".join(f"{s} {size['speedup_x'][s]}x" for s in STAGES)
                + ")."
            )
    for label, size in result["sizes"].items():
        if "cluster" in size:
            ratio = size["cluster_vs_local_x"]
            lines.append(
                f"{label} on the loopback cluster (a master and two one-core workers, client mode, "
                f"the same 2 cores) took {ratio['cpu']}x the CPU of `local[*]` over the four "
                f"stages (the cluster's cost: executor JVMs, task serialisation, shuffles over "
                f"loopback) and {ratio['wall']}x its wall time (on a shared machine wall time "
                f"follows the other jobs' load); same rows out of every stage: "
                f"{'yes' if size['same_rows'] else 'NO'}."
            )
    if "gpu" in result:
        lines.append(f"GPU: {result['gpu']}.")
    if "growth" in result:
        growth, versus = result["growth"], result["vs_original"]
        large = result["sizes"]["1.2M"]["current"]["stages"]
        lines += [
            f"{growth['tweets_x']}x the tweets took {growth['time_x']}x the time. Combine + "
            f"filter of 1.2 M tweets: {versus['ours_combine_filter_s']} s here against the "
            f"original's {versus['original_combine_filter_s']} s (pandas, 12 CPUs, 1.16 M "
            f"tweets): {versus['speedup_x']}x faster.",
            f"Rows at 1.2 M: combined {large['combine']['rows_out']:,}, filtered "
            f"{large['filter']['rows_out']:,}, processed {large['process']['rows_out']:,}, "
            f"labelled {large['label']['rows_out']:,}, split {large['split']['rows_out']:,}.",
        ]
    return "\n".join(lines)


if __name__ == "__main__":  # one size on one code version: see _stages_in_subprocess
    print(json.dumps(_run_stages(Path(sys.argv[1]), Path(sys.argv[2]))), flush=True)
