"""Retrain, compare, promote: a new model replaces the champion only when it proves better.

`retrain` (the CLI's `tweet-triage retrain`, `make retrain`, the daily timer):
1. collects every label so far: the data stage's splits (annotations) and the inbox's
   decisions, settled by `data.decisions.resolve_labels`; refuses to start with fewer than
   `min_new_labels` decision labels since the last retrain;
2. assembles the challenger's data: train = the train split + the decision labels outside the
   evaluation pool; val = the val split; test = the fixed test split + the decision labels in
   the evaluation pool (random, held out: never trained on);
3. trains the challenger with the same training code as `tweet-triage train` (registered in
   MLflow as a new version, not yet champion);
4. scores champion and challenger on the same test tweets: metrics with bootstrap intervals,
   a paired bootstrap interval of the difference in the selection metric, team minutes;
5. promotes (moves the MLflow alias `champion`) only when the challenger beats the champion on
   the selection metric by at least `margin` and does not raise the time missed; writes the
   report (JSON and Markdown) saying what was decided and why.
The live scorer and the inbox resolve the alias before each batch, so a promotion reaches
them without a restart. `promote` and `rollback` are the same alias move, for people; the
champion is never left unset (a rollback with nothing to roll back to changes nothing).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tweet_triage.data.decisions import SOURCE_DECISION, resolve_labels
from tweet_triage.errors import TriageError
from tweet_triage.live.labels import DEFAULT_EVAL_SHARE, decisions_frame, in_evaluation_pool

log = logging.getLogger(__name__)

SELECTION_METRICS = ("pr_auc", "roc_auc", "f2", "f1")
STATE_FILE = "loop.json"
DRIFT_GAUGE = {"pass": 1, "fail": 0}


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


# --- state: the champion's history and the last retrain ----------------------------------------


def state_path(settings: Any) -> Path:
    return Path(settings.state_dir) / "triage" / STATE_FILE


def read_state(settings: Any) -> dict[str, Any]:
    path = state_path(settings)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {"history": [], "last_retrain": None, "labels_at_last_retrain": 0}
    except ValueError as exc:
        raise RetrainError(f"{path}: not valid JSON ({exc}); delete it to start afresh") from exc


def write_state(settings: Any, state: dict[str, Any]) -> None:
    path = state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(state, indent=2, default=str) + "\n")
    partial.replace(path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _record_champion(state: dict[str, Any], version: str, why: str) -> None:
    state.setdefault("history", []).append({"version": str(version), "since": _now(), "why": why})


def promote(settings: Any, version: str, why: str = "promoted by hand") -> dict[str, Any]:
    """Point `champion` at `version` (NoModelError naming it when it does not exist)."""
    from tweet_triage.model.registry import champion_version, set_champion

    state = read_state(settings)
    previous = champion_version(settings)
    if previous is not None and not state.get("history"):
        _record_champion(state, previous, "champion before the loop's first move")
    set_champion(settings, str(version))
    _record_champion(state, str(version), why)
    write_state(settings, state)
    return {"champion": str(version), "previous": previous}


def rollback(settings: Any) -> dict[str, Any]:
    """Give `champion` back to the version that held it before the current one."""
    from tweet_triage.model.registry import champion_version, set_champion

    state = read_state(settings)
    history = state.get("history", [])
    current = champion_version(settings)
    earlier = [h for h in history[:-1] if h["version"] != current]
    if current is None or not earlier:
        raise RetrainError(
            f"nothing to roll back to: the champion ({current or 'none'}) has no recorded "
            "predecessor; use `tweet-triage model promote --version N`"
        )
    target = earlier[-1]["version"]
    set_champion(settings, target)
    state["history"] = [*history[: history.index(earlier[-1])], earlier[-1]]
    state["history"][-1] = {**earlier[-1], "since": _now(), "why": f"rollback from {current}"}
    write_state(settings, state)
    return {"champion": target, "previous": current}


# --- labels and data -------------------------------------------------------------------------


def decided_tweets(store: Any) -> int:
    """Tweets with at least one decision: the count "new labels" is measured against."""
    return len({d.tweet_id for d in store.decisions()})


def _split(data_dir: Path, name: str) -> pd.DataFrame:
    from tweet_triage.model.data import read_table, require_splits, splits_dir

    require_splits(data_dir, (name,))
    frame = read_table(splits_dir(data_dir) / name)
    keep = [c for c in ("id", "text", "model_text", "needs_support", "sentiment") if c in frame]
    frame = frame[keep].copy()
    frame["id"] = frame["id"].astype(str)
    return frame


def decision_labels(store: Any, annotated_ids: set[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The decisions as labels with their texts; annotations (the splits) outrank them."""
    from tweet_triage.text import normalise_text

    decisions = decisions_frame(store.decisions())
    annotations = pd.DataFrame({"id": sorted(annotated_ids), "sentiment": 0})
    resolved = resolve_labels(annotations, decisions)
    labels = resolved.labels[resolved.labels["source"] == SOURCE_DECISION]
    texts = {t.id: t.text for t in (store.get_tweet(i) for i in labels["id"])}
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


def retrain(settings: Any, store: Any, options: RetrainOptions) -> dict[str, Any]:
    """Train a challenger on every label so far, compare, maybe promote; the report."""
    from tweet_triage.model.arguments import train_arguments
    from tweet_triage.model.registry import champion_version, resolve_model
    from tweet_triage.model.training import train

    if options.selection_metric not in SELECTION_METRICS:
        raise RetrainError(
            f"selection metric {options.selection_metric!r} is not one of "
            f"{', '.join(SELECTION_METRICS)}"
        )
    started = time.perf_counter()
    state = read_state(settings)
    data_dir = Path(settings.data_dir)
    annotated = set()
    for name in ("train", "val", "test"):
        annotated |= set(_split(data_dir, name)["id"])
    decisions, counts = decision_labels(store, annotated)
    decided = decided_tweets(store)
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
        state = read_state(settings)
    report = {
        "created_at": _now(),
        "decision": "promoted" if promoted else "kept champion",
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
    write_state(settings, state)
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


def loop_status(settings: Any, store: Any | None = None) -> dict[str, Any]:
    """What `model status` prints: the registry's champion, its age, last retrain, labels since."""
    from tweet_triage.model.registry import champion_version

    return loop_card(Path(settings.state_dir), champion_version(settings), store)


def loop_card(state_dir: Path, champion: str | None, store: Any | None) -> dict[str, Any]:
    """The loop's state for the dashboard and /metrics (champion as the caller resolved it)."""
    try:
        state = json.loads((state_dir / "triage" / STATE_FILE).read_text())
    except (OSError, ValueError):
        state = {}
    since = next(
        (h["since"] for h in reversed(state.get("history", [])) if h["version"] == champion), None
    )
    age = (datetime.now(UTC) - datetime.fromisoformat(since)).total_seconds() if since else None
    labels_since = None
    if store is not None:
        labels_since = decided_tweets(store) - int(state.get("labels_at_last_retrain", 0))
    return {
        "champion": champion,
        "champion_since": since,
        "champion_age_seconds": age,
        "last_retrain": state.get("last_retrain"),
        "labels_since_retrain": labels_since,
    }


def loop_metrics(card: dict[str, Any] | None, drift_state: str) -> str:
    """Prometheus text for the loop (appended to the inbox's /metrics)."""
    card = card or {}
    last = card.get("last_retrain") or {}
    promoted = {"promoted": 1, "kept champion": 0}.get(last.get("decision", ""), -1)
    champion = card.get("champion")
    lines = [
        "# HELP triage_loop_champion_version The champion model version (numeric; -1 unknown).",
        "# TYPE triage_loop_champion_version gauge",
        f"triage_loop_champion_version {champion if champion and champion.isdigit() else -1}",
        "# HELP triage_loop_champion_age_seconds Seconds since the champion took over.",
        "# TYPE triage_loop_champion_age_seconds gauge",
        f"triage_loop_champion_age_seconds {card.get('champion_age_seconds') or -1:.0f}",
        "# HELP triage_loop_labels_since_retrain Tweets decided since the last retrain.",
        "# TYPE triage_loop_labels_since_retrain gauge",
        f"triage_loop_labels_since_retrain {card.get('labels_since_retrain') or 0}",
        "# HELP triage_loop_last_retrain_promoted 1 promoted, 0 kept the champion, -1 none yet.",
        "# TYPE triage_loop_last_retrain_promoted gauge",
        f"triage_loop_last_retrain_promoted {promoted}",
        "# HELP triage_drift_passed 1 the last drift check passed, 0 failed, -1 unknown.",
        "# TYPE triage_drift_passed gauge",
        f"triage_drift_passed {DRIFT_GAUGE.get(drift_state, -1)}",
    ]
    return "\n".join(lines) + "\n"
