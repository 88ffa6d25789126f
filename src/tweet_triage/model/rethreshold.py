"""A trained model's threshold set again on its validation split, without retraining.

The team's reading capacity and the business parameters change more often than the model.
`tweet-triage threshold` scores the validation split with the saved model (calibrated, as
every scorer does), chooses the threshold by the strategy asked (thresholds.py) and rewrites
triage.json's threshold, strategy, validation metrics and drift reference. The network and
its calibration map stay as trained.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tweet_triage.model.arguments import ThresholdArguments
from tweet_triage.model.data import load_manifest, load_split
from tweet_triage.model.folder import ModelMeta
from tweet_triage.model.inference import load_scorer
from tweet_triage.model.metrics import classification_metrics
from tweet_triage.model.names import NEEDS_SUPPORT
from tweet_triage.model.thresholds import (
    ThresholdChoice,
    arrivals_per_hour,
    choose_threshold,
    tweet_words,
)
from tweet_triage.model.training import reference_distribution

log = logging.getLogger(__name__)


def rethreshold(
    model_dir: Path,
    data_dir: Path,
    options: ThresholdArguments,
    *,
    beta: float | None = None,
    engine: str = "torch",
    device: str = "auto",
) -> ThresholdChoice:
    """Choose the threshold of `options.threshold_strategy` on data_dir's val split, save it.

    engine torch by default: training set the first threshold on torch's scores.
    """
    meta = ModelMeta.load(model_dir)
    val = load_split(data_dir, "val")
    trained_on = (meta.data_manifest or {}).get("splits", {}).get("val")
    given = (load_manifest(data_dir) or {}).get("splits", {}).get("val")
    if trained_on and given and trained_on != given:
        log.warning(
            "%s's val split is not the one %s was calibrated on; the threshold follows the "
            "new one, the calibration map stays the trained one",
            data_dir,
            model_dir,
        )
    scorer = load_scorer(model_dir, engine=engine, device=device)
    p = scorer.predict_proba(val["model_text"].tolist())
    y = val[NEEDS_SUPPORT].to_numpy().astype(int)
    beta = meta.threshold_beta if beta is None else beta
    choice = choose_threshold(
        options.threshold_strategy,
        y,
        p,
        tweet_words(val),
        beta=beta,
        params=options.business(),
        capacity=options.team_capacity(),
        arrivals_per_hour=options.arrivals_per_hour or arrivals_per_hour(val),
    )
    meta.threshold, meta.threshold_strategy, meta.threshold_beta = (
        choice.threshold,
        choice.as_dict(),
        beta,
    )
    meta.validation = classification_metrics(y, p, choice.threshold)
    meta.reference_distribution = reference_distribution(val, p, choice.threshold)
    meta.save(model_dir)
    log.info(
        "%s: threshold %.3f by %s, flags %.1f%% of val",
        model_dir,
        choice.threshold,
        choice.strategy,
        100 * float(np.mean(p >= choice.threshold)),
    )
    return choice
