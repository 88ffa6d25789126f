"""Calibration maps, ECE and the auto choice on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from tweet_triage.errors import TriageError
from tweet_triage.model import calibration


def test_expected_calibration_error_by_hand() -> None:
    y = np.array([0, 1, 1, 1])
    p = np.array([0.05, 0.95, 0.95, 0.55])
    # bins: 0.05 vs 0 (1/4), 0.95 vs 1 (2/4), 0.55 vs 1 (1/4)
    expected = 0.25 * 0.05 + 0.5 * 0.05 + 0.25 * 0.45
    assert calibration.expected_calibration_error(y, p) == pytest.approx(expected)
    bins = calibration.reliability(y, p)
    assert [b["n"] for b in bins] == [1, 1, 2]


def test_temperature_by_hand() -> None:
    # Every score 0.9 (logit ln 9) while 3 in 4 need support (logit ln 3): T = ln 9 / ln 3 = 2.
    y = np.array([1, 1, 1, 0] * 5)
    p = np.full(len(y), 0.9)
    fitted = calibration.fit("temperature", y, p)
    assert fitted["temperature"] == pytest.approx(2.0, rel=1e-3)
    assert calibration.apply(fitted, np.array([0.9]))[0] == pytest.approx(0.75, rel=1e-3)


def test_isotonic_by_hand_and_nan_kept() -> None:
    y = np.array([0, 1, 0, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4])
    fitted = calibration.fit("isotonic", y, p)  # pooled: 0, 0.5, 0.5, 1
    out = calibration.apply(fitted, np.array([0.1, 0.25, 0.4, 0.9, np.nan]))
    assert out[:4].tolist() == pytest.approx([0.0, 0.5, 1.0, 1.0])
    assert np.isnan(out[4])
    assert calibration.apply({}, p).tolist() == p.tolist()  # no calibration: unchanged


def test_auto_fixes_overconfident_scores() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1.5, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-z))).astype(int)
    p = 1 / (1 + np.exp(-3 * z))  # three times too confident
    record = calibration.calibrate("auto", y, p)
    assert record["method"] in ("temperature", "isotonic")
    assert set(record["cross_fitted_ece"]) == {"none", "temperature", "isotonic"}
    assert record["cross_fitted_ece"][record["method"]] < record["cross_fitted_ece"]["none"]
    assert record["ece_after"] < record["ece_before"] / 2
    assert calibration.fit("temperature", y, p)["temperature"] == pytest.approx(3.0, rel=0.15)


def test_one_class_names_the_option() -> None:
    with pytest.raises(TriageError, match="--calibration"):
        calibration.calibrate("auto", np.ones(10, dtype=int), np.linspace(0, 1, 10))
    assert calibration.calibrate("none", np.ones(3, dtype=int), np.ones(3))["method"] == "none"
