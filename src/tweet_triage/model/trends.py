"""Trends of new predictions and the drift check the original only described in prose.

Distributions of P(needs support) by true class (when labels exist), time of day, hour,
word-count bin and client (where present). The drift check compares new predictions with
the validation distribution saved in the model folder at training time: the flag rate and
the mean score overall, and the flag rate per time of day (groups with at least
`min_group_size` tweets on both sides), each within a relative `tolerance` (default 15%, the
original's planned rule). It needs no labels, so it runs on fresh unlabelled tweets.
The label-shift section estimates the live share needing support from the scores alone (EM
prior adjustment) and says when the threshold should be revisited.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tweet_triage.model.data import ModelDataError, read_table
from tweet_triage.model.folder import ModelMeta
from tweet_triage.model.metrics import TIME_OF_DAY, word_bins
from tweet_triage.model.names import P_COLUMN, TRUE_COLUMN
from tweet_triage.text import word_count

HISTOGRAM_EDGES = np.linspace(0.0, 1.0, 11)
CLIENT_COLUMNS = ("client", "source")


def distribution_summary(p: np.ndarray, threshold: float) -> dict[str, Any]:
    """Count, moments, quantiles, flag rate and a 10-bin histogram (shares) of scores."""
    p = np.asarray(p, dtype=float)
    p = p[~np.isnan(p)]
    if not len(p):
        return {"n": 0}
    mean = float(p.mean())
    std = float(p.std(ddof=1)) if len(p) > 1 else 0.0
    return {
        "n": len(p),
        "mean": mean,
        "std": std,
        "median": float(np.median(p)),
        "q10": float(np.quantile(p, 0.1)),
        "q90": float(np.quantile(p, 0.9)),
        "cv_pct": 100 * std / mean if mean else float("nan"),
        "se": std / np.sqrt(len(p)),
        "flag_rate": float((p >= threshold).mean()),
        "histogram": (np.histogram(p, bins=HISTOGRAM_EDGES)[0] / len(p)).round(4).tolist(),
    }


def _with_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Add hour, time of day and word bin where the input lacks them (raw tweets)."""
    out = frame.copy()
    if "created_at" in out.columns and "hour" not in out.columns:
        out["hour"] = pd.to_datetime(out["created_at"], utc=True, errors="coerce").dt.hour
    if "hour" in out.columns and "time_of_day" not in out.columns:
        hours = pd.to_numeric(out["hour"], errors="coerce")
        out["time_of_day"] = pd.cut(hours, bins=range(0, 25, 4), right=False, labels=TIME_OF_DAY)
    if "word_count" not in out.columns:
        out["word_count"] = [word_count(t) if isinstance(t, str) else 0 for t in out["text"]]
    out["word_bin"] = word_bins(out["word_count"])
    return out


def trend_tables(frame: pd.DataFrame, threshold: float) -> dict[str, pd.DataFrame]:
    """One table of score distributions per available grouping."""
    frame = _with_features(frame)
    groupings = [c for c in (TRUE_COLUMN, "time_of_day", "hour", "word_bin") if c in frame.columns]
    groupings += [c for c in CLIENT_COLUMNS if c in frame.columns][:1]
    tables = {}
    for column in groupings:
        rows = []
        for key, group in frame.groupby(column, observed=True, sort=True):
            summary = distribution_summary(group[P_COLUMN].to_numpy(), threshold)
            summary.pop("histogram", None)
            rows.append({column: key, **summary})
        tables[column] = pd.DataFrame(rows)
    return tables


@dataclass
class DriftCheck:
    name: str
    reference: float
    current: float
    relative_change: float
    passed: bool


@dataclass
class DriftResult:
    tolerance: float
    checks: list[DriftCheck]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def _check(name: str, reference: float, current: float, tolerance: float) -> DriftCheck:
    change = abs(current - reference) / reference if reference else float("inf") * (current != 0)
    return DriftCheck(name, reference, current, float(change), bool(change <= tolerance))


def drift_check(
    frame: pd.DataFrame,
    reference: dict[str, Any],
    threshold: float,
    tolerance: float = 0.15,
    min_group_size: int = 30,
) -> DriftResult:
    """Compare new predictions with the training-time (validation) distribution."""
    if not reference or "overall" not in reference:
        raise ModelDataError(
            "the model folder holds no reference distribution; re-train with this version"
        )
    frame = _with_features(frame)
    current = distribution_summary(frame[P_COLUMN].to_numpy(), threshold)
    if current["n"] == 0:
        raise ModelDataError("no scored prediction to check for drift")
    overall = reference["overall"]
    checks = [
        _check("flag_rate", overall["flag_rate"], current["flag_rate"], tolerance),
        _check("mean_p", overall["mean"], current["mean"], tolerance),
    ]
    for name, ref in reference.get("by_time_of_day", {}).items():
        group = frame.loc[frame.get("time_of_day", pd.Series(dtype=object)) == name, P_COLUMN]
        now = distribution_summary(group.to_numpy(), threshold)
        if ref.get("n", 0) >= min_group_size and now["n"] >= min_group_size:
            checks.append(
                _check(f"flag_rate[{name}]", ref["flag_rate"], now["flag_rate"], tolerance)
            )
    return DriftResult(tolerance=tolerance, checks=checks)


@dataclass
class LabelShift:
    """The estimated share needing support in new tweets against the training share."""

    train_share: float
    estimated_share: float
    relative_change: float
    calibrated: bool
    threshold: float
    equivalent_threshold: float
    revisit: bool

    def note(self) -> str:
        basis = (
            "calibrated scores"
            if self.calibrated
            else "uncalibrated scores (rough: re-train with --calibration auto)"
        )
        line = (
            f"Estimated share needing support: {self.estimated_share:.1%} (training: "
            f"{self.train_share:.1%}, {self.relative_change:+.0%}), by EM prior adjustment "
            f"(Saerens et al., 2002) on {basis}."
        )
        if not self.revisit:
            return line + " Within tolerance: the threshold stands."
        return line + (
            f" Revisit the threshold: at this share the model's strategy cuts at "
            f"{self.equivalent_threshold:.3f}, not {self.threshold:.3f} (`tweet-triage threshold "
            f"--live-prior {self.estimated_share:.2f}`, or let the scorer follow the live mix)."
        )


def label_shift(frame: pd.DataFrame, meta: ModelMeta, tolerance: float) -> LabelShift | None:
    """EM estimate of the live share needing support; None without a training share."""
    from tweet_triage.model import prior_shift

    validation = meta.validation
    if not validation.get("n") or not 0 < validation.get("positives", 0) < validation["n"]:
        return None
    train_share = validation["positives"] / validation["n"]
    estimated = prior_shift.estimate_prior(frame[P_COLUMN].to_numpy(), train_share)
    if np.isnan(estimated):
        return None
    change = (estimated - train_share) / train_share
    curve = (meta.threshold_strategy or {}).get("by_live_prior")
    equivalent = (  # the strategy's own cut at the live share; else the Bayes-moved one
        prior_shift.live_threshold(curve, estimated)
        if curve
        else prior_shift.shifted_threshold(meta.threshold, train_share, estimated)
    )
    return LabelShift(
        train_share=float(train_share),
        estimated_share=estimated,
        relative_change=float(change),
        calibrated=meta.calibration.get("method", "none") != "none",
        threshold=meta.threshold,
        equivalent_threshold=equivalent,
        revisit=bool(abs(change) > tolerance),
    )


def trends_report(
    predictions_path: Path,
    model_dir: Path,
    reports_dir: Path,
    tolerance: float = 0.15,
    min_group_size: int = 30,
) -> tuple[Path, DriftResult]:
    """Write trends.md and trends.json (plus a plot) to reports_dir; return the drift verdict."""
    from tweet_triage.model.plots import plot_score_by_group
    from tweet_triage.model.report import markdown_table

    frame = read_table(predictions_path)
    if P_COLUMN not in frame.columns:
        raise ModelDataError(
            f"{predictions_path} has no {P_COLUMN} column; run `tweet-triage predict` first"
        )
    meta = ModelMeta.load(model_dir)
    tables = trend_tables(frame, meta.threshold)
    drift = drift_check(
        frame, meta.reference_distribution, meta.threshold, tolerance, min_group_size
    )
    shift = label_shift(frame, meta, tolerance)
    reports_dir.mkdir(parents=True, exist_ok=True)
    overall = distribution_summary(frame[P_COLUMN].to_numpy(), meta.threshold)
    plot = plot_score_by_group(
        _with_features(frame), "time_of_day", reports_dir / "trends_time_of_day.png"
    )
    (reports_dir / "trends.json").write_text(
        json.dumps(
            {
                "predictions": str(predictions_path),
                "overall": overall,
                "tables": {k: v.to_dict(orient="records") for k, v in tables.items()},
                "drift": {
                    "passed": drift.passed,
                    "tolerance": tolerance,
                    "checks": [asdict(c) for c in drift.checks],
                },
                "label_shift": asdict(shift) if shift else None,
            },
            indent=2,
            default=str,
        )
    )
    lines = [
        "# Needs-support trends",
        "",
        f"Predictions: `{predictions_path}` ({overall['n']} scored tweets, threshold "
        f"{meta.threshold:.3f}, flag rate {overall['flag_rate']:.1%}, "
        f"mean p {overall['mean']:.3f}).",
        "",
        f"## Drift check: {'PASS' if drift.passed else 'FAIL'} "
        f"(tolerance {tolerance:.0%} relative)",
        "",
        "Reference: the validation scores saved with the model at training time.",
        "",
        "| check | reference | now | relative change | verdict |",
        "|---|---|---|---|---|",
        *(
            f"| {c.name} | {c.reference:.3f} | {c.current:.3f} | {c.relative_change:.1%} | "
            f"{'pass' if c.passed else 'FAIL'} |"
            for c in drift.checks
        ),
        "",
    ]
    if shift is not None:
        lines += ["## Label shift", "", shift.note(), ""]
    for column, table in tables.items():
        lines += [f"## p_needs_support by {column}", "", markdown_table(table), ""]
    if plot is not None:
        lines += [f"![score by time of day]({plot.name})", ""]
    path = reports_dir / "trends.md"
    path.write_text("\n".join(lines))
    return path, drift
