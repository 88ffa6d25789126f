"""Retrain, compare, promote: a new model replaces the champion only when it proves better.

`retrain` (the CLI's `tweet-triage retrain`, `make retrain`, the daily timer) takes the team's
decisions as a data frame (the columns of `data.decisions.DECISION_COLUMNS` plus the tweet's
`text`; the live half exports them from its store) and:
1. collects every label so far: the data stage's splits (annotations) and the decisions,
   settled by `data.decisions.resolve_labels`; refuses to start with fewer than
   `min_new_labels` newly decided tweets since the last retrain;
2. assembles the challenger's data: train = the train split + the decision labels outside the
   evaluation pool; val = the val split; test = the fixed test split + the decision labels in
   the evaluation pool (random, held out: never trained on);
3. trains the challenger with the same training code as `tweet-triage train` (registered in
   MLflow as a new version, not yet champion);
4. scores champion and challenger on the same test tweets: metrics with bootstrap intervals,
   a paired bootstrap interval of the difference in the selection metric, team minutes;
5. promotes (moves the MLflow alias `champion`) only when the challenger beats the champion on
   the selection metric by at least `margin` and does not raise the time missed; writes the
   report (JSON and Markdown) saying what was decided and why, and the loop's state file
   (`loop_state.py`) records it.
The live scorer and the inbox resolve the alias before each batch, so a promotion reaches
them without a restart; `registry.promote` and `registry.rollback` move it by hand.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tweet_triage.config import Settings
from tweet_triage.data.decisions import DECISION_COLUMNS, SOURCE_DECISION, resolve_labels
from tweet_triage.errors import TriageError
from tweet_triage.model.evaluation_pool import DEFAULT_EVAL_SHARE, in_evaluation_pool
from tweet_triage.model.loop_state import KEPT, PROMOTED, now, read_state, write_state
from tweet_triage.model.registry import champion_version, promote, resolve_model

SELECTION_METRICS = ("pr_auc", "roc_auc", "f2", "f1")
RETRAIN_COLUMNS = (*DECISION_COLUMNS, "text")


class RetrainError(TriageError):
    """Retraining cannot run as asked; the message says why and the fix."""


class NotEnoughLabelsError(RetrainError):
    """Fewer new labels than the configured minimum since the last retrain."""


@dataclass
class RetrainOptions:
    min_new_labels: int = 50
    margin: float = 0.005
    selection_metric: str = "pr_auc"
    eval_share: float = DEFAULT_EVAL_SHARE
    n_bootstrap: int = 500
    seed: int = 42
    force: bool = False
    train_options: dict[str, Any] = field(default_factory=dict)


# --- labels and data -------------------------------------------------------------------------


def check_decisions(decisions: pd.DataFrame) -> pd.DataFrame:
    """The decisions frame with string ids, or one clear error naming what is missing."""
    missing = [c for c in RETRAIN_COLUMNS if c not in decisions.columns]
    if missing:
        raise RetrainError(
            f"the decisions given to retrain lack the column(s) {', '.join(missing)}; expected "
            f"{', '.join(RETRAIN_COLUMNS)} (`tweet-triage retrain` exports them from the inbox)"
        )
    return decisions.assign(id=decisions["id"].astype(str))


def decided_tweets(decisions: pd.DataFrame) -> int:
    """Tweets with at least one decision: the count "new labels" is measured against."""
    return int(decisions["id"].nunique())


def _split(data_dir: Path, name: str) -> pd.DataFrame:
    from tweet_triage.model.data import read_table, require_splits, splits_dir

    require_splits(data_dir, (name,))
    frame = read_table(splits_dir(data_dir) / name)
    keep = [c for c in ("id", "text", "model_text", "needs_support", "sentiment") if c in frame]
    frame = frame[keep].copy()
    frame["id"] = frame["id"].astype(str)
    return frame


def decision_labels(
    decisions: pd.DataFrame, annotated_ids: set[str]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The decisions as labels with their texts; annotations (the splits) outrank them."""
    from tweet_triage.text import normalise_text

    decisions = check_decisions(decisions)
    annotations = pd.DataFrame({"id": sorted(annotated_ids), "sentiment": 0})
    resolved = resolve_labels(annotations, decisions[list(DECISION_COLUMNS)])
    labels = resolved.labels[resolved.labels["source"] == SOURCE_DECISION]
    texts = dict(zip(decisions["id"], decisions["text"], strict=True))
    frame = pd.DataFrame(
        {
            "id": labels["id"].to_numpy(),
            "text": [texts[i] for i in labels["id"]],
            "needs_support": labels["needs_support"].astype(int).to_numpy(),
            "sentiment": np.nan,
        }
    )
    frame["model_text"] = frame["text"].map(normalise_text)
    counts = resolved.counts()
    counts["by_source"].pop("annotation", None)
    return frame, counts


def assemble_data(
    data_dir: Path, decisions: pd.DataFrame, target: Path, eval_share: float
) -> dict[str, int]:
    """The challenger's splits under `target`: see the module docstring."""
    held_out = decisions["id"].map(lambda i: in_evaluation_pool(i, eval_share)).astype(bool)
    splits = {
        "train": pd.concat([_split(data_dir, "train"), decisions[~held_out]], ignore_index=True),
        "val": _split(data_dir, "val"),
        "test": pd.concat([_split(data_dir, "test"), decisions[held_out]], ignore_index=True),
    }
    sizes = {}
    for name, frame in splits.items():
        folder = target / "splits" / name
        folder.mkdir(parents=True, exist_ok=True)
        frame["sentiment"] = pd.to_numeric(frame["sentiment"], errors="coerce")
        frame.to_parquet(folder / "part-00000.parquet", index=False)
        sizes[name] = len(frame)
    sizes["test_recent_labels"] = int(held_out.sum())
    sizes["train_recent_labels"] = int((~held_out).sum())
    return sizes


# --- comparison and the gate -------------------------------------------------------------------


def score_model(
    folder: Path, frame: pd.DataFrame, n_bootstrap: int, seed: int
) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics, intervals and team minutes of one model on the comparison tweets."""
    from tweet_triage.model.inference import load_scorer
    from tweet_triage.model.metrics import (
        BusinessParams,
        bootstrap_intervals,
        business_metrics,
        classification_metrics,
        tweet_seconds,
    )
    from tweet_triage.text import word_count

    scorer = load_scorer(folder)
    p = np.asarray(scorer.score(frame["text"].tolist()), dtype=float)
    y = frame["needs_support"].to_numpy().astype(int)
    words = np.array([word_count(t) for t in frame["text"]])
    params = BusinessParams()
    threshold = float(scorer.threshold)
    metrics = classification_metrics(y, p, threshold)
    result = {
        "threshold": threshold,
        "metrics": {
            k: metrics[k] for k in ("pr_auc", "roc_auc", "f2", "f1", "precision", "recall")
        },
        "intervals": bootstrap_intervals(
            y, p, threshold, tweet_seconds(words, params), n_bootstrap, seed
        ),
        "business": business_metrics(y, (p >= threshold).astype(int), words, params),
    }
    return result, p


def paired_difference(
    y: np.ndarray, p_champion: np.ndarray, p_challenger: np.ndarray, metric: str, n: int, seed: int
) -> tuple[float, float]:
    """95% paired bootstrap interval of challenger - champion on the selection metric."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    if metric not in ("pr_auc", "roc_auc"):
        return (float("nan"), float("nan"))
    fn = average_precision_score if metric == "pr_auc" else roc_auc_score
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n):
        idx = rng.integers(0, len(y), len(y))
        if 0 < y[idx].sum() < len(idx):
            diffs.append(fn(y[idx], p_challenger[idx]) - fn(y[idx], p_champion[idx]))
    return (float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5)))


def gate(
    champion: dict[str, Any] | None, challenger: dict[str, Any], metric: str, margin: float
) -> tuple[bool, str]:
    """Promote? and why, in one sentence."""
    if champion is None:
        return True, "there is no champion yet: the challenger becomes the first one"
    old, new = champion["metrics"][metric], challenger["metrics"][metric]
    old_missed = champion["business"]["time_missed_min"]
    new_missed = challenger["business"]["time_missed_min"]
    if new < old + margin:
        return False, (
            f"the challenger's {metric} {new:.4f} does not beat the champion's {old:.4f} by the "
            f"margin {margin} (needs {old + margin:.4f}); the champion stays"
        )
    if new_missed > old_missed:
        return False, (
            f"the challenger's {metric} {new:.4f} beats {old:.4f}, but it would raise the time "
            f"missed from {old_missed:.1f} to {new_missed:.1f} team minutes; the champion stays"
        )
    return True, (
        f"the challenger's {metric} {new:.4f} beats the champion's {old:.4f} by at least "
        f"{margin} and the time missed does not rise ({old_missed:.1f} -> {new_missed:.1f} min)"
    )


# --- the run -----------------------------------------------------------------------------------


def retrain(settings: Settings, decisions: pd.DataFrame, options: RetrainOptions) -> dict[str, Any]:
    """Train a challenger on every label so far, compare, maybe promote; the report.

    `decisions`: every decision so far (RETRAIN_COLUMNS), as the live half exports them.
    """
    from tweet_triage.model.arguments import train_arguments
    from tweet_triage.model.training import train

    if options.selection_metric not in SELECTION_METRICS:
        raise RetrainError(
            f"selection metric {options.selection_metric!r} is not one of "
            f"{', '.join(SELECTION_METRICS)}"
        )
    started = time.perf_counter()
    state = read_state(settings.state_dir)
    data_dir = Path(settings.data_dir)
    annotated = set()
    for name in ("train", "val", "test"):
        annotated |= set(_split(data_dir, name)["id"])
    decided = decided_tweets(check_decisions(decisions))
    decisions, counts = decision_labels(decisions, annotated)
    since = decided - int(state.get("labels_at_last_retrain", 0))
    if since < options.min_new_labels and not options.force:
        raise NotEnoughLabelsError(
            f"only {since} new label(s) from the inbox since the last retrain "
            f"({decided} in all); retraining needs at least {options.min_new_labels} "
            "(--min-new-labels, or --force to retrain anyway). Label more on the inbox's "
            "Label page"
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = Path(settings.state_dir) / "triage" / "retrain" / stamp
    sizes = assemble_data(data_dir, decisions, work / "data", options.eval_share)
    test = _split(work / "data", "test")
    if test["needs_support"].nunique() < 2:
        raise RetrainError("the comparison tweets hold one class only; label more tweets")

    args = train_arguments(
        settings,
        **{
            **options.train_options,
            "data_dir": str(work / "data"),
            "model_dir": str(work / "challenger"),
            "track": True,
        },
    )
    trained = train(args, settings)
    challenger_version = trained.registered_version
    champion_before = champion_version(settings)

    challenger, p_new = score_model(work / "challenger", test, options.n_bootstrap, options.seed)
    champion = p_old = None
    if champion_before is not None and champion_before != challenger_version:
        champion, p_old = score_model(
            resolve_model(settings).folder, test, options.n_bootstrap, options.seed
        )
    promoted, why = gate(champion, challenger, options.selection_metric, options.margin)
    y = test["needs_support"].to_numpy().astype(int)
    difference = (
        paired_difference(
            y, p_old, p_new, options.selection_metric, options.n_bootstrap, options.seed
        )
        if p_old is not None
        else None
    )
    if promoted and challenger_version is not None:
        promote(settings, challenger_version, why)
        state = read_state(settings.state_dir)
    report = {
        "created_at": now(),
        "decision": PROMOTED if promoted else KEPT,
        "why": why,
        "selection_metric": options.selection_metric,
        "margin": options.margin,
        "champion_before": champion_before,
        "challenger_version": challenger_version,
        "champion_after": champion_version(settings),
        "labels": {"decisions": len(decisions), "new_since_last": since, **counts},
        "data": sizes,
        "champion": champion,
        "challenger": challenger,
        "difference_interval": difference,
        "training": {"steps": trained.steps, "seconds": round(trained.train_seconds, 1)},
        "seconds": round(time.perf_counter() - started, 1),
    }
    reports = Path(settings.reports_dir) / "retrain"
    reports.mkdir(parents=True, exist_ok=True)
    (reports / f"{stamp}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (reports / "latest.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (reports / "latest.md").write_text(render_report(report))
    state["last_retrain"] = {
        "at": report["created_at"],
        "decision": report["decision"],
        "why": why,
        "challenger_version": challenger_version,
        "report": str(reports / f"{stamp}.json"),
    }
    state["labels_at_last_retrain"] = decided
    write_state(settings.state_dir, state)
    return report


def render_report(report: dict[str, Any]) -> str:
    """The comparison as Markdown: the decision first, then the figures."""
    metric = report["selection_metric"]
    lines = [
        f"# Retrain {report['created_at']}: {report['decision']}",
        "",
        f"**Why**: {report['why']}.",
        "",
        f"Champion before: {report['champion_before']}; challenger: version "
        f"{report['challenger_version']}; champion now: {report['champion_after']}. "
        f"Labels from the inbox: {report['labels']['decisions']} "
        f"({report['labels']['new_since_last']} new); comparison tweets: "
        f"{report['data']['test']} (of which {report['data']['test_recent_labels']} recent "
        "random labels).",
        "",
        "| | " + " | ".join(["PR AUC", "ROC AUC", "F2", "time missed (min)", "time wasted (min)"]),
        "|---|---|---|---|---|---|",
    ]
    for name in ("champion", "challenger"):
        result = report[name]
        if result is None:
            continue
        m, b = result["metrics"], result["business"]

        def cell(key: str, value: float, intervals: dict[str, Any] = result["intervals"]) -> str:
            low, high = intervals.get(key, (float("nan"), float("nan")))
            return f"{value:.3f} [{low:.3f}, {high:.3f}]"

        lines.append(
            f"| {name} | {cell('pr_auc', m['pr_auc'])} | {cell('roc_auc', m['roc_auc'])} | "
            f"{cell('f2', m['f2'])} | {cell('time_missed_min', b['time_missed_min'])} | "
            f"{cell('time_wasted_min', b['time_wasted_min'])} |"
        )
    if report.get("difference_interval"):
        low, high = report["difference_interval"]
        lines += [
            "",
            f"Challenger - champion {metric}, 95% paired bootstrap: [{low:+.3f}, {high:+.3f}].",
        ]
    return "\n".join(lines) + "\n"
