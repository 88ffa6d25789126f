"""Each threshold strategy against values worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tweet_triage.errors import TriageError
from tweet_triage.model.parameters import BusinessParams, Capacity
from tweet_triage.model.thresholds import choose_threshold, cost_threshold

Y = np.array([1, 0, 1, 0])
P = np.array([0.9, 0.8, 0.3, 0.1])
WORDS = np.full(4, 27)  # 12 s to read; 52.5 s to answer


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_f_beta(beta: float) -> None:
    # t=0.3 flags 3: P 2/3, R 1 -> F1 0.8, F2 0.909; every other cut scores less.
    choice = choose_threshold("f-beta", Y, P, WORDS, beta=beta)
    assert choice.threshold == pytest.approx(0.3)
    assert choice.parameters == {"beta": beta}


def test_cost_by_hand() -> None:
    # Per word: waste 60/135 s, response 60/135 + 60/40 s; flag when p >= waste/(waste+resp).
    waste, response = 60 / 135, 60 / 135 + 60 / 40
    assert cost_threshold(BusinessParams()) == pytest.approx(waste / (waste + response))
    assert cost_threshold(BusinessParams()) == pytest.approx(0.18605, abs=1e-5)
    # A wrongly flagged tweet charged its full reply: the two costs are equal.
    even = BusinessParams(false_positive_reply_fraction=1.0)
    assert choose_threshold("cost", Y, P, WORDS, params=even).threshold == pytest.approx(0.5)


def test_capacity_in_tweets_and_minutes_by_hand() -> None:
    # 20 tweets/hour arrive; 10 tweets/hour read -> flag the top half.
    tweets = choose_threshold(
        "capacity", Y, P, WORDS, capacity=Capacity(10.0), arrivals_per_hour=20.0
    )
    assert tweets.threshold == pytest.approx(0.8)
    assert tweets.parameters["capacity_unit"] == "tweets"
    # Minutes: work per tweet 0.875 (needs support) or 0.2 min; per hour flagging top k is
    # 20/4 x cumulative work = 4.375, 5.375, 9.75, 10.75 -> 10 min/hour fits three.
    minutes = choose_threshold(
        "capacity", Y, P, WORDS, capacity=Capacity(10.0, "minutes"), arrivals_per_hour=20.0
    )
    assert minutes.threshold == pytest.approx(0.3)


def test_capacity_steps_above_ties_that_overflow() -> None:
    tied = np.array([0.9, 0.8, 0.8, 0.1])
    choice = choose_threshold(
        "capacity", Y, tied, WORDS, capacity=Capacity(10.0), arrivals_per_hour=20.0
    )
    assert choice.threshold == pytest.approx(0.9)


def test_capacity_bad_input() -> None:
    with pytest.raises(TriageError, match="--capacity"):
        choose_threshold("capacity", Y, P, WORDS, arrivals_per_hour=20.0)
    with pytest.raises(TriageError, match="--arrivals-per-hour"):
        choose_threshold("capacity", Y, P, WORDS, capacity=Capacity(1.0), arrivals_per_hour=0)
    with pytest.raises(TriageError, match="--capacity must be above 0"):
        Capacity(0.0)
    with pytest.raises(TriageError, match="--threshold-strategy"):
        choose_threshold("coin", Y, P, WORDS)


def test_calibrate_then_choose_as_training_does(tmp_path: Path) -> None:
    import pandas as pd

    from tweet_triage.model.arguments import ThresholdArguments
    from tweet_triage.model.thresholds import calibrate_and_choose

    rng = np.random.default_rng(1)
    z = rng.normal(0, 1.5, 400)
    y = (rng.random(400) < 1 / (1 + np.exp(-z))).astype(int)
    p = 1 / (1 + np.exp(-3 * z))
    frame = pd.DataFrame(
        {
            "word_count": 27,
            "created_at": pd.date_range("2024-01-01", periods=400, freq="6min", tz="UTC"),
        }
    )
    options = ThresholdArguments(calibration="temperature", threshold_strategy="cost")
    fitted, choice, calibrated = calibrate_and_choose(options, 2.0, frame, y, p)
    assert fitted["method"] == "temperature" and fitted["ece_after"] < fitted["ece_before"]
    assert choice.threshold == pytest.approx(0.18605, abs=1e-5)
    assert calibrated.tolist() != p.tolist()
    by_capacity = ThresholdArguments(
        calibration="none", threshold_strategy="capacity", capacity=5.0
    )
    _, choice, _ = calibrate_and_choose(by_capacity, 2.0, frame, y, p)
    # 10 tweets an hour arrive (every 6 min, from the timeline), 5 read: half flagged.
    assert choice.parameters["arrivals_per_hour"] == pytest.approx(400 / (399 * 0.1))
    assert (p >= choice.threshold).mean() == pytest.approx(0.5, abs=0.01)


def test_train_options_fail_before_anything_loads(tmp_path: Path) -> None:
    from tests.unit.model.conftest import tiny_settings
    from tweet_triage.model.arguments import train_arguments

    settings = tiny_settings(tmp_path, tmp_path)
    with pytest.raises(TriageError, match="needs --capacity"):
        train_arguments(settings, threshold_strategy="capacity")
    with pytest.raises(TriageError, match="--capacity must be above 0"):
        train_arguments(settings, threshold_strategy="capacity", capacity=0.0)
    with pytest.raises(TriageError, match="--calibration"):
        train_arguments(settings, calibration="platt")
    args = train_arguments(settings, threshold_strategy="cost", reading_wpm=200.0)
    assert args.threshold.business().reading_wpm == 200.0
    assert args.record()["threshold_strategy"] == "cost"


def test_threshold_command_resets_a_trained_model_by_cost_and_capacity(
    trained_model: Path, tiny_data: Path, tmp_path: Path
) -> None:
    import json
    import shutil

    from typer.testing import CliRunner

    from tweet_triage.cli import app
    from tweet_triage.model.data import load_split
    from tweet_triage.model.folder import ModelMeta
    from tweet_triage.model.inference import load_scorer

    model = Path(shutil.copytree(trained_model, tmp_path / "model"))
    base = ["threshold", "--model-dir", str(model), "--data-dir", str(tiny_data), "--device", "cpu"]
    runner = CliRunner()

    cost = runner.invoke(app, [*base, "--threshold-strategy", "cost", "--json"])
    assert cost.exit_code == 0, cost.output
    meta = ModelMeta.load(model)
    assert meta.threshold == pytest.approx(cost_threshold(BusinessParams()))
    assert meta.threshold_strategy["strategy"] == "cost"
    assert json.loads(cost.stdout)["threshold"] == meta.threshold
    assert meta.calibration == ModelMeta.load(trained_model).calibration  # kept as trained

    # Val's tweets arrive at 40 an hour (set), the team reads 10: at most a quarter flagged,
    # and the saved drift reference is at the new threshold.
    capacity = runner.invoke(
        app,
        [
            *base,
            "--threshold-strategy",
            "capacity",
            "--capacity",
            "10",
            "--arrivals-per-hour",
            "40",
        ],
    )
    assert capacity.exit_code == 0, capacity.output
    meta = ModelMeta.load(model)
    val = load_split(tiny_data, "val")
    p = load_scorer(model, engine="torch", device="cpu").predict_proba(val["model_text"].tolist())
    flagged = float((p >= meta.threshold).mean())
    assert 0 < flagged <= 0.25
    assert meta.validation["flag_rate"] == pytest.approx(flagged)
    assert meta.reference_distribution["overall"]["flag_rate"] == pytest.approx(flagged)

    zero = runner.invoke(app, [*base, "--threshold-strategy", "capacity", "--capacity", "0"])
    assert zero.exit_code != 0 and "--capacity must be above 0" in str(zero.exception)
    none = runner.invoke(app, [*base, "--threshold-strategy", "capacity"])
    assert none.exit_code != 0 and "needs --capacity" in str(none.exception)
    assert ModelMeta.load(model).threshold == meta.threshold  # a refused run saves nothing
