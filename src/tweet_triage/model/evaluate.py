"""Evaluation on a held-out split: needs-support metrics with intervals, business metrics
against random guessing, slices; results to reports/ and to the model's MLflow run."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from tweet_triage.config import Settings
from tweet_triage.model import calibration
from tweet_triage.model.business import capacity_view
from tweet_triage.model.data import load_split
from tweet_triage.model.folder import ModelMeta
from tweet_triage.model.inference import load_scorer
from tweet_triage.model.metrics import (
    TIME_OF_DAY,
    BusinessParams,
    bootstrap_intervals,
    business_comparison,
    classification_metrics,
    f_beta,
    slice_table,
    tweet_seconds,
    word_bins,
)
from tweet_triage.model.names import (
    NEEDS_SUPPORT,
    P_COLUMN,
    PRED_COLUMN,
    PREDICTIONS_FILE,
    REPORT_FILE,
    TRUE_COLUMN,
)
from tweet_triage.model.parameters import Capacity
from tweet_triage.model.result import EvaluationResult
from tweet_triage.model.thresholds import tweet_words

log = logging.getLogger(__name__)

SLICES = ("time_of_day", "word_bin", "tweet_kind")
# The team's reading capacity when none is given: 30 tweets an hour, one person's steady pace.
DEFAULT_CAPACITY_PER_HOUR = 30.0


@dataclass
class EvaluateOptions:
    split: str = "test"
    n_bootstrap: int = 1000
    seed: int = 0
    naive_seed: int = 88
    batch_size: int = 64
    device: str = "auto"
    engine: str = "auto"
    track: bool = True
    capacity: Capacity = field(default_factory=lambda: Capacity(DEFAULT_CAPACITY_PER_HOUR))


def evaluate(
    model_dir: Path,
    data_dir: Path,
    reports_dir: Path,
    settings: Settings,
    params: BusinessParams | None = None,
    options: EvaluateOptions | None = None,
) -> EvaluationResult:
    """Score a labelled split and write evaluation.json, predictions, plots and the report.

    The split is read and checked before the model loads.
    """
    from tweet_triage.model.report import build_report

    params = params or BusinessParams()
    options = options or EvaluateOptions()
    frame = load_split(data_dir, options.split)
    model = load_scorer(model_dir, engine=options.engine, device=options.device)
    text_column = "text" if "text" in frame.columns else "model_text"
    # Score once without the saved calibration and apply it here, so the report can show
    # calibration on this split before and after; p is what the scorer returns.
    fitted, model.meta.calibration = model.meta.calibration, {}
    raw = model.predict_proba(frame[text_column].tolist(), batch_size=options.batch_size)
    model.meta.calibration = fitted
    p = calibration.apply(fitted, raw)
    scored = ~np.isnan(p)
    if not scored.all():
        log.warning("%d row(s) with unusable text left out of the evaluation", (~scored).sum())
    frame = frame.loc[scored].reset_index(drop=True)
    p, raw = p[scored], raw[scored]
    y = frame[NEEDS_SUPPORT].to_numpy().astype(int)
    threshold = model.threshold
    pred = (p >= threshold).astype(int)
    words = tweet_words(frame)

    metrics = classification_metrics(y, p, threshold)
    predictions = frame.rename(columns={NEEDS_SUPPORT: TRUE_COLUMN}).assign(
        **{P_COLUMN: p, PRED_COLUMN: pred, "word_count": words}
    )
    predictions["word_bin"] = word_bins(predictions["word_count"])
    if "time_of_day" in predictions.columns:  # slices in clock order, not alphabetical
        predictions["time_of_day"] = pd.Categorical(
            predictions["time_of_day"], categories=TIME_OF_DAY, ordered=True
        )
    if "is_reply" in predictions.columns:
        predictions["tweet_kind"] = np.where(
            predictions["is_reply"].astype(bool), "reply", "original"
        )
    slices = {
        column: slice_table(predictions, column, TRUE_COLUMN, P_COLUMN, PRED_COLUMN).to_dict(
            orient="records"
        )
        for column in SLICES
        if column in predictions.columns
    }
    result = EvaluationResult(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        model_dir=str(model_dir),
        split=options.split,
        rows_skipped=int((~scored).sum()),
        threshold=threshold,
        objective=model.meta.objective,
        metrics=metrics,
        metrics_at_half=classification_metrics(y, p, 0.5),
        # What flagging every tweet scores: F2 rewards recall, so this bar is high when most
        # tweets need support; the model must clear it to be worth anything.
        f2_flag_everything=f_beta(int(y.sum()), int((y == 0).sum()), 0, 2.0),
        intervals=bootstrap_intervals(
            y, p, threshold, tweet_seconds(words, params), options.n_bootstrap, options.seed
        ),
        n_bootstrap=options.n_bootstrap,
        business=business_comparison(y, pred, words, params, seed=options.naive_seed),
        slices=slices,
        capacity=capacity_view(
            y,
            p,
            frame["created_at"] if "created_at" in frame.columns else [],
            words,
            params,
            options.capacity,
        ),
        calibration={
            "method": fitted.get("method", "none"),
            "cross_fitted_ece_on_val": fitted.get("cross_fitted_ece", {}),
            "ece_before": calibration.expected_calibration_error(y, raw),
            "ece_after": calibration.expected_calibration_error(y, p),
            "reliability_before": calibration.reliability(y, raw),
            "reliability_after": calibration.reliability(y, p),
        },
        threshold_strategy=model.meta.threshold_strategy,
        validation=model.meta.validation,
        training={
            k: model.meta.training.get(k)
            for k in (
                "train_rows",
                "steps",
                "train_seconds",
                "train_samples_per_second",
                "device",
                "max_length",
            )
        },
        mlflow=model.meta.mlflow,
    )
    reports_dir.mkdir(parents=True, exist_ok=True)
    predictions.to_parquet(reports_dir / PREDICTIONS_FILE, index=False)
    result.save(reports_dir)
    build_report(reports_dir)
    if options.track:
        _track(settings, model.meta, result, reports_dir)
        result.save(reports_dir)
    return result


def _track(
    settings: Settings, meta: ModelMeta, result: EvaluationResult, reports_dir: Path
) -> None:
    """Add the test metrics, plots and report to the training run (a new run if none)."""
    import mlflow

    from tweet_triage.model.names import EVALUATION_FILE
    from tweet_triage.model.tracking import mlflow_run, numeric_metrics, run_exists

    run_id = meta.mlflow.get("run_id")
    if run_id and not run_exists(settings, run_id):
        log.warning("MLflow run %s is not in this store; recording a new run", run_id)
        run_id = None
    with mlflow_run(settings, run_id=run_id, run_name=None if run_id else "evaluate") as run:
        prefix = f"{result.split}."
        mlflow.log_metrics(numeric_metrics(prefix, result.metrics))
        business = {k: v for k, v in result.business.items() if k not in ("params", "draw_seed")}
        mlflow.log_metrics(numeric_metrics(prefix + "business.", business))
        for png in sorted(reports_dir.glob("*.png")):
            mlflow.log_artifact(str(png), "plots")
        mlflow.log_artifact(str(reports_dir / REPORT_FILE), "report")
        mlflow.log_artifact(str(reports_dir / EVALUATION_FILE), "report")
        result.mlflow = {**meta.mlflow, "evaluation_run_id": run.info.run_id}
