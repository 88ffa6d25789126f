"""The evaluation's PNG plots (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve

from tweet_triage.model.names import P_COLUMN

CLASS_NAMES = ("does not need support", "needs support")


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_confusion(confusion: dict[str, int], path: Path) -> Path:
    matrix = np.array([[confusion["tn"], confusion["fp"]], [confusion["fn"], confusion["tp"]]])
    fig, ax = plt.subplots(figsize=(4.6, 4))
    ax.imshow(matrix, cmap="Blues")
    for (row, col), value in np.ndenumerate(matrix):
        ax.text(
            col,
            row,
            str(value),
            ha="center",
            va="center",
            color="white" if value > matrix.max() / 2 else "black",
            fontsize=13,
        )
    ax.set_xticks([0, 1], [f"pred: {c}" for c in ("no", "needs")])
    ax.set_yticks([0, 1], [f"true: {c}" for c in ("no", "needs")])
    ax.set_title("Confusion matrix (needs support)")
    return _save(fig, path)


def plot_pr_curve(y: np.ndarray, p: np.ndarray, threshold: float, path: Path) -> Path:
    precision, recall, thresholds = precision_recall_curve(y, p)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(recall, precision, label="model")
    ax.axhline(y.mean(), color="grey", linestyle="--", label=f"random ({y.mean():.2f})")
    at = min(np.searchsorted(thresholds, threshold), len(thresholds) - 1)
    ax.scatter(
        [recall[at]], [precision[at]], color="red", zorder=3, label=f"threshold {threshold:.3f}"
    )
    ax.set_xlabel("recall (needs support)")
    ax.set_ylabel("precision (needs support)")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left")
    ax.set_title("Precision-recall")
    return _save(fig, path)


def plot_histograms(y: np.ndarray, p: np.ndarray, threshold: float, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 4))
    bins = np.linspace(0, 1, 26)
    for label, name in enumerate(CLASS_NAMES):
        ax.hist(p[y == label], bins=bins, alpha=0.6, label=f"true: {name}")
    ax.axvline(threshold, color="red", linestyle="--", label="threshold")
    ax.set_xlabel("p_needs_support")
    ax.set_ylabel("tweets")
    ax.legend()
    ax.set_title("Scores per true class")
    return _save(fig, path)


def plot_business(business: dict[str, Any], path: Path) -> Path:
    """Support minutes lost (missed + wasted, stacked) for the model and every baseline."""
    names = {
        "model": "model",
        "flag_everything": "flag everything",
        "flag_nothing": "flag nothing",
        "naive_same_rate": "random, same flag rate",
        "naive_50": "random, 50%",
        "naive_draw": "one random draw",
    }
    keys = [k for k in names if k in business]
    missed = np.array([business[k]["time_missed_min"] for k in keys])
    wasted = np.array([business[k]["time_wasted_min"] for k in keys])
    fig, ax = plt.subplots(figsize=(8, 4.2))
    x = np.arange(len(keys))
    ax.bar(x, missed, color="C3", label="time missed")
    bars = ax.bar(x, wasted, bottom=missed, color="C1", label="time wasted")
    ax.bar_label(bars, labels=[f"{v:.0f}" for v in missed + wasted])
    ax.set_xticks(x, [names[k] for k in keys], rotation=20, ha="right")
    ax.set_ylim(0, max(1.0, float((missed + wasted).max())) * 1.12)  # room for the labels
    ax.set_ylabel("support minutes lost")
    ax.set_title("Support minutes lost: model against baselines")
    ax.legend()
    return _save(fig, path)


def plot_reach(capacity: dict[str, Any], path: Path) -> Path | None:
    """Share of needs-support tweets reached against reading capacity, both orders."""
    if not capacity.get("curve"):
        return None
    curve = pd.DataFrame(capacity["curve"])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(curve["capacity_per_hour"], curve["model_reached"], marker=".", label="model order")
    ax.plot(curve["capacity_per_hour"], curve["arrival_reached"], marker=".", label="arrival order")
    ax.axvline(capacity["capacity_per_hour"], color="grey", linestyle="--", label="the team")
    ax.axvline(capacity["arriving_per_hour"], color="grey", linestyle=":", label="arriving")
    if capacity["capacity_per_hour"] > 3 * capacity["arriving_per_hour"]:
        ax.set_xscale("log")  # a team far above the arriving work: keep the rise readable
    ax.set_xlabel(f"capacity ({capacity['unit']} per hour)")
    ax.set_ylabel("needs-support tweets reached")
    ax.set_ylim(0, 1.02)
    ax.set_title("Reach against capacity")
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_share_over_time(frame: pd.DataFrame, y_col: str, pred_col: str, path: Path) -> Path | None:
    """Daily (or hourly, for spans under 3 days) share of tweets needing / flagged for support."""
    if "created_at" not in frame.columns:
        return None
    times = pd.to_datetime(frame["created_at"], utc=True, errors="coerce")
    if times.isna().all():
        return None
    span = times.max() - times.min()
    freq = "h" if span < pd.Timedelta(days=3) else "D"
    grouped = frame.assign(period=times.dt.floor(freq)).groupby("period")
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(grouped[y_col].mean(), marker=".", label="true share")
    ax.plot(grouped[pred_col].mean(), marker=".", label="flagged share")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of tweets")
    ax.set_title(f"Needs support over time (per {'hour' if freq == 'h' else 'day'}, UTC)")
    ax.legend()
    fig.autofmt_xdate()
    return _save(fig, path)


def plot_score_by_group(frame: pd.DataFrame, column: str, path: Path) -> Path | None:
    if column not in frame.columns or frame[column].isna().all():
        return None
    groups = [
        (str(k), g[P_COLUMN].dropna().to_numpy())
        for k, g in frame.groupby(column, observed=True, sort=True)
    ]
    groups = [(k, v) for k, v in groups if len(v)]
    if not groups:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.boxplot([v for _, v in groups], tick_labels=[k for k, _ in groups])
    ax.set_ylabel("p_needs_support")
    ax.set_title(f"Scores by {column.replace('_', ' ')}")
    return _save(fig, path)


def plot_reliability(calibration: dict[str, Any], path: Path) -> Path | None:
    """Share needing support against mean score per bin, before and after calibration."""
    if not calibration.get("reliability_before"):
        return None
    fig, ax = plt.subplots(figsize=(5, 4.4))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect")
    for key, label in (("reliability_before", "before"), ("reliability_after", "after")):
        bins = pd.DataFrame(calibration[key])
        ax.plot(
            bins["mean_p"],
            bins["share"],
            marker="o",
            label=f"{label} (ECE {calibration['ece_' + label]:.3f})",
        )
    ax.set_xlabel("mean p_needs_support in bin")
    ax.set_ylabel("share needing support")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(f"Reliability ({calibration.get('method', 'none')} calibration)")
    ax.legend(loc="upper left")
    return _save(fig, path)
