"""A trained model's threshold set again on its validation split, without retraining.

The team's reading capacity and the business parameters change more often than the model.
`tweet-triage threshold` scores the validation split with the saved model (calibrated, as
every scorer does), chooses the threshold by the strategy asked (thresholds.py) and rewrites
triage.json's threshold, strategy, validation metrics and drift reference. The network and
its calibration map stay as trained. With `--live-prior` (or `--live-predictions`, the live
share estimated from scored live tweets) the threshold is chosen for the live mix instead of
validation's (prior_shift.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tweet_triage.model.arguments import ThresholdArguments
from tweet_triage.model.data import ModelDataError, load_manifest, load_split, read_table
from tweet_triage.model.folder import ModelMeta
from tweet_triage.model.inference import load_scorer
from tweet_triage.model.metrics import classification_metrics
from tweet_triage.model.names import NEEDS_SUPPORT, P_COLUMN
from tweet_triage.model.prior_shift import estimate_prior
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
    live_prior = options.live_prior
    if options.live_predictions:
        live_prior = estimated_live_prior(Path(options.live_predictions), float(y.mean()))
    choice = choose_threshold(
        options.threshold_strategy,
        y,
        p,
        tweet_words(val),
        beta=beta,
        params=options.business(),
        capacity=options.team_capacity(),
        arrivals_per_hour=options.arrivals_per_hour or arrivals_per_hour(val),
        live_prior=live_prior,
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
        "%s: threshold %.3f by %s for %s, flags %.1f%% of val",
        model_dir,
        choice.threshold,
        choice.strategy,
        "val's share" if live_prior is None else f"a live share of {live_prior:.1%}",
        100 * float(np.mean(p >= choice.threshold)),
    )
    return choice


def estimated_live_prior(predictions: Path, train_prior: float) -> float:
    """The live share needing support from a `predict` output's scores (EM; no labels)."""
    frame = read_table(predictions)
    if P_COLUMN not in frame.columns:
        raise ModelDataError(
            f"--live-predictions {predictions}: no {P_COLUMN} column; score the live tweets "
            "with `tweet-triage predict` and this model first"
        )
    share = estimate_prior(frame[P_COLUMN].to_numpy(), train_prior)
    if np.isnan(share):
        raise ModelDataError(f"--live-predictions {predictions}: no scored tweet in it")
    log.info("%s: estimated live share needing support %.1f%%", predictions, 100 * share)
    return share
