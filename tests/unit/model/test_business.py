"""Business headline rows and the capacity simulation, against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tweet_triage.errors import TriageError
from tweet_triage.model.business import capacity_view, reach, work_seconds
from tweet_triage.model.metrics import business_comparison
from tweet_triage.model.parameters import BusinessParams, Capacity

# 27 words: 12 s to read at 135 wpm, 40.5 s to type at 40 wpm -> 52.5 s to answer.
WORDS = np.full(4, 27)


def test_flag_everything_and_flag_nothing_rows_by_hand() -> None:
    y, pred = np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0])
    result = business_comparison(y, pred, WORDS, BusinessParams(), seed=1)
    everything, nothing, model = (
        result["flag_everything"],
        result["flag_nothing"],
        result["model"],
    )
    assert everything["time_missed_min"] == 0.0
    assert everything["time_wasted_min"] == pytest.approx(24 / 60)  # two negatives read
    assert everything["total_lost_min"] == pytest.approx(0.4)
    assert everything["flag_rate"] == 1.0
    assert nothing["time_missed_min"] == pytest.approx(105 / 60)  # two answers missed
    assert nothing["time_wasted_min"] == 0.0
    assert nothing["total_lost_min"] == pytest.approx(1.75)
    assert model["total_lost_min"] == pytest.approx((52.5 + 12) / 60)
    cut = result["pct_reduction"]
    assert cut["flag_everything"]["total_lost"] == pytest.approx(100 * (0.4 - 1.075) / 0.4)
    assert cut["flag_nothing"]["total_lost"] == pytest.approx(100 * (1.75 - 1.075) / 1.75)


# Three tweets at minute 0 (two fine, scored 0.1 and 0.2; one needing support, 0.9) and one
# fine tweet (0.05) at minute 60, the end of the timeline.
Y = np.array([0, 0, 1, 0])
SCORES = np.array([0.1, 0.2, 0.9, 0.05])
ARRIVAL_S = np.array([0.0, 0.0, 0.0, 3600.0])


def test_capacity_in_tweets_model_order_reaches_what_arrival_order_misses() -> None:
    work = work_seconds(Y, WORDS, BusinessParams(), "tweets")
    rate = 2 / 3600  # two tweets an hour: 30 min each
    model = reach(Y, ARRIVAL_S, SCORES, work, rate, "model")
    arrival = reach(Y, ARRIVAL_S, SCORES, work, rate, "arrival")
    # model order: the 0.9 tweet first (read at 30 min), then 0.2 (60 min); the end.
    assert model == {"reached_share": 1.0, "median_wait_min": pytest.approx(30.0), "tweets_read": 2}
    # arrival order: the two fine tweets first; the needs-support one would end at 90 min.
    assert arrival == {"reached_share": 0.0, "median_wait_min": None, "tweets_read": 2}


def test_capacity_in_minutes_charges_each_tweet_its_work() -> None:
    work = work_seconds(Y, WORDS, BusinessParams(), "minutes")
    assert work.tolist() == pytest.approx([12.0, 12.0, 52.5, 12.0])
    rate = 1 / 60  # one minute of work per hour
    model = reach(Y, ARRIVAL_S, SCORES, work, rate, "model")
    assert model["median_wait_min"] == pytest.approx(52.5)  # 52.5 s of work = 52.5 min
    assert model["tweets_read"] == 1  # the next one (12 min) would end past minute 60
    assert reach(Y, ARRIVAL_S, SCORES, work, rate, "arrival")["reached_share"] == 0.0


def test_capacity_view_on_a_timeline_and_its_curve() -> None:
    created = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(ARRIVAL_S, unit="s")
    view = capacity_view(Y, SCORES, created, WORDS, BusinessParams(), Capacity(2.0))
    assert view["hours"] == pytest.approx(1.0)
    assert view["arriving_per_hour"] == pytest.approx(4.0)
    assert view["model"]["reached_share"] == 1.0
    assert view["arrival"]["reached_share"] == 0.0
    reached = [point["model_reached"] for point in view["curve"]]
    assert reached == sorted(reached)  # more capacity never reaches less
    assert capacity_view(Y, SCORES, [], WORDS, BusinessParams(), Capacity(2.0)) == {}


@pytest.mark.parametrize("per_hour", [0.0, -5.0])
def test_capacity_at_or_below_zero_names_the_option(per_hour: float) -> None:
    with pytest.raises(TriageError, match="--capacity must be above 0"):
        Capacity(per_hour)


def test_evaluate_refuses_a_capacity_of_zero_before_loading(tmp_path: object) -> None:
    from typer.testing import CliRunner

    from tweet_triage.cli import app
    from tweet_triage.model.parameters import CapacityError

    result = CliRunner().invoke(app, ["evaluate", "--capacity", "0", "--model-dir", "/nonexistent"])
    assert isinstance(result.exception, CapacityError)
    assert "--capacity must be above 0" in str(result.exception)
