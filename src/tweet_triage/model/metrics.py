"""How the support team judges the model: needs-support metrics and business metrics.

Everything is about the needs-support class (label 1), the one the team acts on; weighted
averages are kept only to compare with the original system, which reported nothing else.

Business metrics (parameters in `BusinessParams`, documented in docs/model.md):
- a tweet of `w` words takes `w * 60 / reading_wpm` seconds to read and, when answered,
  `w * reply_length_ratio * 60 / typing_wpm` seconds to type the reply;
- time missed = response time (reading + `response_fraction` x typing) of false negatives:
  tweets that needed the team and were not shown to it;
- time wasted = reading time of false positives (+ `false_positive_reply_fraction` x typing,
  0 by default: a tweet that needs no support is read, not answered).
Total support minutes lost = time missed + time wasted, the one number the headline compares.
Baselines: flag everything (nothing missed, every tweet that needs no support read), flag
nothing (every needs-support tweet missed), and random guessing that flags each tweet with
probability q, whose expected values are exact: E[missed] = (1 - q) x (response time of all
positives) and E[wasted] = q x (waste time of all negatives). We report q = the model's own
flag rate (same workload) and q = 0.5 (a coin), plus one seeded draw for reference.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
)

from tweet_triage.model.parameters import BusinessParams

WORD_BIN_EDGES = (0, 5, 10, 15, 20, 25, 30, 40, 50, 60)
TIME_OF_DAY = ("Late Night", "Early Morning", "Morning", "Afternoon", "Evening", "Night")


def tweet_seconds(words: np.ndarray, params: BusinessParams) -> tuple[np.ndarray, np.ndarray]:
    """Per tweet: (response seconds if it needs support, wasted seconds if it does not)."""
    words = np.asarray(words, dtype=float)
    reading = words * 60.0 / params.reading_wpm
    typing = words * params.reply_length_ratio * 60.0 / params.typing_wpm
    return reading + params.response_fraction * typing, reading + (
        params.false_positive_reply_fraction * typing
    )


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, int]:
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    return {
        "tn": int(((y_true == 0) & (y_pred == 0)).sum()),
        "fp": int(((y_true == 0) & (y_pred == 1)).sum()),
        "fn": int(((y_true == 1) & (y_pred == 0)).sum()),
        "tp": int(((y_true == 1) & (y_pred == 1)).sum()),
    }


def f_beta(tp: float, fp: float, fn: float, beta: float) -> float:
    """F-beta from counts; 0 when there is nothing to score (sklearn's zero_division=0)."""
    b2 = beta * beta
    denominator = (1 + b2) * tp + b2 * fn + fp
    return float((1 + b2) * tp / denominator) if denominator else 0.0


def _safe_auc(fn: Any, y_true: np.ndarray, scores: np.ndarray) -> float:
    return float(fn(y_true, scores)) if len(np.unique(y_true)) == 2 else float("nan")


def classification_metrics(
    y_true: np.ndarray, p_needs_support: np.ndarray, threshold: float
) -> dict[str, Any]:
    """Needs-support metrics at a threshold, the AUCs, and the original's weighted averages."""
    y_true = np.asarray(y_true, dtype=int)
    p = np.asarray(p_needs_support, dtype=float)
    y_pred = (p >= threshold).astype(int)
    c = confusion(y_true, y_pred)
    tp, fp, fn, tn = c["tp"], c["fp"], c["fn"], c["tn"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    specificity = tn / (tn + fp) if tn + fp else 0.0
    weighted = precision_recall_fscore_support(
        y_true, y_pred, average="weighted", zero_division=0, labels=[0, 1]
    )
    weighted_f2 = precision_recall_fscore_support(
        y_true, y_pred, beta=2.0, average="weighted", zero_division=0, labels=[0, 1]
    )[2]
    return {
        "n": len(y_true),
        "positives": int(y_true.sum()),
        "threshold": float(threshold),
        "flag_rate": float(y_pred.mean()) if len(y_pred) else 0.0,
        "precision": float(precision),
        "recall": float(recall),
        "f1": f_beta(tp, fp, fn, 1.0),
        "f2": f_beta(tp, fp, fn, 2.0),
        "accuracy": float((tp + tn) / len(y_true)) if len(y_true) else 0.0,
        "balanced_accuracy": float((recall + specificity) / 2),
        "roc_auc": _safe_auc(roc_auc_score, y_true, p),
        "pr_auc": _safe_auc(average_precision_score, y_true, p),
        "confusion": c,
        "weighted": {
            "precision": float(weighted[0]),
            "recall": float(weighted[1]),
            "f1": float(weighted[2]),
            "f2": float(weighted_f2),
        },
    }


def best_threshold(
    y_true: np.ndarray,
    p: np.ndarray,
    beta: float = 2.0,
    sample_weight: np.ndarray | None = None,
) -> tuple[float, float]:
    """The threshold maximising needs-support F-beta on these labels, and that F-beta.

    Candidates are the distinct scores (flag p >= t); ties go to the highest threshold, the
    one that flags fewest tweets for the same score. `sample_weight` counts each tweet that
    many times (a live mix other than these labels' own: prior_shift.py).
    """
    y_true = np.asarray(y_true, dtype=int)
    if y_true.sum() == 0:
        raise ValueError("cannot choose a threshold without any needs-support example")
    precision, recall, thresholds = precision_recall_curve(
        y_true, np.asarray(p, dtype=float), sample_weight=sample_weight
    )
    precision, recall = precision[:-1], recall[:-1]
    b2 = beta * beta
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(
            precision + recall > 0, (1 + b2) * precision * recall / (b2 * precision + recall), 0.0
        )
    best = np.flatnonzero(scores == scores.max()).max()
    return float(thresholds[best]), float(scores[best])


def bootstrap_intervals(
    y_true: np.ndarray,
    p: np.ndarray,
    threshold: float,
    seconds: tuple[np.ndarray, np.ndarray],
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals (tweets resampled with replacement) of the headline numbers.

    Threshold metrics are computed vectorised over all resamples; the AUCs per resample.
    """
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(p, dtype=float)
    pred = (p >= threshold).astype(int)
    response, waste = seconds
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(n_resamples, len(y)))
    yb, pb = y[idx], pred[idx]
    tp = ((yb == 1) & (pb == 1)).sum(1).astype(float)
    fp = ((yb == 0) & (pb == 1)).sum(1).astype(float)
    fn = ((yb == 1) & (pb == 0)).sum(1).astype(float)
    tn = ((yb == 0) & (pb == 0)).sum(1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        specificity = np.where(tn + fp > 0, tn / (tn + fp), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        f2 = np.where(5 * tp + 4 * fn + fp > 0, 5 * tp / (5 * tp + 4 * fn + fp), 0.0)
    samples: dict[str, np.ndarray] = {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "f2": f2,
        "accuracy": (tp + tn) / len(y),
        "balanced_accuracy": (recall + specificity) / 2,
        "time_missed_min": (response[idx] * ((yb == 1) & (pb == 0))).sum(1) / 60,
        "time_wasted_min": (waste[idx] * ((yb == 0) & (pb == 1))).sum(1) / 60,
    }
    roc, pr = [], []
    for row in idx:
        if 0 < y[row].sum() < len(row):
            roc.append(roc_auc_score(y[row], p[row]))
            pr.append(average_precision_score(y[row], p[row]))
    samples["roc_auc"], samples["pr_auc"] = np.array(roc), np.array(pr)
    tail = (1 - confidence) / 2 * 100
    return {
        name: (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail)))
        if len(v)
        else (float("nan"), float("nan"))
        for name, v in samples.items()
    }


def business_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, words: np.ndarray, params: BusinessParams
) -> dict[str, float]:
    """Team minutes for one set of 0/1 decisions (model or a random draw)."""
    y = np.asarray(y_true, dtype=int)
    pred = np.asarray(y_pred, dtype=int)
    response, waste = tweet_seconds(words, params)
    missed = (y == 1) & (pred == 0)
    wasted = (y == 0) & (pred == 1)
    time_missed = float(response[missed].sum() / 60)
    time_wasted = float(waste[wasted].sum() / 60)
    return {
        "tweets_missed": int(missed.sum()),
        "tweets_wasted": int(wasted.sum()),
        "time_missed_min": time_missed,
        "time_wasted_min": time_wasted,
        "total_lost_min": time_missed + time_wasted,
        "flag_rate": float(pred.mean()) if len(pred) else 0.0,
    }


def least_minutes_threshold(
    y_true: np.ndarray, p: np.ndarray, words: np.ndarray, params: BusinessParams
) -> tuple[float, float]:
    """The oracle: the threshold losing the fewest support minutes on these labels, and those
    minutes (flag p >= threshold; above every score: flag nothing). A bar for thresholds
    chosen without the labels, never a threshold to ship."""
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(p, dtype=float)
    response, waste = tweet_seconds(words, params)
    order = np.argsort(-p, kind="stable")
    # Flagging the top k: missed = response of the needs-support tweets left, wasted = waste
    # of the others taken; only cuts between distinct scores are thresholds.
    missed = (response * y)[order].sum() - np.concatenate(([0.0], np.cumsum((response * y)[order])))
    wasted = np.concatenate(([0.0], np.cumsum((waste * (1 - y))[order])))
    lost = (missed + wasted) / 60
    sorted_p = p[order]
    cuts = np.concatenate((np.flatnonzero(np.diff(sorted_p) != 0) + 1, [len(p)]))
    candidates = np.concatenate(([0], cuts))
    best = int(candidates[np.argmin(lost[candidates])])
    threshold = float(sorted_p[best - 1]) if best else float(np.nextafter(sorted_p[0], np.inf))
    return threshold, float(lost[best])


def naive_expected(
    y_true: np.ndarray, words: np.ndarray, flag_rate: float, params: BusinessParams
) -> dict[str, float]:
    """Exact expectations for random guessing that flags each tweet with probability q."""
    if not 0.0 <= flag_rate <= 1.0:
        raise ValueError("flag_rate must lie in [0, 1]")
    y = np.asarray(y_true, dtype=int)
    response, waste = tweet_seconds(words, params)
    time_missed = float((1 - flag_rate) * response[y == 1].sum() / 60)
    time_wasted = float(flag_rate * waste[y == 0].sum() / 60)
    return {
        "tweets_missed": float((1 - flag_rate) * (y == 1).sum()),
        "tweets_wasted": float(flag_rate * (y == 0).sum()),
        "time_missed_min": time_missed,
        "time_wasted_min": time_wasted,
        "total_lost_min": time_missed + time_wasted,
        "flag_rate": float(flag_rate),
    }


def pct_reduction(model: float, baseline: float) -> float:
    """100 x (baseline - model) / baseline; NaN when the baseline is 0 (nothing to reduce)."""
    return float(100.0 * (baseline - model) / baseline) if baseline else float("nan")


def business_comparison(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    words: np.ndarray,
    params: BusinessParams,
    seed: int = 88,
) -> dict[str, Any]:
    """The model against flagging everything, flagging nothing and random guessing (expected
    at the model's flag rate and at 50%, and one seeded draw)."""
    y = np.asarray(y_true, dtype=int)
    model = business_metrics(y, y_pred, words, params)
    draw = np.random.default_rng(seed).integers(0, 2, size=len(y))
    baselines = {
        "flag_everything": business_metrics(y, np.ones_like(y), words, params),
        "flag_nothing": business_metrics(y, np.zeros_like(y), words, params),
        "naive_same_rate": naive_expected(y, words, model["flag_rate"], params),
        "naive_50": naive_expected(y, words, 0.5, params),
        "naive_draw": business_metrics(y, draw, words, params),
    }
    response, _ = tweet_seconds(words, params)
    result: dict[str, Any] = {
        "params": params.as_dict(),
        "draw_seed": seed,
        "response_time_true_min": float(response[y == 1].sum() / 60),
        "model": model,
        **baselines,
        "pct_reduction": {
            name: {
                "time_missed": pct_reduction(model["time_missed_min"], b["time_missed_min"]),
                "time_wasted": pct_reduction(model["time_wasted_min"], b["time_wasted_min"]),
                "total_lost": pct_reduction(model["total_lost_min"], b["total_lost_min"]),
            }
            for name, b in baselines.items()
        },
    }
    return result


def word_bins(word_counts: pd.Series) -> pd.Series:
    """Word-count bins '1-5', '6-10', ..., '51-60', '61+' (ordered categorical)."""
    edges = [*WORD_BIN_EDGES, np.inf]
    labels = [f"{lo + 1}-{hi}" for lo, hi in itertools.pairwise(WORD_BIN_EDGES)]
    labels.append(f"{WORD_BIN_EDGES[-1] + 1}+")
    return pd.cut(word_counts, bins=edges, labels=labels, include_lowest=True)


def slice_table(
    frame: pd.DataFrame, by: str, y_col: str, p_col: str, pred_col: str
) -> pd.DataFrame:
    """Per group: size, needs-support share, flag rate, precision, recall, F2, mean p."""
    rows = []
    for key, group in frame.groupby(by, observed=True, sort=True):
        c = confusion(group[y_col].to_numpy(), group[pred_col].to_numpy())
        tp, fp, fn = c["tp"], c["fp"], c["fn"]
        rows.append(
            {
                by: key,
                "n": len(group),
                "needs_support_share": float(group[y_col].mean()),
                "flag_rate": float(group[pred_col].mean()),
                "precision": tp / (tp + fp) if tp + fp else float("nan"),
                "recall": tp / (tp + fn) if tp + fn else float("nan"),
                "f2": f_beta(tp, fp, fn, 2.0) if tp + fn else float("nan"),
                "error_rate": float((group[y_col] != group[pred_col]).mean()),
                "mean_p": float(group[p_col].mean()),
            }
        )
    return pd.DataFrame(rows)
