"""Mission labels only, mixed with the general set, or two stages: same steps, same test split.

A mission with few labels (`--mission-rows`, 1,200 like JWST's) is emulated from labelled
chronological splits (`--splits`, e.g. the whole-corpus profile's): its train is a stratified
sample of their train, its val and test are theirs. Three runs with the same optimiser steps:
(a) the mission's train only; (b) mixed with `--general-set bundled` (the bundled corpus minus
val/test); (c) two stages, the general set for half the steps and then the mission's train
from that model for the other half. Each is evaluated on the chronological test split with
bootstrap intervals. Results: benchmarks/results/general_set.json.

    nice .venv/bin/python benchmarks/bench_general_set.py --splits /path/with/splits --steps 120

The figures in docs/model.md ran with `--steps 24 --batch-size 16 --max-eval-samples 400
--test-rows 1500` under `nice -n 10` (a busy 2-core machine); the full budget is still to run.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd

from tweet_triage.config import Settings
from tweet_triage.model.arguments import train_arguments
from tweet_triage.model.data import load_split
from tweet_triage.model.evaluate import EvaluateOptions, evaluate
from tweet_triage.model.general import BUNDLED, general_set
from tweet_triage.model.training import stratified_sample, train

RESULTS = Path(__file__).parent / "results" / "general_set.json"


def write_splits(root: Path, frames: dict[str, pd.DataFrame]) -> Path:
    for name, frame in frames.items():
        folder = root / "splits" / name
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(folder / "part-00000.parquet", index=False)
    return root


def run(
    name: str,
    data_dir: Path,
    work: Path,
    steps: int,
    common: dict[str, Any],
    test_dir: Path,
    **extra: Any,
) -> dict[str, Any]:
    rows = len(load_split(data_dir, "train", need_sentiment=True)) + extra.pop("extra_rows", 0)
    per_epoch = math.ceil(rows / common["per_device_train_batch_size"])
    settings = Settings(data_dir=data_dir, model_dir=work / name, reports_dir=work / "r" / name)
    args = train_arguments(
        settings,
        max_steps=steps,
        evaluations_per_epoch=max(1, round(per_epoch / max(1, steps // 3))),
        model_dir=work / name,
        **{"general_set": "none", **common, **extra},  # a general set only where asked
    )
    started = time.perf_counter()
    result = train(args, settings)
    seconds = time.perf_counter() - started
    evaluation = evaluate(
        work / name,
        test_dir,
        work / "r" / name,
        settings,
        options=EvaluateOptions(n_bootstrap=500, device="cpu", track=False),
    )
    return {
        "run": name,
        "train_rows": rows,
        "steps": result.steps,
        "train_seconds": round(seconds, 1),
        "val_pr_auc": result.validation["pr_auc"],
        "test_roc_auc": evaluation.metric("roc_auc"),
        "test_roc_auc_ci": evaluation.interval("roc_auc"),
        "test_pr_auc": evaluation.metric("pr_auc"),
        "test_pr_auc_ci": evaluation.interval("pr_auc"),
        "test_positive_share": evaluation.metrics["positives"] / evaluation.metrics["n"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--splits", type=Path, required=True, help="folder holding splits/")
    parser.add_argument("--work", type=Path, default=Path("/tmp/general-set-bench"))
    parser.add_argument("--mission-rows", type=int, default=1200)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--runs", default="mission,mix,two_stage")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-eval-samples", type=int, default=1500)
    parser.add_argument(
        "--test-rows", type=int, default=None, help="evaluate on a random sample of the test split"
    )
    cli = parser.parse_args()
    shutil.rmtree(cli.work, ignore_errors=True)
    train_full = load_split(cli.splits, "train", need_sentiment=True)
    val = load_split(cli.splits, "val", need_sentiment=True)
    test = load_split(cli.splits, "test", need_sentiment=True)
    mission_train = stratified_sample(train_full, cli.mission_rows, "sentiment", 0)
    judged = test.sample(n=cli.test_rows, random_state=0) if cli.test_rows else test
    mission = write_splits(
        cli.work / "mission", {"train": mission_train, "val": val, "test": judged}
    )
    general = general_set(BUNDLED, [val, test], need_sentiment=True)  # minus the whole test
    general_file = cli.work / "general.parquet"
    general.to_parquet(general_file, index=False)
    common: dict[str, Any] = {
        "per_device_train_batch_size": cli.batch_size,
        "max_eval_samples": cli.max_eval_samples,
        "max_length_cap": 64,
        "device": "cpu",
        "track": False,
        "register": False,
        "seed": 42,
    }
    results = []
    for name in cli.runs.split(","):
        if name == "mission":
            results.append(run(name, mission, cli.work, cli.steps, common, mission))
        elif name == "mix":
            results.append(
                run(
                    name,
                    mission,
                    cli.work,
                    cli.steps,
                    common,
                    mission,
                    general_set=str(general_file),
                    extra_rows=len(general),
                )
            )
        elif name == "two_stage":
            stage1 = write_splits(
                cli.work / "general", {"train": general, "val": val, "test": test}
            )
            first = run("stage1", stage1, cli.work, cli.steps // 2, common, mission)
            second = run(
                name,
                mission,
                cli.work,
                cli.steps - cli.steps // 2,
                common,
                mission,
                model_name_or_path=str(cli.work / "stage1"),
            )
            second["stage1"] = first
            results.append(second)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            json.dumps(
                {
                    "what": "mission labels only vs with the bundled general set (mixed, two "
                    "stages), same optimiser steps, chronological test split",
                    "splits": str(cli.splits),
                    "mission_rows": cli.mission_rows,
                    "test_rows": len(judged),
                    "general_rows": len(general),
                    "steps": cli.steps,
                    "common": common,
                    "results": results,
                },
                indent=2,
                default=str,
            )
        )
        print(json.dumps(results[-1], default=str), flush=True)


if __name__ == "__main__":
    main()
