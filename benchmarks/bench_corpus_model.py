"""The model's own benchmark: every labelled tweet of the bundled corpus against the mission's.

Two data folders are built from the bundled corpus by the project's own Spark stages (combine,
filter, process, label, split; chronological, 70/15/15 by default):

- mission: the tweets the demo profile's stream rules match (what X would send, matched by the
  X stand-in's rule engine), kept by the demo profile's filter: today's demo-profile data;
- corpus: every tweet (a profile with no keep or drop terms), so every labelled tweet.

A model is trained on each with the full budget (every training tweet, 3 epochs), and a third,
two_stage, fine-tunes the corpus model on the mission's labels (two stages against mixing).
Each model is evaluated on both test splits: ROC AUC and PR AUC with bootstrap intervals, F1
and balanced accuracy at the saved threshold, support minutes lost against flagging
everything, training samples/s and wall time; then again with the threshold set by the cost
and the capacity strategies (`tweet-triage threshold`, no retraining). Aims (issue 15 §4): on
the corpus test split, ROC AUC at least 0.03 above the mission model's, and minutes lost at
most 0.8 times flag-everything's. The corpus train split ends before the mission's test split
begins; the ids and normalised texts each train split shares with each test split are counted
anyway.

BENCH_CORPUS_RUNS picks the runs (default mission,corpus; two_stage needs corpus), and
BENCH_CORPUS_EPOCHS the epochs (2, or mission=3,corpus=1). With BENCH_CORPUS_KEEP=<folder>
the trained models are kept there, and a later run evaluates them again instead of
retraining.

    python -m benchmarks.run corpus_model        # about an hour on 2 CPU cores

Not part of the default `make bench` (it is a long stage, like soak).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

RECORDS_PER_OBJECT = 5_000
# Each training run: the data folder it trains on, and the run whose model it starts from
# (two stages: the whole corpus first, then the mission's own labels).
TRAINING_RUNS: dict[str, tuple[str, str | None]] = {
    "mission": ("mission", None),
    "corpus": ("corpus", None),
    "two_stage": ("mission", "corpus"),
}
# The capacity strategy's setting: JWST's stream brought a median of 160 tweets an hour
# (the original system's figures); a team of two reading 30 an hour each reads 60.
ARRIVALS_PER_HOUR = 160.0
CAPACITY_PER_HOUR = 60.0
SPLITS = ("train", "val", "test")
CORPUS_PROFILE = """\
name: corpus
description: Every tweet of the bundled corpus (the model benchmark's general set).
stream:
  rules:
    - tag: corpus
      value: the lang:en
filter:
  keep_terms: []
  min_words: 3
  exclude_retweets: true
"""


def _write_raw(raw: Path, records: list[dict[str, Any]]) -> None:
    """Firehose-like gzip objects of 5,000 records, in the hourly key layout of their first."""
    records = sorted(records, key=lambda r: r["data"]["created_at"])
    for number, start in enumerate(range(0, len(records), RECORDS_PER_OBJECT)):
        chunk = records[start : start + RECORDS_PER_OBJECT]
        hour = chunk[0]["data"]["created_at"][:13].replace("-", "/").replace("T", "/")
        folder = raw / hour
        folder.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in chunk)
        (folder / f"tweet-triage-tweets-1-{number:06d}.gz").write_bytes(
            gzip.compress(lines.encode(), 1)
        )


def _raw_records(profile: str | None) -> list[dict[str, Any]]:
    """The bundled tweets as the streamer writes them; only those a profile's rules match."""
    from tweet_triage.profile import load_profile
    from tweet_triage_local.corpus.store import BUNDLED_TWEETS
    from tweet_triage_local.xapi.rules import TweetView, compile_rule

    rules = (
        [(r.tag, compile_rule(r.value)) for r in load_profile(profile).stream.rules]
        if profile
        else []
    )
    records = []
    with gzip.open(BUNDLED_TWEETS, "rt", encoding="utf-8") as handle:
        for line in handle:
            tweet = json.loads(line)
            if rules:
                view = TweetView.from_tweet(tweet)
                tags = [tag for tag, rule in rules if rule.matches(view)]
                if not tags:
                    continue
            else:
                tags = ["corpus"]
            matched = [{"id": str(i), "tag": tag} for i, tag in enumerate(tags, 1)]
            records.append({"data": tweet, "matching_rules": matched})
    return records


def build_splits(root: Path, names: tuple[str, ...] = ("mission", "corpus")) -> dict[str, Any]:
    """root/<name>/data/splits/ for mission and/or corpus, by the project's Spark stages."""
    from tweet_triage.config import Settings
    from tweet_triage.data import jobs
    from tweet_triage.data.paths import DataPaths
    from tweet_triage.data.spark import spark_session

    profile_file = root / "corpus.yaml"
    profile_file.write_text(CORPUS_PROFILE)
    spark = spark_session(Settings(), "bench-corpus-model", {"spark.ui.enabled": "false"})
    built: dict[str, Any] = {}
    try:
        for name, stream_profile, filter_profile in (
            ("mission", "demo", "demo"),
            ("corpus", None, str(profile_file)),
        ):
            if name not in names:
                continue
            started = time.perf_counter()
            records = _raw_records(stream_profile)
            paths = DataPaths(root / name / "data")
            _write_raw(paths.root / "raw", records)
            jobs.run_combine(spark, paths)
            jobs.run_filter(spark, paths, filter_profile)
            jobs.run_process(spark, paths)
            jobs.run_label(spark, paths, Settings())
            jobs.run_split(spark, paths)
            manifest = json.loads((paths.splits / "manifest.json").read_text())
            built[name] = {
                "streamed": len(records),
                "rows": {s: manifest["splits"][s]["rows"] for s in SPLITS},
                "test_from": manifest["splits"]["test"]["first_created_at"],
                "train_until": manifest["splits"]["train"]["last_created_at"],
                "seconds": round(time.perf_counter() - started, 1),
            }
            print(f"{name}: {built[name]}", flush=True)
    finally:
        spark.stop()
    return built


def _overlap(train: Path, test: Path) -> dict[str, int]:
    from tweet_triage.model.data import read_table

    a, b = read_table(train), read_table(test)
    return {
        "ids": len(set(a["id"].astype(str)) & set(b["id"].astype(str))),
        "texts": len(set(a["model_text"]) & set(b["model_text"])),
    }


def _train(
    name: str, data_dir: Path, work: Path, epochs: float, start_from: Path | None = None
) -> dict[str, Any]:
    from tweet_triage.config import Settings
    from tweet_triage.model.arguments import train_arguments
    from tweet_triage.model.data import load_split
    from tweet_triage.model.training import train

    settings = Settings(data_dir=data_dir, model_dir=work / name, reports_dir=work / "r" / name)
    args = train_arguments(
        settings,
        budget="full",
        general_set="none",  # each run's own data folder: the corpus run is the mixing one
        num_train_epochs=epochs,
        device="cpu",
        track=False,
        register=False,
        seed=42,
        **({"model_name_or_path": str(start_from)} if start_from else {}),
    )
    rows = len(load_split(data_dir, "train", need_sentiment=True))
    started = time.perf_counter()
    result = train(args, settings)
    seconds = time.perf_counter() - started
    return {
        "train_rows": rows,
        "epochs": epochs,
        "start_from": start_from.name if start_from else None,
        "steps": result.steps,
        "train_seconds": round(seconds, 1),
        "train_samples_per_s": round(rows * epochs / seconds, 1),
        "val_pr_auc": result.validation["pr_auc"],
    }


def _evaluate(model: Path, data_dir: Path, reports: Path) -> dict[str, Any]:
    """The model on data_dir's test split."""
    from tweet_triage.config import Settings
    from tweet_triage.model.evaluate import EvaluateOptions, evaluate

    result = evaluate(
        model,
        data_dir,
        reports,
        Settings(),
        options=EvaluateOptions(n_bootstrap=500, device="cpu", track=False),
    )
    lost = result.business["model"]["total_lost_min"]
    everything = result.business["flag_everything"]["total_lost_min"]
    return {
        "n": result.metrics["n"],
        "positive_share": result.metrics["positives"] / result.metrics["n"],
        "roc_auc": result.metric("roc_auc"),
        "roc_auc_ci": result.interval("roc_auc"),
        "pr_auc": result.metric("pr_auc"),
        "pr_auc_ci": result.interval("pr_auc"),
        "f1": result.metric("f1"),
        "recall": result.metric("recall"),
        "balanced_accuracy": result.metric("balanced_accuracy"),
        "flag_rate": result.metric("flag_rate"),
        "threshold": result.threshold,
        "minutes_lost": lost,
        "flag_everything_minutes_lost": everything,
        "x_flag_everything": lost / everything,
        "calibration": {
            key: result.calibration.get(key) for key in ("method", "ece_before", "ece_after")
        },
    }


def _strategies(model_dir: Path, data_dir: Path, work: Path, tests: dict[str, Path]) -> dict:
    """The model with its threshold set again by cost and by capacity (`tweet-triage threshold`
    on its own val split), each evaluated on every test split as the saved one is."""
    from tweet_triage.model.arguments import ThresholdArguments
    from tweet_triage.model.rethreshold import rethreshold

    strategies = {
        "cost": ThresholdArguments(threshold_strategy="cost"),
        "capacity": ThresholdArguments(
            threshold_strategy="capacity",
            capacity=CAPACITY_PER_HOUR,
            arrivals_per_hour=ARRIVALS_PER_HOUR,
        ),
    }
    results: dict[str, Any] = {}
    for name, options in strategies.items():
        copy = Path(shutil.copytree(model_dir, work / name, dirs_exist_ok=True))
        choice = rethreshold(copy, data_dir, options, device="cpu")
        results[name] = {
            "threshold": choice.threshold,
            "test": {
                split: _evaluate(copy, folder, work / "r" / name / split)
                for split, folder in tests.items()
            },
        }
    return results


def _epochs(runs: list[str]) -> dict[str, float]:
    """BENCH_CORPUS_EPOCHS: one number for every run, or run=epochs pairs (default 3)."""
    wanted = os.environ.get("BENCH_CORPUS_EPOCHS", "3")
    if "=" not in wanted:
        return dict.fromkeys(runs, float(wanted))
    pairs = dict(pair.split("=") for pair in wanted.split(","))
    return {name: float(pairs.get(name, 3)) for name in runs}


def run() -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    runs = os.environ.get("BENCH_CORPUS_RUNS", "mission,corpus").split(",")
    epochs = _epochs(runs)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-corpus-model-") as folder:
        root = Path(folder)
        result: dict[str, Any] = {
            "epochs": epochs,
            "load_average_at_start": os.getloadavg()[0],
            "data": build_splits(root),
            "models": {},
        }
        splits = {name: root / name / "data" / "splits" for name in ("mission", "corpus")}
        result["overlap"] = {
            f"{a} train / {b} test": _overlap(splits[a] / "train", splits[b] / "test")
            for a in splits
            for b in splits
        }
        keep = Path(os.environ.get("BENCH_CORPUS_KEEP", root / "kept"))
        for name in runs:
            model_dir = keep / name
            data_name, start_from = TRAINING_RUNS[name]
            if (model_dir / "bench-train.json").is_file():  # trained by an earlier run
                model = json.loads((model_dir / "bench-train.json").read_text())
            else:
                model = _train(
                    name,
                    root / data_name / "data",
                    root / "models",
                    epochs[name],
                    keep / start_from if start_from else None,
                )
                shutil.copytree(root / "models" / name, model_dir, dirs_exist_ok=True)
                (model_dir / "bench-train.json").write_text(json.dumps(model))
            model["test"] = {
                split: _evaluate(model_dir, root / split / "data", root / "r" / split)
                for split in splits
            }
            model["strategies"] = _strategies(
                model_dir,
                root / data_name / "data",
                root / "strategies" / name,
                {split: root / split / "data" for split in splits},
            )
            result["models"][name] = model
            print(f"{name}: {json.dumps(model, default=str)}", flush=True)
    result["load_average_at_end"] = os.getloadavg()[0]
    if {"mission", "corpus"} <= result["models"].keys():
        corpus_test = {n: result["models"][n]["test"]["corpus"] for n in ("mission", "corpus")}
        result["aims"] = {
            "roc_auc_gain": corpus_test["corpus"]["roc_auc"] - corpus_test["mission"]["roc_auc"],
            "roc_auc_gain_aim": 0.03,
            "x_flag_everything": corpus_test["corpus"]["x_flag_everything"],
            "x_flag_everything_aim": 0.8,
        }
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def _ece(calibration: dict[str, Any]) -> str:
    before, after = calibration.get("ece_before"), calibration.get("ece_after")
    if before is None or after is None:
        return "n/a"
    return f"{before:.3f} / {after:.3f} ({calibration.get('method')})"


def summarise(result: dict[str, Any]) -> str:
    epochs = ", ".join(f"{name} {e:g} epochs" for name, e in result["epochs"].items())
    lines = [
        "## Model: the whole corpus against the mission's labels",
        "",
        f"CPU, every training tweet ({epochs}); load average "
        f"{result['load_average_at_start']:.1f} at the start, "
        f"{result['load_average_at_end']:.1f} at the end.",
        "",
        "| data | streamed | train | val | test | test from |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, data in result["data"].items():
        rows = data["rows"]
        lines.append(
            f"| {name} | {data['streamed']:,} | {rows['train']:,} | {rows['val']:,} | "
            f"{rows['test']:,} | {data['test_from'][:10]} |"
        )
    lines += [
        "",
        "| model | test split | ROC AUC [95% CI] | PR AUC [95% CI] | F1 | balanced acc. | "
        "flag rate | minutes lost (x flag-everything) | ECE before / after calibration | "
        "train samples/s | train wall s |",
        "|---|---|---|---|---:|---:|---:|---|---|---:|---:|",
    ]
    for name, model in result["models"].items():
        for split, t in model["test"].items():
            lo, hi = t["roc_auc_ci"]
            plo, phi = t["pr_auc_ci"]
            lines.append(
                f"| {name} ({model['train_rows']:,} tweets) | {split} | {t['roc_auc']:.3f} "
                f"[{lo:.3f}, {hi:.3f}] | {t['pr_auc']:.3f} [{plo:.3f}, {phi:.3f}] | "
                f"{t['f1']:.3f} | {t['balanced_accuracy']:.3f} | {t['flag_rate']:.2f} | "
                f"{t['minutes_lost']:,.0f} ({t['x_flag_everything']:.2f}x) | "
                f"{_ece(t['calibration'])} | "
                f"{model['train_samples_per_s']:.1f} | {model['train_seconds']:,.0f} |"
            )
    if "aims" in result:
        aims = result["aims"]
        lines += [
            "",
            f"On the corpus test split the whole-corpus model's ROC AUC is "
            f"{aims['roc_auc_gain']:+.3f} against the mission model's (aim +0.03) and it "
            f"loses {aims['x_flag_everything']:.2f}x flag-everything's minutes (aim at most "
            "0.8x).",
        ]
    lines += [
        "",
        f"Threshold strategies (`tweet-triage threshold` on each model's own val split; "
        f"capacity: {CAPACITY_PER_HOUR:g} of {ARRIVALS_PER_HOUR:g} tweets an hour):",
        "",
        "| model | strategy | threshold | test split | flag rate | recall | F1 | "
        "minutes lost (x flag-everything) |",
        "|---|---|---:|---|---:|---:|---:|---|",
    ]
    for name, model in result["models"].items():
        saved = {"f-beta (saved)": {"test": model["test"]}}
        for strategy, run in {**saved, **model.get("strategies", {})}.items():
            for split, t in run["test"].items():
                lines.append(
                    f"| {name} | {strategy} | {t['threshold']:.3f} | {split} | "
                    f"{t['flag_rate']:.2f} | {t.get('recall', float('nan')):.3f} | "
                    f"{t['f1']:.3f} | {t['minutes_lost']:,.0f} ({t['x_flag_everything']:.2f}x) |"
                )
    overlaps = ", ".join(
        f"{pair}: {o['ids']} ids, {o['texts']} texts" for pair, o in result["overlap"].items()
    )
    lines += ["", f"Shared between train and test splits: {overlaps}."]
    return "\n".join(lines)
