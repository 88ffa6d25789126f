"""Decisions that follow the live share needing support (prior shift), from scores alone.

A model is calibrated, and its threshold chosen, on validation, at validation's share of
tweets needing support. When the live stream's share differs (label shift: the mix changes,
what a complaint looks like does not), the same cut flags the wrong amount. Three steps fix it:

1. estimate the live share from the live scores alone, by the EM prior adjustment of Saerens,
   Latinne & Decaestecker (2002): reweight each calibrated posterior by the new/old prior
   ratios, take the mean as the new prior, repeat until it settles;
2. re-express the calibrated posteriors under that share (Bayes' rule with the prior ratios:
   p' = p w1 / (p w1 + (1 - p) w0), w1 = live / train, w0 = (1 - live) / (1 - train));
3. choose the threshold by the model's own strategy as if validation had the live share
   (thresholds.py weights each validation tweet by its class's prior ratio).

Step 3 is done once per model for a grid of live shares (the `by_live_prior` curve saved in
triage.json's threshold_strategy), so a scorer needs no validation data: `live_decision`
turns a batch of live scores into the estimated share and the cut on the scorer's own scores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tweet_triage.errors import TriageError

# The live shares the curve is computed for; `live_threshold` interpolates between them.
PRIOR_GRID = np.round(np.arange(0.02, 0.981, 0.01), 2)
_EPS = 1e-6


class PriorShiftError(TriageError):
    """A prior adjustment that cannot be made with the inputs given."""


def check_prior(value: float, name: str) -> float:
    """A share needing support strictly between 0 and 1, or a clear error naming `name`."""
    if not 0.0 < float(value) < 1.0:
        raise PriorShiftError(
            f"{name} {value!r}: a share of tweets needing support must lie strictly between "
            "0 and 1 (for example 0.8)"
        )
    return float(value)


def prior_ratios(train_prior: float, live_prior: float) -> tuple[float, float]:
    """(w1, w0): the live/train ratio of the needs-support and of the other class's prior."""
    return live_prior / train_prior, (1 - live_prior) / (1 - train_prior)


def shift_posterior(p: np.ndarray, train_prior: float, live_prior: float) -> np.ndarray:
    """Posteriors calibrated under `train_prior` re-expressed under `live_prior` (Bayes)."""
    w1, w0 = prior_ratios(train_prior, live_prior)
    p = np.asarray(p, dtype=float)
    return w1 * p / (w1 * p + w0 * (1 - p))


def shifted_threshold(threshold: float, train_prior: float, live_prior: float) -> float:
    """The score that, under `live_prior`, means what `threshold` meant under `train_prior`:
    shift_posterior(result, train_prior, live_prior) == threshold."""
    w1, w0 = prior_ratios(train_prior, live_prior)
    t = threshold
    return float(t * w0 / (w1 * (1 - t) + t * w0)) if 0 < t < 1 else float(t)


def class_weights(y_true: np.ndarray, train_prior: float, live_prior: float) -> np.ndarray:
    """Per-tweet weights that give labelled tweets at `train_prior` the mix of `live_prior`."""
    w1, w0 = prior_ratios(train_prior, live_prior)
    return np.where(np.asarray(y_true, dtype=int) == 1, w1, w0)


def estimate_prior(
    p: np.ndarray, train_prior: float, max_iter: int = 1000, tol: float = 1e-8
) -> float:
    """The share needing support in new tweets from their calibrated scores (EM); NaN if none.

    Scores must be calibrated for `train_prior` (validation's share).
    """
    check_prior(train_prior, "the training share needing support")
    p = np.asarray(p, dtype=float)
    p = np.clip(p[~np.isnan(p)], _EPS, 1 - _EPS)
    if not len(p):
        return float("nan")
    prior = float(p.mean())
    for _ in range(max_iter):
        new = float(shift_posterior(p, train_prior, prior).mean())
        if abs(new - prior) < tol:
            return new
        prior = new
    return prior


def live_threshold(curve: dict[str, Any], live_prior: float) -> float:
    """The cut on the scorer's scores for `live_prior`, from a model's `by_live_prior` curve
    (linear between its grid points; a share beyond the grid, up to 0 or 1 where EM can
    end on scores that barely separate the classes, gets the end point's cut)."""
    if not 0.0 <= float(live_prior) <= 1.0:
        raise PriorShiftError(f"the live share needing support {live_prior!r} is not in [0, 1]")
    return float(np.interp(live_prior, curve["priors"], curve["thresholds"]))


def curve_of(threshold_strategy: dict[str, Any] | None) -> dict[str, Any]:
    """The `by_live_prior` curve saved with a model's threshold, or a clear error."""
    curve = (threshold_strategy or {}).get("by_live_prior")
    if not curve:
        raise PriorShiftError(
            "the model's triage.json holds no by_live_prior curve (its threshold was set "
            "before prior-shift support); run `tweet-triage threshold` on the model once"
        )
    return curve


@dataclass(frozen=True)
class LiveDecision:
    """The cut for the live mix: on the scorer's own scores, and on the adjusted scores."""

    strategy: str
    train_prior: float
    live_prior: float
    threshold: float  # flag p >= threshold, p as the scorer returns it
    adjusted_threshold: float  # the same cut on p re-expressed at the live share
    trained_threshold: float  # the cut saved with the model (validation's share)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def live_decision(
    p_live: np.ndarray,
    threshold_strategy: dict[str, Any] | None,
    live_prior: float | None = None,
) -> LiveDecision:
    """The threshold for the live stream: its share estimated from `p_live` (calibrated
    scores of recent live tweets, as `Scorer.score` returns them) unless `live_prior` is given.

    `threshold_strategy` is the model's triage.json record (`ModelMeta.threshold_strategy`).
    """
    curve = curve_of(threshold_strategy)
    train_prior = float(curve["train_prior"])
    if live_prior is None:
        live_prior = estimate_prior(p_live, train_prior)
        if np.isnan(live_prior):
            raise PriorShiftError("no scored live tweet to estimate the live share from")
    threshold = live_threshold(curve, live_prior)
    adjusted = float(shift_posterior(np.array([threshold]), train_prior, live_prior)[0])
    return LiveDecision(
        strategy=str((threshold_strategy or {}).get("strategy", "")),
        train_prior=train_prior,
        live_prior=live_prior,
        threshold=threshold,
        adjusted_threshold=adjusted,
        trained_threshold=float(curve["trained_threshold"]),
    )
