"""Score distributions and the drift check against the training-time reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tweet_triage.model.data import ModelDataError
from tweet_triage.model.trends import distribution_summary, drift_check, trend_tables


def _frame(p: list[float], hours: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [str(i) for i in range(len(p))],
            "text": ["a b c"] * len(p),
            "p_needs_support": p,
            "hour": hours,
        }
    )


def test_distribution_summary_by_hand() -> None:
    s = distribution_summary(np.array([0.2, 0.4, 0.6, 0.8, np.nan]), threshold=0.5)
    assert s["n"] == 4
    assert s["mean"] == pytest.approx(0.5)
    assert s["flag_rate"] == pytest.approx(0.5)
    assert sum(s["histogram"]) == pytest.approx(1.0)
    assert distribution_summary(np.array([np.nan]), 0.5) == {"n": 0}


def test_drift_check_passes_within_tolerance_and_fails_outside() -> None:
    reference = {"overall": distribution_summary(np.array([0.2, 0.4, 0.6, 0.8]), 0.5)}
    same = drift_check(_frame([0.25, 0.45, 0.55, 0.75], [1, 2, 3, 4]), reference, 0.5, 0.15)
    assert same.passed
    shifted = drift_check(_frame([0.6, 0.7, 0.8, 0.9], [1, 2, 3, 4]), reference, 0.5, 0.15)
    assert not shifted.passed
    assert {c.name for c in shifted.checks if not c.passed} == {"flag_rate", "mean_p"}
    # A wide enough tolerance accepts the same shift.
    assert drift_check(_frame([0.6, 0.7, 0.8, 0.9], [1, 2, 3, 4]), reference, 0.5, 1.0).passed


def test_drift_check_per_time_of_day_respects_group_size() -> None:
    ref_p = np.full(40, 0.3)
    reference = {
        "overall": distribution_summary(np.concatenate([ref_p, np.full(40, 0.7)]), 0.5),
        "by_time_of_day": {"Late Night": distribution_summary(ref_p, 0.5)},
    }
    frame = _frame([0.7] * 40 + [0.3] * 40, [1] * 40 + [13] * 40)  # Late Night now all flagged
    result = drift_check(frame, reference, 0.5, 0.15, min_group_size=30)
    assert [c.name for c in result.checks if not c.passed] == ["flag_rate[Late Night]"]
    small = drift_check(frame, reference, 0.5, 0.15, min_group_size=50)
    assert small.passed


def test_drift_check_needs_a_reference() -> None:
    with pytest.raises(ModelDataError, match="reference"):
        drift_check(_frame([0.5], [1]), {}, 0.5)


def test_trend_tables_group_by_class_time_and_words() -> None:
    frame = _frame([0.9, 0.1, 0.8], [1, 1, 13]).assign(true_needs_support=[1, 0, 1])
    tables = trend_tables(frame, 0.5)
    assert set(tables) == {"true_needs_support", "time_of_day", "hour", "word_bin"}
    with_client = trend_tables(frame.assign(source=["iPhone", "Web", "iPhone"]), 0.5)
    assert with_client["source"].set_index("source").loc["iPhone", "n"] == 2
    by_class = tables["true_needs_support"].set_index("true_needs_support")
    assert by_class.loc[1, "mean"] == pytest.approx(0.85)
    assert by_class.loc[0, "flag_rate"] == 0.0
