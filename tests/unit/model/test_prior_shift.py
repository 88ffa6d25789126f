"""The shift-aware threshold: EM's live share, Bayes' moved posteriors, the strategy's cut for
the live mix, against values worked out by hand and an oracle on synthetic calibrated scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tweet_triage.errors import TriageError
from tweet_triage.model import prior_shift
from tweet_triage.model.metrics import business_metrics, least_minutes_threshold
from tweet_triage.model.parameters import BusinessParams
from tweet_triage.model.thresholds import choose_threshold, cost_threshold


def calibrated_sample(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels at `share` and scores calibrated for a 50% share: x ~ N(+-1, 1), so the exact
    posterior at 50% is sigmoid(2x)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < share).astype(int)
    x = np.where(y == 1, rng.normal(1, 1, n), rng.normal(-1, 1, n))
    return y, 1 / (1 + np.exp(-2 * x))


@pytest.mark.parametrize("share", [0.2, 0.8])
def test_em_recovers_a_known_share(share: float) -> None:
    _, p = calibrated_sample(20000, share, seed=3)
    assert abs(p.mean() - share) > 0.08  # the naive mean is far off
    assert prior_shift.estimate_prior(p, 0.5) == pytest.approx(share, abs=0.015)


def test_em_bad_input() -> None:
    assert np.isnan(prior_shift.estimate_prior(np.array([np.nan]), 0.5))
    with pytest.raises(TriageError, match="strictly between 0 and 1"):
        prior_shift.estimate_prior(np.array([0.3]), 1.0)


def test_posterior_and_threshold_moved_by_hand() -> None:
    # Train share 50%, live 20%: prior ratios 0.4 and 1.6; a 0.5 cut becomes 0.8.
    assert prior_shift.prior_ratios(0.5, 0.2) == pytest.approx((0.4, 1.6))
    assert prior_shift.shifted_threshold(0.5, 0.5, 0.2) == pytest.approx(0.8)
    assert prior_shift.shift_posterior(np.array([0.8]), 0.5, 0.2)[0] == pytest.approx(0.5)
    assert prior_shift.shifted_threshold(0.3, 0.4, 0.4) == pytest.approx(0.3)
    weights = prior_shift.class_weights(np.array([1, 0]), 0.5, 0.8)
    assert weights.tolist() == pytest.approx([1.6, 0.4])


Y = np.array([1, 0, 1, 0])
P = np.array([0.9, 0.8, 0.3, 0.1])
WORDS = np.full(4, 27)


def test_f_beta_for_a_live_share_by_hand() -> None:
    # Val's share 50%. At a live share of 20% each positive counts 0.4, each negative 1.6:
    # F1 at 0.9: P 1, R 0.5 -> 0.667; at 0.3: P 0.8/2.4, R 1 -> 0.5. Val's own F1 prefers 0.3.
    assert choose_threshold("f-beta", Y, P, WORDS, beta=1.0).threshold == pytest.approx(0.3)
    live = choose_threshold("f-beta", Y, P, WORDS, beta=1.0, live_prior=0.2)
    assert live.threshold == pytest.approx(0.9)
    assert live.live_prior == 0.2
    curve = live.by_live_prior
    assert curve["train_prior"] == 0.5 and curve["trained_threshold"] == pytest.approx(0.3)
    assert prior_shift.live_threshold(curve, 0.2) == pytest.approx(0.9)
    assert prior_shift.live_threshold(curve, 0.5) == pytest.approx(0.3)


def test_cost_cut_moves_by_bayes() -> None:
    cut = cost_threshold(BusinessParams())
    live = choose_threshold("cost", Y, P, WORDS, live_prior=0.8)
    assert live.threshold == pytest.approx(prior_shift.shifted_threshold(cut, 0.5, 0.8))
    assert live.threshold < cut  # more tweets need support: flag lower
    moved = prior_shift.shift_posterior(np.array([live.threshold]), 0.5, 0.8)[0]
    assert moved == pytest.approx(cut)
    with pytest.raises(TriageError, match="--live-prior"):
        choose_threshold("cost", Y, P, WORDS, live_prior=1.2)


def test_shift_aware_cut_loses_minutes_close_to_the_oracle() -> None:
    # Validation at 50% chooses the cost cut; the live stream turns to 80% needing support.
    params = BusinessParams()
    y_val, p_val = calibrated_sample(4000, 0.5, seed=1)
    y_live, p_live = calibrated_sample(4000, 0.8, seed=2)
    words = np.full(len(y_live), 20)
    choice = choose_threshold("cost", y_val, p_val, np.full(len(y_val), 20))
    decision = prior_shift.live_decision(p_live, choice.as_dict())
    assert decision.live_prior == pytest.approx(0.8, abs=0.02)
    assert decision.trained_threshold == pytest.approx(choice.threshold)
    assert decision.adjusted_threshold == pytest.approx(cost_threshold(params), abs=0.01)

    def lost(threshold: float) -> float:
        return business_metrics(y_live, p_live >= threshold, words, params)["total_lost_min"]

    _, oracle = least_minutes_threshold(y_live, p_live, words, params)
    assert oracle <= lost(decision.threshold) <= 1.05 * oracle
    assert lost(choice.threshold) > 1.05 * oracle  # today's cut does not travel


def test_least_minutes_threshold_by_hand() -> None:
    # 27 words: 12 s to read, 52.5 s to answer. Flag the top 3 (>= 0.3): waste one read.
    threshold, minutes = least_minutes_threshold(Y, P, WORDS, BusinessParams())
    assert threshold == pytest.approx(0.3)
    assert minutes == pytest.approx(12 / 60)
    none = np.zeros(2, dtype=int)
    nothing = least_minutes_threshold(none, np.array([0.4, 0.6]), WORDS[:2], BusinessParams())
    assert nothing[0] > 0.6 and nothing[1] == 0.0


def test_live_decision_needs_the_curve() -> None:
    with pytest.raises(TriageError, match="by_live_prior"):
        prior_shift.live_decision(np.array([0.5]), {"strategy": "f-beta"})
    choice = choose_threshold("f-beta", Y, P, WORDS)
    with pytest.raises(TriageError, match="no scored live tweet"):
        prior_shift.live_decision(np.array([np.nan]), choice.as_dict())
    given = prior_shift.live_decision(np.array([np.nan]), choice.as_dict(), live_prior=0.5)
    assert given.threshold == pytest.approx(choice.threshold)


def test_threshold_command_follows_a_live_share(
    trained_model: Path, tiny_data: Path, tmp_path: Path
) -> None:
    import shutil

    import pandas as pd
    from typer.testing import CliRunner

    from tweet_triage.cli import app
    from tweet_triage.model.folder import ModelMeta

    model = Path(shutil.copytree(trained_model, tmp_path / "model"))
    base = ["threshold", "--model-dir", str(model), "--data-dir", str(tiny_data), "--device", "cpu"]
    runner = CliRunner()
    result = runner.invoke(app, [*base, "--threshold-strategy", "cost", "--live-prior", "0.9"])
    assert result.exit_code == 0, result.output
    meta = ModelMeta.load(model)
    curve = meta.threshold_strategy["by_live_prior"]
    train_prior = curve["train_prior"]
    expected = prior_shift.shifted_threshold(cost_threshold(BusinessParams()), train_prior, 0.9)
    assert meta.threshold == pytest.approx(expected)
    assert meta.threshold_strategy["live_prior"] == 0.9

    scored, live = tmp_path / "live.csv", np.array([0.95, 0.9, 0.85, 0.2])
    pd.DataFrame({"p_needs_support": live}).to_csv(scored, index=False)
    estimated = runner.invoke(app, [*base, "--live-predictions", str(scored)])
    assert estimated.exit_code == 0, estimated.output
    share = ModelMeta.load(model).threshold_strategy["live_prior"]
    assert share == pytest.approx(prior_shift.estimate_prior(live, train_prior))

    both = runner.invoke(app, [*base, "--live-prior", "0.5", "--live-predictions", str(scored)])
    assert both.exit_code != 0 and "not both" in str(both.exception)
    unscored = tmp_path / "raw.csv"
    pd.DataFrame({"id": ["1"], "text": ["hi"]}).to_csv(unscored, index=False)
    missing = runner.invoke(app, [*base, "--live-predictions", str(unscored)])
    assert missing.exit_code != 0 and "predict" in str(missing.exception)


def test_an_estimate_at_the_boundary_takes_the_curves_end() -> None:
    # Every live score high and alike: EM ends at (or next to) a share of 1.
    choice = choose_threshold("cost", Y, P, WORDS)
    decision = prior_shift.live_decision(np.full(50, 0.9), choice.as_dict())
    assert decision.live_prior > 0.98
    assert decision.threshold == pytest.approx(choice.by_live_prior["thresholds"][-1])
    with pytest.raises(TriageError, match="not in"):
        prior_shift.live_threshold(choice.by_live_prior, 1.5)
