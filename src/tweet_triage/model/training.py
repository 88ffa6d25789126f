"""Fine-tuning the needs-support classifier with the transformers Trainer: a linear `train`.

Same code on CPU and GPU (CUDA: bf16 autocast and TF32). What differs from the original, and
why:
- the checkpoint is chosen on validation by needs-support F2 (configurable), not by loss,
  with early stopping; the decision threshold is then chosen on validation to maximise F2
  and saved with the model (the original took argmax);
- the maximum length comes from the data (tweets are short), not 512;
- dynamic padding with length-grouped batches, so a batch of short tweets stays short (on CPU
  padded to its longest tweet only, on CUDA to a multiple of 8); the validation set is sorted
  by length once, so validating pads to almost nothing;
- a budget (`--budget demo`, or explicit max steps / sample / seconds) makes the demo finish
  in minutes on two CPU cores; with a GPU the full data is used;
- seeded, resumable from the last checkpoint (`--resume`), tracked in MLflow, exported to
  ONNX (fp32 and int8) next to the weights for fast CPU scoring.

The options are `arguments.TrainArguments` (run_glue style); the Trainer subclass and the
callbacks are in `trainer.py`.
"""

from __future__ import annotations

import logging
import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tweet_triage.config import Settings
from tweet_triage.model.arguments import TrainArguments, TrainingError
from tweet_triage.model.data import load_manifest, load_split, splits_dir
from tweet_triage.model.folder import (
    BINARY_LABELS,
    SENTIMENT_LABELS,
    ModelMeta,
    resolve_backbone,
)
from tweet_triage.model.general import general_set, mix
from tweet_triage.model.metrics import TIME_OF_DAY, classification_metrics
from tweet_triage.model.names import NEEDS_SUPPORT
from tweet_triage.model.thresholds import calibrate_and_choose

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    output_dir: Path
    threshold: float
    validation: dict[str, Any]
    train_seconds: float
    train_samples_per_second: float
    steps: int
    device: str
    mlflow_run_id: str | None = None
    registered_version: str | None = None


def stratified_sample(frame: pd.DataFrame, size: int | None, label: str, seed: int) -> pd.DataFrame:
    """A class-stratified random sample (all rows when size is None or larger)."""
    if size is None or size >= len(frame):
        return frame
    share = size / len(frame)
    parts = [
        group.sample(n=max(1, round(len(group) * share)), random_state=seed)
        for _, group in frame.groupby(label)
    ]
    return pd.concat(parts).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def derive_max_length(tokenizer: Any, texts: list[str], percentile: float, cap: int) -> int:
    """Max tokens from the data: a high percentile of train lengths, rounded up to 8, capped."""
    lengths = [len(ids) for ids in tokenizer(texts, truncation=False)["input_ids"]]
    value = int(math.ceil(np.percentile(lengths, percentile) / 8.0) * 8)
    return max(8, min(value, cap))


def reference_distribution(frame: pd.DataFrame, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """Validation scores summarised for the drift check of `trends` (see trends.py)."""
    from tweet_triage.model.trends import distribution_summary

    summary: dict[str, Any] = {"overall": distribution_summary(p, threshold), "by_time_of_day": {}}
    if "time_of_day" in frame.columns:
        for name in TIME_OF_DAY:
            mask = (frame["time_of_day"] == name).to_numpy()
            if mask.any():
                summary["by_time_of_day"][name] = distribution_summary(p[mask], threshold)
    return summary


def load_splits(args: TrainArguments) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Train and val frames (sampled as asked) and the column the head learns."""
    three_class = args.model.objective == "three_class"
    label = "sentiment" if three_class else NEEDS_SUPPORT
    seed = args.training.seed
    train_frame = load_split(args.data.data_dir, "train", need_sentiment=three_class)
    val_frame = load_split(args.data.data_dir, "val", need_sentiment=three_class)
    train_frame = stratified_sample(train_frame, args.data.train_sample_size, label, seed)
    if args.data.general_set:  # never a tweet of val or test (general.py)
        held_out = [val_frame]
        if (splits_dir(args.data.data_dir) / "test").exists():
            held_out.append(load_split(args.data.data_dir, "test", need_both_classes=False))
        general = general_set(args.data.general_set, held_out, need_sentiment=three_class)
        train_frame = mix(train_frame, general)
    # Val is stratified on needs_support whatever the objective: both objectives are then
    # selected and compared on the very same tweets.
    val_frame = stratified_sample(val_frame, args.data.max_eval_samples, NEEDS_SUPPORT, seed)
    return train_frame, val_frame, label


def load_tokenizer(backbone: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(backbone)
    except OSError as exc:
        raise TrainingError(
            f"cannot load the tokenizer of {backbone!r} ({exc}); set MODEL_NAME_OR_PATH to a "
            "local model folder (there is no Hugging Face Hub access offline)"
        ) from exc


def load_backbone(backbone: str, id2label: dict[int, str]) -> Any:
    from transformers import AutoModelForSequenceClassification

    try:
        return AutoModelForSequenceClassification.from_pretrained(
            backbone,
            num_labels=len(id2label),
            id2label=id2label,
            label2id={v: k for k, v in id2label.items()},
            ignore_mismatched_sizes=True,  # a backbone with another head gets a fresh one
        )
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot load the backbone {backbone!r}: {exc}") from exc


def pad_multiple(device: str) -> int | None:
    """Batches pad to a multiple of 8 on CUDA (tensor-core shapes); on CPU to their longest
    tweet only: the extra positions are pure work there (tweets of ~28 tokens padded to 8s
    carry ~20% padding even in length-grouped batches)."""
    return 8 if device == "cuda" else None


def encode(tokenizer: Any, frame: pd.DataFrame, label: str, max_length: int) -> Any:
    """Tokenise once, up front (not per batch): the Trainer only pads."""
    from tweet_triage.model.trainer import EncodedDataset

    encodings = tokenizer(frame["model_text"].tolist(), truncation=True, max_length=max_length)
    return EncodedDataset(dict(encodings), frame[label].to_numpy().astype(int))


def set_step_intervals(args: TrainArguments, train_rows: int) -> int:
    """Validation/saving/logging intervals from the data size; returns batches per epoch."""
    training = args.training
    batches = math.ceil(train_rows / training.per_device_train_batch_size)
    eval_steps = max(1, batches // max(1, args.run.evaluations_per_epoch or 1))
    training.eval_steps = training.save_steps = eval_steps
    training.logging_steps = max(1, min(50, eval_steps // 2))
    return batches


def last_checkpoint(args: TrainArguments) -> str | None:
    """The checkpoint `--resume` continues from (None when not resuming)."""
    from transformers.trainer_utils import get_last_checkpoint

    if not args.run.resume:
        return None
    folder = args.data.checkpoint_dir
    found = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    if found is None:
        raise TrainingError(f"--resume: no checkpoint in {folder}; start without --resume")
    log.info("resuming from %s", found)
    return found


def train(args: TrainArguments, settings: Settings) -> TrainResult:
    """Fine-tune, choose the checkpoint and the threshold on val, save, export, track."""
    import torch
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, set_seed
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from tweet_triage.model.export import export_onnx
    from tweet_triage.model.inference import TorchScorer
    from tweet_triage.model.trainer import (
        ProgressBar,
        TimeBudget,
        TriageTrainer,
        class_weights,
        compute_metrics_for,
        needs_support_ids,
    )

    set_seed(args.training.seed)
    resume_from = last_checkpoint(args)
    train_frame, val_frame, label = load_splits(args)
    backbone = resolve_backbone(args.model.model_name_or_path)
    tokenizer = load_tokenizer(backbone)
    max_length = args.model.max_length or derive_max_length(
        tokenizer,
        train_frame["model_text"].tolist(),
        args.model.max_length_percentile,
        args.model.max_length_cap or 128,
    )
    three_class = args.model.objective == "three_class"
    id2label = SENTIMENT_LABELS if three_class else BINARY_LABELS
    weights = None if three_class else class_weights(train_frame[label].to_numpy().astype(int), 2)
    train_data = encode(tokenizer, train_frame, label, max_length)
    val_data = encode(tokenizer, val_frame, label, max_length).sorted_by_length()
    model = load_backbone(backbone, id2label)
    if args.model.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    batches_per_epoch = set_step_intervals(args, len(train_data))

    device = "cpu" if args.training.use_cpu else "cuda"
    metric_log: list[dict[str, Any]] = []
    trainer = TriageTrainer(
        model=model,
        args=args.training,
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_multiple(device)),
        train_dataset=train_data,
        eval_dataset=val_data,
        processing_class=tokenizer,
        compute_metrics=compute_metrics_for(args.model.objective),
        callbacks=[
            EarlyStoppingCallback(early_stopping_patience=args.run.early_stopping_patience),
            TimeBudget(args.run.max_train_seconds),
            ProgressBar(metric_log),
        ],
        loss_weights=weights,
        max_train_seconds=args.run.max_train_seconds,
    )
    for quiet in (ProgressCallback, PrinterCallback):
        trainer.remove_callback(quiet)
    log.info(
        "training %s (%s) on %d tweets, validating on %d, max length %d, %s, %d steps/epoch",
        backbone,
        args.model.objective,
        len(train_data),
        len(val_data),
        max_length,
        device,
        batches_per_epoch,
    )
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=resume_from)
    train_seconds = time.perf_counter() - started

    # The best checkpoint is loaded. Score val once more, through the very code `predict`
    # uses, in the frame's row order, for the threshold and the reference distribution.
    meta = ModelMeta(
        objective=args.model.objective,
        threshold=0.5,
        id2label=id2label,
        needs_support_ids=needs_support_ids(args.model.objective),
        max_length=max_length,
        backbone=backbone,
        threshold_beta=args.run.threshold_beta,
        data_manifest=load_manifest(args.data.data_dir),
    )
    best = trainer.model.eval()
    scorer = TorchScorer(args.data.model_dir, tokenizer, meta, "unsaved", best, device)
    p_val = scorer.predict_proba(
        val_frame["model_text"].tolist(), batch_size=args.training.per_device_eval_batch_size
    )
    y_val = val_frame[NEEDS_SUPPORT].to_numpy().astype(int)
    # Calibrate on val, then set the threshold on the calibrated scores (thresholds.py);
    # from here on p_val is what every scorer of the saved model returns.
    meta.calibration, choice, p_val = calibrate_and_choose(
        args.threshold, args.run.threshold_beta, val_frame, y_val, p_val, args.training.seed
    )
    meta.threshold, meta.threshold_strategy = choice.threshold, choice.as_dict()
    meta.validation = classification_metrics(y_val, p_val, meta.threshold)
    meta.reference_distribution = reference_distribution(val_frame, p_val, meta.threshold)
    samples_per_second = float(output.metrics.get("train_samples_per_second", float("nan")))
    meta.training = {
        "config": args.record(),
        "max_length": max_length,
        "class_weights": weights.tolist() if weights is not None else None,
        "train_rows": len(train_data),
        "val_rows": len(val_data),
        "steps": trainer.state.global_step,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "best_metric": trainer.state.best_metric,
        "train_seconds": round(train_seconds, 1),
        "train_samples_per_second": samples_per_second,
        "device": device,
        "bf16": args.training.bf16,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "eval_log": [entry for entry in metric_log if "eval_f2" in entry],
    }
    output_dir = args.data.model_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(output_dir))
    meta.save(output_dir)
    export_onnx(output_dir, best, tokenizer)
    result = TrainResult(
        output_dir=output_dir,
        threshold=meta.threshold,
        validation=meta.validation,
        train_seconds=train_seconds,
        train_samples_per_second=samples_per_second,
        steps=trainer.state.global_step,
        device=device,
    )
    if args.run.track:
        track_training(args, settings, meta, metric_log, result)
    return result


def track_training(
    args: TrainArguments,
    settings: Settings,
    meta: ModelMeta,
    metric_log: list[dict[str, Any]],
    result: TrainResult,
) -> None:
    """Params, per-evaluation metrics, final val metrics, the model and a registry version."""
    import mlflow

    from tweet_triage.model.registry import log_and_register_model
    from tweet_triage.model.tracking import (
        flat_params,
        mlflow_run,
        numeric_metrics,
        tracking_uri,
    )

    with mlflow_run(settings, run_name=f"train-{args.model.objective}-{args.run.budget}") as run:
        mlflow.log_params(flat_params("", meta.training["config"]))
        mlflow.log_params(
            {
                "effective_max_length": meta.max_length,
                "backbone": meta.backbone,
                "train_rows": meta.training["train_rows"],
            }
        )
        if meta.data_manifest is not None:
            mlflow.log_dict(meta.data_manifest, "data_manifest.json")
        for entry in metric_log:
            values = {
                k: float(v)
                for k, v in entry.items()
                if k != "step" and isinstance(v, int | float) and v == v
            }
            mlflow.log_metrics(values, step=int(entry["step"]))
        mlflow.log_metrics(numeric_metrics("val.", meta.validation))
        mlflow.log_metrics(
            {
                "train_seconds": result.train_seconds,
                "train_samples_per_second": result.train_samples_per_second,
            }
        )
        result.mlflow_run_id = run.info.run_id
        meta.mlflow = {"tracking_uri": tracking_uri(settings), "run_id": run.info.run_id}
        meta.save(result.output_dir)
        result.registered_version = log_and_register_model(result.output_dir, args.run.register)
        meta.mlflow["registered_version"] = result.registered_version
        meta.save(result.output_dir)
    if args.run.promote and result.registered_version is not None:
        from tweet_triage.model.registry import promote

        promote(settings, result.registered_version, why="train --promote")
