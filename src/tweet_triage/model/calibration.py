"""Calibrated P(needs support): temperature scaling or isotonic regression, fitted on validation.

The network's P(needs support) ranks tweets well but is not a frequency (class weights and
the three-class head push it around), and the cost threshold needs one. Two maps, fitted on
the validation scores:
- temperature: p' = sigmoid(logit(p) / T), one parameter (keeps the ranking, no ties);
- isotonic: a monotone step function (more flexible, can tie scores, needs more data).
`--calibration auto` measures both by two-fold cross-fitting on validation (fit on one half,
expected calibration error on the other, both ways) and keeps the lowest ECE, "none" included,
then refits the winner on all of validation. The result is saved in triage.json and applied by
every scorer, so predict, the streaming scorer and the inbox all see calibrated scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tweet_triage.errors import TriageError
from tweet_triage.model.parameters import CALIBRATIONS

METHODS = ("none", "temperature", "isotonic")
ECE_BINS = 10
_EPS = 1e-6


class CalibrationError(TriageError):
    """A calibration that cannot be fitted on the data given."""


def expected_calibration_error(y_true: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Sum over equal-width bins of (bin share) x |mean label - mean score|."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(p, dtype=float)
    if not len(y):
        return float("nan")
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(y[mask].mean() - p[mask].mean())
    return float(total)


def reliability(y_true: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> list[dict[str, float]]:
    """Per non-empty bin: mean score, share needing support, count (the reliability plot)."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(p, dtype=float)
    which = np.minimum((p * bins).astype(int), bins - 1)
    return [
        {"mean_p": float(p[which == b].mean()), "share": float(y[which == b].mean()), "n": n}
        for b in range(bins)
        if (n := int((which == b).sum()))
    ]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def fit_temperature(y_true: np.ndarray, p: np.ndarray) -> float:
    """The T minimising the log loss of sigmoid(logit(p) / T) (searched over log T)."""
    from scipy.optimize import minimize_scalar

    y, z = np.asarray(y_true, dtype=float), _logit(p)

    def log_loss(log_t: float) -> float:
        q = np.clip(1 / (1 + np.exp(-z / np.exp(log_t))), _EPS, 1 - _EPS)
        return float(-(y * np.log(q) + (1 - y) * np.log(1 - q)).mean())

    return float(np.exp(minimize_scalar(log_loss, bounds=(-5.0, 5.0), method="bounded").x))


def fit(method: str, y_true: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """The fitted map of one method, as saved in triage.json."""
    if method == "temperature":
        return {"method": method, "temperature": fit_temperature(y_true, p)}
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(np.asarray(p, dtype=float), np.asarray(y_true, dtype=float))
        return {
            "method": method,
            "x": [float(v) for v in iso.X_thresholds_],
            "y": [float(v) for v in iso.y_thresholds_],
        }
    return {"method": "none"}


def apply(calibration: dict[str, Any] | None, p: np.ndarray) -> np.ndarray:
    """Calibrated scores (NaN stays NaN); no calibration or "none" returns p unchanged."""
    p = np.asarray(p, dtype=float)
    method = (calibration or {}).get("method", "none")
    if method == "temperature":
        out = 1 / (1 + np.exp(-_logit(p) / float(calibration["temperature"])))  # type: ignore[index]
    elif method == "isotonic":
        out = np.interp(p, calibration["x"], calibration["y"])  # type: ignore[index]
    else:
        return p
    return np.where(np.isnan(p), np.nan, out)


def _check(y: np.ndarray) -> None:
    if len(np.unique(y)) < 2:
        raise CalibrationError(
            "--calibration: the validation split holds one class only, so no calibration can "
            "be fitted; use a validation split with tweets that need support and tweets that "
            "do not, or --calibration none"
        )


def _cross_fitted_ece(method: str, y: np.ndarray, p: np.ndarray, seed: int) -> float:
    """Mean ECE of `method` fitted on one half of validation and measured on the other."""
    order = np.random.default_rng(seed).permutation(len(y))
    halves = (order[: len(y) // 2], order[len(y) // 2 :])
    errors = []
    for fit_on, test_on in (halves, halves[::-1]):
        if len(np.unique(y[fit_on])) < 2:
            return float("nan")
        mapping = fit(method, y[fit_on], p[fit_on])
        errors.append(expected_calibration_error(y[test_on], apply(mapping, p[test_on])))
    return float(np.mean(errors))


def calibrate(method: str, y_true: np.ndarray, p: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Fit `method` (or, for auto, the method with the lowest cross-fitted ECE) on validation.

    The saved record holds the map, the ECE before and after on validation (in-sample), the
    cross-fitted ECE of each method measured, and the reliability bins before and after.
    """
    if method not in CALIBRATIONS:
        raise CalibrationError(f"--calibration {method!r}: use one of {CALIBRATIONS}")
    y, p = np.asarray(y_true, dtype=int), np.asarray(p, dtype=float)
    if method != "none":
        _check(y)
    measured = {m: _cross_fitted_ece(m, y, p, seed) for m in METHODS} if method == "auto" else {}
    chosen = method
    if method == "auto":
        usable = {m: e for m, e in measured.items() if not np.isnan(e)}
        chosen = min(usable, key=lambda m: (usable[m], METHODS.index(m))) if usable else "none"
    mapping = fit(chosen, y, p)
    after = apply(mapping, p)
    return {
        **mapping,
        "requested": method,
        "n": len(y),
        "prior": float(y.mean()) if len(y) else float("nan"),
        "ece_before": expected_calibration_error(y, p),
        "ece_after": expected_calibration_error(y, after),
        "cross_fitted_ece": measured,
        "reliability_before": reliability(y, p),
        "reliability_after": reliability(y, after),
    }
