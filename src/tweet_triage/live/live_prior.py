"""The scorer's decision threshold, optionally following the live share needing support.

A model's threshold is chosen on validation, at validation's share of tweets needing support.
With `TRIAGE_LIVE_PRIOR` on, the scorer keeps the scores of the last `TRIAGE_LIVE_PRIOR_WINDOW`
scored tweets and flags each micro-batch with `model.prior_shift.live_decision` on them: the
live share estimated from the scores alone (EM) and the model's strategy's cut for that share
(its `by_live_prior` curve), so the cut follows the live mix. The window includes the batch
being flagged, starts empty (a new scorer process or a new model version), and the model's own
threshold is used until it holds `MIN_SCORES`: EM on a handful of scores moves the cut on noise.
Off (the default), every batch is flagged at the model's own threshold.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tweet_triage.config import Settings
from tweet_triage.model.folder import ModelMeta
from tweet_triage.model.prior_shift import PriorShiftError, curve_of, live_decision

log = logging.getLogger(__name__)

MIN_SCORES = 200


@dataclass(frozen=True)
class ThresholdInUse:
    """The cut a micro-batch was flagged with, and where it came from (the scorer's stats)."""

    threshold: float  # flag p >= threshold
    model_threshold: float  # the cut saved with the model (triage.json)
    live_prior: float | None  # the estimated live share; None while the model's cut is used
    live_prior_scores: int  # scores in the window (0 with the option off)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LiveThreshold:
    """Per micro-batch: the threshold to flag with, the model's own or the live mix's."""

    def __init__(self, enabled: bool, window: int, min_scores: int = MIN_SCORES) -> None:
        self.enabled = enabled
        self.min_scores = min(min_scores, window)
        self._scores: deque[float] = deque(maxlen=window)
        self._version: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LiveThreshold:
        return cls(settings.triage_live_prior, settings.triage_live_prior_window)

    def check(self, meta: ModelMeta) -> None:
        """A clear error before scoring starts when the option is on and the model cannot
        follow a live share (a threshold saved before the `by_live_prior` curve existed)."""
        if self.enabled:
            curve_of(meta.threshold_strategy)

    def cut(self, version: str, meta: ModelMeta, p: np.ndarray) -> ThresholdInUse:
        """The threshold for a batch scored `p` by model `version` (whose folder holds `meta`)."""
        own = float(meta.threshold)
        if not self.enabled:
            return ThresholdInUse(own, own, None, 0)
        if version != self._version:  # another model's scores say nothing of this one's
            self._scores.clear()
            self._version = version
        p = np.asarray(p, dtype=float)
        self._scores.extend(p[~np.isnan(p)].tolist())
        count = len(self._scores)
        if count < self.min_scores:
            return ThresholdInUse(own, own, None, count)
        try:
            decision = live_decision(
                np.fromiter(self._scores, float, count), meta.threshold_strategy
            )
        except PriorShiftError as exc:  # a new champion without the curve: keep scoring
            log.warning("model %s: %s; flagging at its own threshold %.3f", version, exc, own)
            return ThresholdInUse(own, own, None, count)
        return ThresholdInUse(decision.threshold, own, decision.live_prior, count)
