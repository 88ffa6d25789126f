"""Metric and business-metric functions against cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tweet_triage.model.metrics import (
    BusinessParams,
    best_threshold,
    bootstrap_intervals,
    business_comparison,
    business_metrics,
    classification_metrics,
    f_beta,
    naive_expected,
    pct_reduction,
    slice_table,
    tweet_seconds,
    word_bins,
)

# 4 positives, 4 negatives. At threshold 0.5: TP 3 (0.9, 0.8, 0.6), FN 1 (0.3),
# FP 1 (0.7), TN 3 (0.4, 0.2, 0.1).
Y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
P = np.array([0.9, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1])


def test_classification_metrics_by_hand() -> None:
    m = classification_metrics(Y, P, 0.5)
    assert m["confusion"] == {"tn": 3, "fp": 1, "fn": 1, "tp": 3}
    assert m["precision"] == pytest.approx(0.75)
    assert m["recall"] == pytest.approx(0.75)
    assert m["f1"] == pytest.approx(0.75)
    assert m["f2"] == pytest.approx(5 * 3 / (5 * 3 + 4 * 1 + 1))
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["balanced_accuracy"] == pytest.approx(0.75)
    assert m["flag_rate"] == pytest.approx(0.5)
    # ROC AUC: of 16 (pos, neg) pairs, the positive scores higher in 4 + 4 + 3 + 2 = 13.
    assert m["roc_auc"] == pytest.approx(13 / 16)
    # PR AUC (average precision): hits at ranks 1, 2, 4, 6 -> (1 + 1 + 3/4 + 4/6) / 4.
    assert m["pr_auc"] == pytest.approx((1 + 1 + 0.75 + 4 / 6) / 4)
    assert m["weighted"]["f1"] == pytest.approx(0.75)


def test_f_beta_zero_division_is_zero() -> None:
    assert f_beta(0, 0, 0, 2.0) == 0.0
    assert f_beta(1, 0, 0, 2.0) == 1.0


def test_auc_is_nan_with_one_class() -> None:
    m = classification_metrics(np.ones(3, dtype=int), np.array([0.2, 0.5, 0.9]), 0.5)
    assert math.isnan(m["roc_auc"]) and math.isnan(m["pr_auc"])


def test_best_threshold_maximises_f2() -> None:
    threshold, score = best_threshold(Y, P, beta=2.0)
    # Flagging p >= 0.3 catches all 4 positives with 2 FPs: F2 = 20 / (20 + 0 + 2).
    assert threshold == pytest.approx(0.3)
    assert score == pytest.approx(20 / 22)
    assert classification_metrics(Y, P, threshold)["f2"] == pytest.approx(score)


def test_best_threshold_needs_a_positive() -> None:
    with pytest.raises(ValueError, match="needs-support"):
        best_threshold(np.zeros(4, dtype=int), np.linspace(0, 1, 4))


def test_tweet_seconds_by_hand() -> None:
    response, waste = tweet_seconds(np.array([27, 40]), BusinessParams())
    # 27 words: read 27*60/135 = 12 s, type 27*60/40 = 40.5 s.
    assert response[0] == pytest.approx(52.5)
    assert waste[0] == pytest.approx(12.0)
    original = BusinessParams(false_positive_reply_fraction=1.0)
    assert tweet_seconds(np.array([27]), original)[1][0] == pytest.approx(52.5)
    half = BusinessParams(reply_length_ratio=0.5, response_fraction=0.5)
    assert tweet_seconds(np.array([40]), half)[0][0] == pytest.approx(40 * 60 / 135 + 0.5 * 30)


def test_business_metrics_charge_fn_response_and_fp_reading() -> None:
    y = np.array([1, 1, 0, 0])
    pred = np.array([0, 1, 1, 0])
    words = np.array([27, 10, 27, 99])
    b = business_metrics(y, pred, words, BusinessParams())
    assert b["tweets_missed"] == 1 and b["tweets_wasted"] == 1
    assert b["time_missed_min"] == pytest.approx(52.5 / 60)
    assert b["time_wasted_min"] == pytest.approx(12.0 / 60)


def test_naive_expected_matches_the_original_counts() -> None:
    # The original's test split: 364 negatives, 236 positives. A fair coin expects to miss
    # half the positives (118) and flag half the negatives (182), not one draw's 112 / 179.
    y = np.array([0] * 364 + [1] * 236)
    words = np.full(600, 27)
    coin = naive_expected(y, words, 0.5, BusinessParams())
    assert coin["tweets_missed"] == pytest.approx(118)
    assert coin["tweets_wasted"] == pytest.approx(182)
    assert coin["time_missed_min"] == pytest.approx(118 * 52.5 / 60)
    assert coin["time_wasted_min"] == pytest.approx(182 * 12 / 60)
    rate = naive_expected(y, words, 0.25, BusinessParams())
    assert rate["tweets_missed"] == pytest.approx(0.75 * 236)
    assert rate["tweets_wasted"] == pytest.approx(0.25 * 364)
    with pytest.raises(ValueError):
        naive_expected(y, words, 1.5, BusinessParams())


def test_pct_reduction_and_comparison() -> None:
    assert pct_reduction(25.0, 100.0) == pytest.approx(75.0)
    assert math.isnan(pct_reduction(1.0, 0.0))
    y = np.array([1, 1, 0, 0])
    pred = np.array([1, 1, 1, 0])
    result = business_comparison(y, pred, np.full(4, 27), BusinessParams(), seed=1)
    assert result["model"]["flag_rate"] == pytest.approx(0.75)
    assert result["naive_same_rate"]["flag_rate"] == pytest.approx(0.75)
    # The model misses nothing: a 100% cut against any baseline that misses something.
    assert result["pct_reduction"]["naive_50"]["time_missed"] == pytest.approx(100.0)
    # Model wastes 12 s; a coin expects 0.5 * 2 * 12 s = 12 s: no reduction.
    assert result["pct_reduction"]["naive_50"]["time_wasted"] == pytest.approx(0.0)
    again = business_comparison(y, pred, np.full(4, 27), BusinessParams(), seed=1)
    assert again["naive_draw"] == result["naive_draw"]


def test_business_params_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        BusinessParams(reading_wpm=0)
    with pytest.raises(ValueError):
        BusinessParams(response_fraction=-1)


def test_bootstrap_intervals_bracket_the_estimate_and_are_seeded() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    p = np.clip(y * 0.3 + rng.random(300) * 0.7, 0, 1)
    seconds = tweet_seconds(np.full(300, 20), BusinessParams())
    first = bootstrap_intervals(y, p, 0.5, seconds, n_resamples=200, seed=7)
    second = bootstrap_intervals(y, p, 0.5, seconds, n_resamples=200, seed=7)
    assert first == second
    point = classification_metrics(y, p, 0.5)
    for name in ("f2", "precision", "recall", "pr_auc", "roc_auc"):
        low, high = first[name]
        assert low <= point[name] <= high
        assert high - low > 0


def test_word_bins_and_slices() -> None:
    bins = word_bins(pd.Series([1, 5, 6, 60, 61]))
    assert list(bins.astype(str)) == ["1-5", "1-5", "6-10", "51-60", "61+"]
    frame = pd.DataFrame(
        {
            "kind": ["a", "a", "b", "b"],
            "y": [1, 0, 1, 1],
            "p": [0.9, 0.8, 0.2, 0.7],
            "pred": [1, 1, 0, 1],
        }
    )
    table = slice_table(frame, "kind", "y", "p", "pred").set_index("kind")
    assert table.loc["a", "precision"] == pytest.approx(0.5)
    assert table.loc["b", "recall"] == pytest.approx(0.5)
    assert table.loc["b", "error_rate"] == pytest.approx(0.5)
