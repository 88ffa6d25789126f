"""Data stage throughput: combine, filter, process, label and split in tweets/s, at the demo
corpus size and at 1.2 million raw tweets (the original's volume), in one run.

Both inputs take the bundled corpus in time order; the large one resamples it with fresh
ids. Creation times are spread evenly over the original's 225-hour window (2021-12-30 17:00
to 2022-01-10 01:00 UTC), so both sizes have the original's hourly partitions and tweets per
hour grow with the size as in a busier stream (the corpus itself spans four years, 7,305
sparse hours). Records are written as gzip Firehose objects in the hourly key layout, 5,000
each; a matching annotations file labels every copy as its source tweet. Copies repeat their
source's text, so `process` removes them as near-duplicates: the 1.2 M run measures parsing,
de-duplication and filtering at volume, as the original's retweet-heavy stream did. Both
sizes run in one SparkSession (its start-up is reported on its own) with the demo profile;
the input files are generated in a temporary folder, outside the timings. The original
needed 20 min 45 s to combine and 52 s to filter 1.16 M tweets with pandas on 12 CPUs
(original-system.md §4.1-4.2).
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SIZES = {"demo": None, "1.2M": 1_200_000}
WINDOW_START = datetime(2021, 12, 30, 17, tzinfo=UTC)
WINDOW_SECONDS = 225 * 3600
RECORDS_PER_OBJECT = 5_000
ORIGINAL = {"tweets": 1_163_060, "combine_s": 20 * 60 + 45, "filter_s": 52, "cpus": 12}
STAGES = ("combine", "filter", "process", "label", "split")
TIMED = ("combine", "filter", "process", "split")  # the four the original is compared on


def _corpus() -> list[dict[str, Any]]:
    from tweet_triage.config import CORPUS_DIR

    with gzip.open(CORPUS_DIR / "tweets.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _labels() -> dict[str, str]:
    from tweet_triage.config import CORPUS_DIR

    with gzip.open(CORPUS_DIR / "annotations.csv.gz", "rt", encoding="utf-8") as handle:
        return {row["id"]: row["sentiment"] for row in csv.DictReader(handle)}


def write_inputs(root: Path, size: int | None) -> tuple[int, Path]:
    """Raw objects under root/data/raw and an annotations CSV; returns (tweets, csv path)."""
    corpus, labels = _corpus(), _labels()
    total = size or len(corpus)
    step = WINDOW_SECONDS / total
    raw = root / "data" / "raw"
    annotations = root / "annotations.csv"
    with annotations.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "sentiment"])
        batch: list[str] = []
        objects = 0
        for n in range(total):
            source = corpus[n % len(corpus)]
            round_ = n // len(corpus)
            tweet = dict(source)
            created = WINDOW_START + timedelta(seconds=n * step)
            tweet["created_at"] = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            if round_:
                tweet["id"] = str(9 * 10**17 + n)
                tweet["edit_history_tweet_ids"] = [tweet["id"]]
            if source["id"] in labels:
                writer.writerow([tweet["id"], labels[source["id"]]])
            batch.append(
                json.dumps({"data": tweet, "matching_rules": [{"id": "1", "tag": "demo"}]})
            )
            if len(batch) == RECORDS_PER_OBJECT or n == total - 1:
                folder = raw / "2026" / "11" / "21" / f"{objects // 60:02d}"
                folder.mkdir(parents=True, exist_ok=True)
                name = f"tweet-triage-tweets-1-2026-11-21-{objects:06d}.gz"
                (folder / name).write_bytes(gzip.compress(("\n".join(batch) + "\n").encode(), 1))
                batch, objects = [], objects + 1
    return total, annotations


def _run_stages(spark: Any, root: Path, annotations: Path) -> dict[str, dict[str, Any]]:
    from tweet_triage.config import Settings
    from tweet_triage.data import jobs
    from tweet_triage.data.paths import DataPaths

    paths = DataPaths(root / "data")
    runs = {
        "combine": lambda: jobs.run_combine(spark, paths),
        "filter": lambda: jobs.run_filter(spark, paths, "demo"),
        "process": lambda: jobs.run_process(spark, paths),
        "label": lambda: jobs.run_label(spark, paths, Settings(), annotations),
        "split": lambda: jobs.run_split(spark, paths),
    }
    results = {}
    for stage in STAGES:
        started = time.perf_counter()
        summary = runs[stage]()
        results[stage] = {
            "seconds": round(time.perf_counter() - started, 2),
            "rows_in": summary.rows_in,
            "rows_out": summary.rows_out,
        }
    return results


def run() -> dict[str, Any]:
    os.environ.setdefault("TT_IGNORE_DOTENV", "1")
    from tweet_triage.config import Settings
    from tweet_triage.data.spark import spark_session

    started = time.perf_counter()
    spark = spark_session(Settings(), "bench-data", {"spark.ui.enabled": "false"})
    result: dict[str, Any] = {
        "spark_start_s": round(time.perf_counter() - started, 1),
        "spark_master": spark.sparkContext.master,
        "cores": spark.sparkContext.defaultParallelism,
        "original": ORIGINAL,
        "sizes": {},
    }
    for label, size in SIZES.items():
        with tempfile.TemporaryDirectory(prefix="bench-data-") as folder:
            root = Path(folder)
            generated = time.perf_counter()
            tweets, annotations = write_inputs(root, size)
            stages = _run_stages(spark, root, annotations)
            timed = sum(stages[s]["seconds"] for s in TIMED)
            result["sizes"][label] = {
                "raw_tweets": tweets,
                "generate_s": round(time.perf_counter() - generated - timed, 1),
                "stages": stages,
                "timed_s": round(timed, 1),
                "tweets_per_s": round(tweets / timed),
            }
    small, large = result["sizes"]["demo"], result["sizes"]["1.2M"]
    result["growth"] = {
        "tweets_x": round(large["raw_tweets"] / small["raw_tweets"], 1),
        "time_x": round(large["timed_s"] / small["timed_s"], 1),
    }
    result["vs_original"] = {
        "original_combine_filter_s": ORIGINAL["combine_s"] + ORIGINAL["filter_s"],
        "ours_combine_filter_s": round(
            large["stages"]["combine"]["seconds"] + large["stages"]["filter"]["seconds"], 1
        ),
    }
    result["vs_original"]["speedup_x"] = round(
        result["vs_original"]["original_combine_filter_s"]
        / result["vs_original"]["ours_combine_filter_s"],
        1,
    )
    return result


def summarise(result: dict[str, Any]) -> str:
    lines = [
        "## Data stage (PySpark)",
        "",
        f"Spark `{result['spark_master']}` ({result['cores']} cores), start-up "
        f"{result['spark_start_s']} s (not in the timings). Throughput counts raw tweets over "
        "combine + filter + process + split.",
        "",
        "| size | raw tweets | combine s | filter s | process s | label s | split s "
        "| total s (4 stages) | tweets/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, size in result["sizes"].items():
        stage = size["stages"]
        lines.append(
            f"| {label} | {size['raw_tweets']:,} | "
            + " | ".join(f"{stage[s]['seconds']:.1f}" for s in STAGES)
            + f" | {size['timed_s']:.1f} | {size['tweets_per_s']:,} |"
        )
    growth, versus = result["growth"], result["vs_original"]
    lines += [
        "",
        f"{growth['tweets_x']}x the tweets took {growth['time_x']}x the time. Combine + filter "
        f"of 1.2 M tweets: {versus['ours_combine_filter_s']} s here against the original's "
        f"{versus['original_combine_filter_s']} s (pandas, 12 CPUs, 1.16 M tweets): "
        f"{versus['speedup_x']}x faster.",
    ]
    large = result["sizes"]["1.2M"]["stages"]
    lines.append(
        f"Rows at 1.2 M: combined {large['combine']['rows_out']:,}, filtered "
        f"{large['filter']['rows_out']:,}, processed {large['process']['rows_out']:,} "
        "(copies removed as near-duplicates), split "
        f"{large['split']['rows_out']:,}."
    )
    return "\n".join(lines)
