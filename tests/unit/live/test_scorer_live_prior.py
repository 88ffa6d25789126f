"""The scorer's threshold under a known prior shift: off is the model's own cut for every batch;
on, the cut follows the live share of a rolling window of scores and the flags change with it,
in the streaming scorer too (its store flags and its stats)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import SparkSession

from tests.unit.live.scorer_model import build_scorer_model
from tests.unit.live.test_scorer_stream import DROPS, KEEPS, lines, write_object
from tests.unit.model.test_prior_shift import calibrated_sample
from tweet_triage.config import Settings
from tweet_triage.live.live_prior import MIN_SCORES, LiveThreshold
from tweet_triage.live.scorer import ScorerPaths, run_scorer
from tweet_triage.live.scorer_status import threshold_line
from tweet_triage.live.store import TriageStore
from tweet_triage.model.folder import SENTIMENT_LABELS, ModelMeta
from tweet_triage.model.metrics import business_metrics, least_minutes_threshold
from tweet_triage.model.parameters import BusinessParams
from tweet_triage.model.prior_shift import PriorShiftError, live_threshold
from tweet_triage.model.thresholds import choose_threshold

WORDS = 20


def model_meta(threshold_strategy: dict | None = None, threshold: float = 0.5) -> ModelMeta:
    return ModelMeta(
        objective="three_class",
        threshold=threshold,
        id2label=dict(SENTIMENT_LABELS),
        needs_support_ids=[0, 1],
        max_length=64,
        backbone="tiny-bert",
        threshold_strategy=threshold_strategy or {},
    )


@pytest.fixture(scope="module")
def meta() -> ModelMeta:
    """A model whose cost cut was chosen on validation needing support at 50%."""
    y_val, p_val = calibrated_sample(4000, 0.5, seed=1)
    choice = choose_threshold("cost", y_val, p_val, np.full(len(y_val), WORDS))
    return model_meta(choice.as_dict(), choice.threshold)


def batches(p: np.ndarray, size: int) -> list[np.ndarray]:
    return [p[i : i + size] for i in range(0, len(p), size)]


def test_off_flags_every_batch_at_the_models_cut(meta: ModelMeta) -> None:
    live = LiveThreshold(enabled=False, window=2000)
    _, p = calibrated_sample(4000, 0.8, seed=2)
    for batch in batches(p, 500):
        used = live.cut("1", meta, batch)
        assert used.threshold == meta.threshold == used.model_threshold
        assert used.live_prior is None and used.live_prior_scores == 0


@pytest.mark.parametrize("share", [0.8, 0.2])
def test_on_the_cut_follows_a_known_shift(meta: ModelMeta, share: float) -> None:
    y, p = calibrated_sample(4000, share, seed=2)
    live = LiveThreshold(enabled=True, window=2000)
    for batch in batches(p[:2000], 250):
        used = live.cut("1", meta, batch)
    assert used.live_prior == pytest.approx(share, abs=0.03)
    assert used.live_prior_scores == 2000
    # More tweets needing support than validation had: flag lower, and more; fewer: the reverse.
    moved = (used.threshold < meta.threshold) if share > 0.5 else (used.threshold > meta.threshold)
    assert moved
    rest, y_rest = p[2000:], y[2000:]
    flagged_live, flagged_own = rest >= used.threshold, rest >= meta.threshold
    assert (flagged_live.sum() > flagged_own.sum()) == (share > 0.5)

    params, words = BusinessParams(), np.full(len(rest), WORDS)

    def lost(flags: np.ndarray) -> float:
        return business_metrics(y_rest, flags, words, params)["total_lost_min"]

    _, oracle = least_minutes_threshold(y_rest, rest, words, params)
    assert lost(flagged_live) <= 1.05 * oracle < lost(flagged_own)


def test_the_models_cut_until_the_window_holds_enough_scores(meta: ModelMeta) -> None:
    _, p = calibrated_sample(MIN_SCORES, 0.8, seed=4)
    live = LiveThreshold(enabled=True, window=2000)
    early = live.cut("1", meta, np.append(p[:-1], np.nan))  # an unscored tweet does not count
    assert early.threshold == meta.threshold and early.live_prior is None
    assert early.live_prior_scores == MIN_SCORES - 1
    assert live.cut("1", meta, p[-1:]).live_prior is not None


def test_the_window_rolls_and_a_new_model_starts_it_afresh(meta: ModelMeta) -> None:
    _, before = calibrated_sample(2000, 0.5, seed=5)
    _, after = calibrated_sample(2000, 0.8, seed=6)
    live = LiveThreshold(enabled=True, window=1000)
    for batch in batches(before, 500):
        used = live.cut("1", meta, batch)
    assert used.live_prior == pytest.approx(0.5, abs=0.05)
    for batch in batches(after, 500):
        used = live.cut("1", meta, batch)
    assert used.live_prior == pytest.approx(0.8, abs=0.05)  # only the last 1,000 scores
    assert live.cut("2", meta, after[:10]).live_prior_scores == 10


def test_a_model_without_the_curve(caplog: pytest.LogCaptureFixture) -> None:
    old = model_meta({"strategy": "f-beta"}, threshold=0.4)
    live = LiveThreshold(enabled=True, window=MIN_SCORES)
    with pytest.raises(PriorShiftError, match="by_live_prior"):
        live.check(old)
    LiveThreshold(enabled=False, window=MIN_SCORES).check(old)  # off: nothing to follow
    with caplog.at_level(logging.WARNING):
        used = live.cut("3", old, np.full(MIN_SCORES, 0.7))
    assert used.threshold == 0.4 and used.live_prior is None
    assert "by_live_prior" in caplog.text


def test_settings_default_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not LiveThreshold.from_settings(Settings()).enabled
    monkeypatch.setenv("TRIAGE_LIVE_PRIOR", "true")
    monkeypatch.setenv("TRIAGE_LIVE_PRIOR_WINDOW", "500")
    live = LiveThreshold.from_settings(Settings())
    assert live.enabled and live.min_scores == MIN_SCORES


def curved_model(folder: Path, meta: ModelMeta) -> Path:
    """The tiny scorer model with the synthetic model's threshold and by_live_prior curve."""
    build_scorer_model(folder)
    saved = ModelMeta.load(folder)
    saved.threshold, saved.threshold_strategy = meta.threshold, meta.threshold_strategy
    saved.save(folder)
    return folder


def stream_settings(tmp_path: Path, model: Path, **values: object) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        mission_profile="demo",
        triage_model=str(model),
        TT_STATE_DIR=tmp_path / "state",
        **values,
    )


def test_the_streaming_scorer_flags_at_the_live_cut_and_says_so(
    spark: SparkSession, tmp_path: Path, meta: ModelMeta
) -> None:
    model = curved_model(tmp_path / "model", meta)
    # A window of two scores: the cut follows the live share from the first batch on.
    settings = stream_settings(tmp_path, model, triage_live_prior=True, triage_live_prior_window=2)
    write_object(Path(ScorerPaths.from_settings(settings).raw), "obj", lines(1000, KEEPS + DROPS))
    store = TriageStore.from_settings(settings)

    stats = asdict(run_scorer(settings, spark, every=None, store=store).stats)

    assert stats["device"] == "cpu" and stats["live_prior_window"] == 2
    assert stats["live_prior_scores"] == 2 and stats["model_threshold"] == meta.threshold
    curve = meta.threshold_strategy["by_live_prior"]
    assert stats["threshold"] == pytest.approx(live_threshold(curve, stats["live_prior"]))
    tweets = store.tweets(limit=10)
    assert len(tweets) == len(KEEPS)
    assert all(t.flagged == (t.p_needs_support >= stats["threshold"]) for t in tweets)
    saved = json.loads((settings.state_dir / "triage" / "scorer-stats.json").read_text())
    assert saved["threshold"] == stats["threshold"]
    assert f"scorer threshold: {stats['threshold']:.3f} for a live share" in threshold_line(saved)


def test_on_a_model_without_the_curve_the_scorer_does_not_start(
    spark: SparkSession, tmp_path: Path
) -> None:
    model = build_scorer_model(tmp_path / "model")
    settings = stream_settings(tmp_path, model, triage_live_prior=True)
    with pytest.raises(PriorShiftError, match="run `tweet-triage threshold`"):
        run_scorer(settings, spark, every=None)
    assert not (settings.state_dir / "triage" / "scorer-stats.json").exists()
