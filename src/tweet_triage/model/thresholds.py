"""The decision threshold from one of three strategies, on calibrated validation scores.

- f-beta: the threshold maximising needs-support F-beta on validation (recall-heavy for beta 2);
- cost: the threshold minimising expected support minutes. Flagging a tweet with calibrated
  probability p costs (1 - p) x its waste time in expectation, not flagging it p x its response
  time; both times are words x a per-word rate (metrics.tweet_seconds), so the rule is the same
  for every tweet: flag when p >= waste / (waste + response) per word. With the default
  parameters a miss costs about 4.4 reads and the cut is about 0.19;
- capacity: the lowest threshold whose flagged tweets the team can read: (tweets arriving per
  hour) x (mean work of a flagged tweet on validation, in the capacity's unit) <= capacity.

The strategy, its parameters and the threshold go into triage.json; every scorer reads them,
with the `by_live_prior` curve: the strategy's threshold for each live share needing support,
validation's tweets weighted to that share (prior_shift.py), so a scorer can follow the live mix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tweet_triage.errors import TriageError
from tweet_triage.model.business import work_seconds
from tweet_triage.model.metrics import best_threshold
from tweet_triage.model.parameters import STRATEGIES, BusinessParams, Capacity
from tweet_triage.model.prior_shift import (
    PRIOR_GRID,
    check_prior,
    class_weights,
    shifted_threshold,
)

if TYPE_CHECKING:
    from tweet_triage.model.arguments import ThresholdArguments


class ThresholdError(TriageError):
    """A threshold strategy that cannot be applied with the options given."""


@dataclass(frozen=True)
class ThresholdChoice:
    strategy: str
    threshold: float
    parameters: dict[str, Any]
    live_prior: float | None = None  # the share the threshold was chosen for; None: val's
    by_live_prior: dict[str, Any] | None = None  # the threshold per live share (prior_shift)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cost_threshold(params: BusinessParams) -> float:
    """waste / (waste + response) for one word (the same for every tweet length)."""
    from tweet_triage.model.metrics import tweet_seconds

    response, waste = tweet_seconds(np.array([1.0]), params)
    return float(waste[0] / (waste[0] + response[0]))


def capacity_threshold(
    y_true: np.ndarray,
    p: np.ndarray,
    words: np.ndarray,
    params: BusinessParams,
    capacity: Capacity,
    arrivals_per_hour: float,
    weights: np.ndarray | None = None,
) -> float:
    """The lowest validation score whose flagged work per hour fits the capacity (each tweet
    counted `weights` times: the live mix's prior ratios, else once)."""
    if not arrivals_per_hour > 0:
        raise ThresholdError(
            f"--arrivals-per-hour must be above 0 (got {arrivals_per_hour:g}): the tweets the "
            "stream brings per hour, which turn the capacity into a share to flag"
        )
    p = np.asarray(p, dtype=float)
    work = work_seconds(y_true, words, params, capacity.unit)
    if capacity.unit == "minutes":
        work = work / 60.0
    weights = np.ones(len(p)) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(-p, kind="stable")
    # Work per hour when flagging the top k tweets: arrivals x (their share of the work).
    per_hour = arrivals_per_hour * np.cumsum((work * weights)[order]) / weights.sum()
    fits = np.flatnonzero(per_hour <= capacity.per_hour)
    if not len(fits):
        return 1.0  # not even the top tweet fits: flag (almost) nothing
    k = int(fits.max())
    cut = p[order[k]]
    # Flag p >= cut; when ties at the cut would overflow the capacity, step above them.
    if (p >= cut).sum() > k + 1:
        above = p[p > cut]
        return float(above.min()) if len(above) else 1.0
    return float(cut)


def _cut(
    strategy: str,
    y_true: np.ndarray,
    p: np.ndarray,
    words: np.ndarray,
    params: BusinessParams,
    beta: float,
    capacity: Capacity | None,
    arrivals_per_hour: float | None,
    live_prior: float | None,
) -> float:
    """The strategy's threshold for validation's own mix, or for a live share needing support:
    then every validation tweet counts by its class's prior ratio (the cost rule is moved by
    Bayes' rule instead: its cut is a posterior, not a count)."""
    y = np.asarray(y_true, dtype=int)
    train_prior = float(y.mean())
    weights = None if live_prior is None else class_weights(y, train_prior, live_prior)
    if strategy == "f-beta":
        return best_threshold(y, p, beta=beta, sample_weight=weights)[0]
    if strategy == "cost":
        cut = cost_threshold(params)
        return cut if live_prior is None else shifted_threshold(cut, train_prior, live_prior)
    assert capacity is not None and arrivals_per_hour is not None
    return capacity_threshold(y, p, words, params, capacity, arrivals_per_hour, weights)


def choose_threshold(
    strategy: str,
    y_true: np.ndarray,
    p: np.ndarray,
    words: np.ndarray,
    *,
    beta: float = 2.0,
    params: BusinessParams | None = None,
    capacity: Capacity | None = None,
    arrivals_per_hour: float | None = None,
    live_prior: float | None = None,
) -> ThresholdChoice:
    """The threshold of `strategy` on (calibrated) validation scores, with its parameters, for
    validation's share needing support or for `live_prior`, and the curve over live shares."""
    params = params or BusinessParams()
    if strategy not in STRATEGIES:
        raise ThresholdError(f"--threshold-strategy {strategy!r}: use one of {STRATEGIES}")
    parameters: dict[str, Any] = {}
    if strategy == "f-beta":
        parameters = {"beta": beta}
    elif strategy == "cost":
        parameters = {"business": params.as_dict()}
    else:
        if capacity is None or arrivals_per_hour is None:
            raise ThresholdError(
                "--threshold-strategy capacity needs --capacity (and --capacity-unit) and "
                "--arrivals-per-hour, or validation tweets with created_at to estimate it"
            )
        parameters = {
            "capacity_per_hour": capacity.per_hour,
            "capacity_unit": capacity.unit,
            "arrivals_per_hour": arrivals_per_hour,
            "business": params.as_dict(),
        }
    p = np.asarray(p, dtype=float)
    if live_prior is not None:
        check_prior(live_prior, "--live-prior")

    def cut(prior: float | None) -> float:
        return _cut(strategy, y_true, p, words, params, beta, capacity, arrivals_per_hour, prior)

    trained = cut(None)
    train_prior = float(np.mean(y_true))
    curve = None
    if 0.0 < train_prior < 1.0:
        curve = {
            "train_prior": train_prior,
            "trained_threshold": trained,
            "priors": PRIOR_GRID.tolist(),
            "thresholds": [cut(float(prior)) for prior in PRIOR_GRID],
        }
    elif live_prior is not None:
        raise ThresholdError(
            "--live-prior needs validation tweets of both classes (the share it moves from)"
        )
    threshold = trained if live_prior is None else cut(live_prior)
    return ThresholdChoice(strategy, threshold, parameters, live_prior, curve)


def tweet_words(frame: pd.DataFrame) -> np.ndarray:
    """Words of the original text (what a person reads), not of the normalised model text."""
    from tweet_triage.text import word_count

    if "word_count" in frame.columns:
        return pd.to_numeric(frame["word_count"], errors="coerce").fillna(0).to_numpy()
    column = "text" if "text" in frame.columns else "model_text"
    return np.array([word_count(t) for t in frame[column]])


def arrivals_per_hour(frame: pd.DataFrame) -> float | None:
    """Tweets per hour over the frame's created_at span; None without two usable times."""
    if "created_at" not in frame.columns:
        return None
    times = pd.to_datetime(frame["created_at"], utc=True, errors="coerce").dropna()
    hours = (times.max() - times.min()).total_seconds() / 3600 if len(times) > 1 else 0.0
    return float(len(times) / hours) if hours > 0 else None


def calibrate_and_choose(
    options: ThresholdArguments,
    beta: float,
    val_frame: pd.DataFrame,
    y_val: np.ndarray,
    p_val: np.ndarray,
    seed: int = 0,
) -> tuple[dict[str, Any], ThresholdChoice, np.ndarray]:
    """Calibrate the validation scores, then set the threshold on the calibrated ones.

    Returns the calibration record, the threshold choice and the calibrated scores.
    """
    from tweet_triage.model import calibration

    fitted = calibration.calibrate(options.calibration, y_val, p_val, seed=seed)
    calibrated = calibration.apply(fitted, p_val)
    choice = choose_threshold(
        options.threshold_strategy,
        y_val,
        calibrated,
        tweet_words(val_frame),
        beta=beta,
        params=options.business(),
        capacity=options.team_capacity(),
        arrivals_per_hour=options.arrivals_per_hour or arrivals_per_hour(val_frame),
        live_prior=options.live_prior,
    )
    return fitted, choice, calibrated
