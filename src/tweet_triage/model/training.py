"""Fine-tuning the needs-support classifier with the transformers Trainer.

Same code on CPU and GPU (CUDA: bf16 autocast and TF32). What differs from the original, and
why:
- the checkpoint is chosen on validation by needs-support F2 (configurable), not by loss,
  with early stopping; the decision threshold is then chosen on validation to maximise F2
  and saved with the model (the original took argmax);
- the maximum length comes from the data (tweets are short), not 512;
- dynamic padding with length-grouped batches, so a batch of short tweets stays short;
- a budget (`--budget demo`, or explicit max steps / sample / seconds) makes the demo finish
  in minutes on two CPU cores; with a GPU the full data is used;
- seeded, resumable from the last checkpoint (`--resume`), tracked in MLflow.
"""

from __future__ import annotations

import logging
import math
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tweet_triage.config import Settings
from tweet_triage.errors import TriageError
from tweet_triage.model.bundle import (
    BINARY_LABELS,
    OBJECTIVES,
    SENTIMENT_LABELS,
    ModelMeta,
    needs_support_probability,
    resolve_backbone,
)
from tweet_triage.model.data import NEEDS_SUPPORT, load_manifest, load_split
from tweet_triage.model.export import export_onnx
from tweet_triage.model.inference import TorchScorer, pick_device
from tweet_triage.model.metrics import TIME_OF_DAY, best_threshold, classification_metrics

log = logging.getLogger(__name__)

SELECTION_METRICS = ("f2", "f1", "pr_auc", "roc_auc")
BUDGETS = ("full", "demo")
# What `--budget demo` sets for options left unset: about 5 minutes of training on 2 CPU
# cores (measured; docs/model.md), evaluating 4 times, on a class-stratified train sample.
DEMO_BUDGET: dict[str, Any] = {
    "train_sample_size": 6000,
    "num_train_epochs": 1.0,
    "max_train_seconds": 360.0,
    "evaluations_per_epoch": 3,
    "max_eval_samples": 1500,
    "max_length_cap": 64,
}


class TrainingError(TriageError):
    """Training cannot start or continue; the message says why and the fix."""


@dataclass
class TrainConfig:
    """Training options (`tweet-triage train --help` lists them with this help text)."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "HF model id or local folder; default MODEL_NAME_OR_PATH or MiniLM-L6."},
    )
    data_dir: Path | None = field(
        default=None, metadata={"help": "Folder holding splits/; default DATA_DIR."}
    )
    output_dir: Path | None = field(
        default=None, metadata={"help": "Model folder to write; default MODEL_DIR."}
    )
    checkpoint_dir: Path | None = field(
        default=None,
        metadata={"help": "Checkpoints for --resume; default <output_dir>-checkpoints."},
    )
    budget: str = field(
        default="full",
        metadata={
            "help": "full: all data; demo: a CPU budget of ~5 min (explicit options win).",
            "choices": BUDGETS,
        },
    )
    objective: str = field(
        default="three_class",
        metadata={
            "help": "three_class: a negative/neutral/positive head, P(needs support) = "
            "P(neg)+P(neu); weighted: a binary head with class-weighted loss. Chosen by "
            "measurement (docs/model.md).",
            "choices": OBJECTIVES,
        },
    )
    num_train_epochs: float | None = field(default=None, metadata={"help": "Epochs (default 3)."})
    learning_rate: float = field(default=5e-5, metadata={"help": "Peak AdamW learning rate."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    warmup_ratio: float = field(default=0.06, metadata={"help": "Linear warm-up share of steps."})
    per_device_train_batch_size: int = field(default=32, metadata={"help": "Train batch size."})
    per_device_eval_batch_size: int = field(default=128, metadata={"help": "Eval batch size."})
    max_length: int | None = field(
        default=None, metadata={"help": "Token limit; default: a percentile of the train data."}
    )
    max_length_percentile: float = field(
        default=99.5, metadata={"help": "Percentile of train token lengths used as max length."}
    )
    max_length_cap: int | None = field(
        default=None, metadata={"help": "Upper bound on the derived max length (default 128)."}
    )
    train_sample_size: int | None = field(
        default=None, metadata={"help": "Train on a class-stratified sample of this many rows."}
    )
    max_steps: int | None = field(
        default=None, metadata={"help": "Stop after this many optimiser steps (overrides epochs)."}
    )
    max_train_seconds: float | None = field(
        default=None, metadata={"help": "Stop (evaluate, save) once training ran this long."}
    )
    evaluations_per_epoch: int | None = field(
        default=None, metadata={"help": "Validation passes per epoch (default 1)."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Select and tune the threshold on a val sample."}
    )
    selection_metric: str = field(
        default="f2",
        metadata={
            "help": "Val metric that picks the checkpoint (F-scores at their best threshold).",
            "choices": SELECTION_METRICS,
        },
    )
    threshold_beta: float = field(
        default=2.0, metadata={"help": "The threshold maximises needs-support F-beta on val."}
    )
    early_stopping_patience: int = field(
        default=2, metadata={"help": "Stop after this many evaluations without improvement."}
    )
    seed: int = field(default=42, metadata={"help": "Seed of sampling, init and data order."})
    resume: bool = field(
        default=False, metadata={"help": "Continue from the last checkpoint in checkpoint_dir."}
    )
    device: str = field(
        default="auto",
        metadata={
            "help": "auto (CUDA if present), cuda or cpu.",
            "choices": ("auto", "cuda", "cpu"),
        },
    )
    dataloader_num_workers: int = field(default=0, metadata={"help": "DataLoader workers."})
    track: bool = field(default=True, metadata={"help": "Record the run in MLflow."})
    register: bool = field(
        default=True, metadata={"help": "Register the model version in the MLflow registry."}
    )

    def resolved(self, settings: Settings) -> TrainConfig:
        """Settings fill the paths, the budget fills what the user left unset."""
        if self.budget not in BUDGETS:
            raise TrainingError(f"--budget {self.budget!r}: use one of {BUDGETS}")
        if self.objective not in OBJECTIVES:
            raise TrainingError(f"--objective {self.objective!r}: use one of {OBJECTIVES}")
        if self.selection_metric not in SELECTION_METRICS:
            raise TrainingError(
                f"--selection-metric {self.selection_metric!r}: use one of {SELECTION_METRICS}"
            )
        values = asdict(self)
        preset = DEMO_BUDGET if self.budget == "demo" else {}
        defaults = {"num_train_epochs": 3.0, "evaluations_per_epoch": 1, "max_length_cap": 128}
        for name in (*preset, *defaults):
            if values[name] is None:
                values[name] = preset.get(name, defaults.get(name))
        values["model_name_or_path"] = self.model_name_or_path or settings.model_name_or_path
        values["data_dir"] = Path(self.data_dir or settings.data_dir)
        values["output_dir"] = Path(self.output_dir or settings.model_dir)
        values["checkpoint_dir"] = Path(
            self.checkpoint_dir or f"{values['output_dir']}-checkpoints"
        )
        return TrainConfig(**values)


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


def _sample(frame: pd.DataFrame, size: int | None, label: str, seed: int) -> pd.DataFrame:
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


class _Encoded:
    """A list-backed torch-style dataset of tokenised rows (what Trainer and the sampler need)."""

    def __init__(self, encodings: dict[str, list[list[int]]], labels: np.ndarray) -> None:
        self._encodings = encodings
        self._labels = labels

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = {key: values[index] for key, values in self._encodings.items()}
        row["labels"] = int(self._labels[index])
        return row


def _class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency weights (n / (k * count)), so each class weighs the same in total."""
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    if (counts == 0).any():
        raise TrainingError("a class has no training example; cannot weight the loss")
    return len(labels) / (n_classes * counts)


def budget_lr_factor(
    step: int, total_steps: int, warmup_steps: int, elapsed: float, max_seconds: float | None
) -> float:
    """Linear warm-up, then linear decay to 0 at whichever ends first: the steps or the time.

    Under a time budget the step-based schedule would be cut off mid-way, still at a high
    learning rate; this one reaches 0 when the budget runs out, whatever the machine's speed.
    """
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    span = max(1, total_steps - warmup_steps)
    progress = (step - warmup_steps) / span
    if max_seconds:
        progress = max(progress, elapsed / max_seconds)
    return max(0.0, 1.0 - progress)


def _device_settings(device: str) -> dict[str, Any]:
    """Trainer flags per device: bf16 autocast and TF32 on CUDA, plain fp32 on CPU."""
    import torch

    chosen = pick_device(device)
    if chosen != "cuda":
        return {"use_cpu": True, "bf16": False, "tf32": None}
    ampere = torch.cuda.get_device_capability()[0] >= 8
    if ampere:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return {"use_cpu": False, "bf16": torch.cuda.is_bf16_supported(), "tf32": ampere or None}


def _callbacks(config: TrainConfig, metric_log: list[dict[str, Any]]) -> list[Any]:
    """Time budget, final evaluation, a loss/throughput progress bar, per-eval MLflow logging."""
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class BudgetAndFinalEval(TrainerCallback):
        """Stop at --max-train-seconds, and always evaluate+save at the very last step.

        Without this the Trainer ends between evaluations and the last steps are never
        considered for the best checkpoint.
        """

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started = time.monotonic()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            over = (
                config.max_train_seconds is not None
                and time.monotonic() - self.started >= config.max_train_seconds
            )
            if over:
                log.info(
                    "time budget of %.0f s reached at step %d",
                    config.max_train_seconds,
                    state.global_step,
                )
                control.should_training_stop = True
            if over or state.global_step >= state.max_steps:
                control.should_evaluate = True
                control.should_save = True

        def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # A validation that ends past the budget is the last one: its checkpoint is then
            # saved, instead of training one more step only to validate it again.
            if (
                config.max_train_seconds is not None
                and time.monotonic() - self.started >= config.max_train_seconds
            ):
                control.should_training_stop = True

    class LossAndThroughputBar(TrainerCallback):
        """A progress bar whose postfix shows the latest loss and samples per second."""

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # Off a terminal (CI, `make demo > log`) redraw rarely: each redraw is a log line.
            redraw_seconds = 0.1 if sys.stderr.isatty() else 30.0
            self.bar = tqdm(
                total=state.max_steps,
                desc="train",
                dynamic_ncols=True,
                mininterval=redraw_seconds,
            )
            self.bar.update(state.global_step)
            self.started, self.first_step = time.monotonic(), state.global_step
            self.loss: float | None = None

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.bar.update(state.global_step - self.bar.n)
            elapsed = time.monotonic() - self.started
            done = (state.global_step - self.first_step) * args.train_batch_size
            postfix = {"samples/s": f"{done / elapsed:.1f}" if elapsed else "-"}
            if self.loss is not None:
                postfix["loss"] = f"{self.loss:.4f}"
            self.bar.set_postfix(postfix, refresh=False)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                self.loss = float(logs["loss"])
            if logs:
                metric_log.append({"step": state.global_step, **logs})
            if logs and any(k.startswith("eval_") for k in logs):
                summary = ", ".join(
                    f"{k[5:]} {v:.4f}"
                    for k, v in logs.items()
                    if k in ("eval_f2", "eval_pr_auc", "eval_threshold", "eval_loss")
                )
                self.bar.write(f"step {state.global_step}: val {summary}")

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.bar.close()

    return [BudgetAndFinalEval(), LossAndThroughputBar()]


def _eval_p(logits: np.ndarray, config: TrainConfig) -> np.ndarray:
    return needs_support_probability(logits, _needs_support_ids(config.objective))


def _needs_support_ids(objective: str) -> list[int]:
    return [0, 1] if objective == "three_class" else [1]


def _y_needs_support(labels: np.ndarray, objective: str) -> np.ndarray:
    return (labels <= 1).astype(int) if objective == "three_class" else labels.astype(int)


def make_compute_metrics(config: TrainConfig) -> Any:
    """Trainer metrics on val: needs-support F-scores at their best threshold, AUCs."""

    def compute(prediction: Any) -> dict[str, float]:
        logits = prediction.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        y = _y_needs_support(np.asarray(prediction.label_ids), config.objective)
        p = _eval_p(logits, config)
        threshold, f2 = best_threshold(y, p, beta=2.0)
        _, f1 = best_threshold(y, p, beta=1.0)
        at = classification_metrics(y, p, threshold)
        return {
            "f2": f2,
            "f1": f1,
            "threshold": threshold,
            "precision": at["precision"],
            "recall": at["recall"],
            "pr_auc": at["pr_auc"],
            "roc_auc": at["roc_auc"],
        }

    return compute


def _last_checkpoint(folder: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(folder)) if folder.is_dir() else None


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


def train(config: TrainConfig, settings: Settings) -> TrainResult:
    """Fine-tune, choose the checkpoint and the threshold on val, save, track. See module doc."""
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        EarlyStoppingCallback,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    config = config.resolved(settings)
    set_seed(config.seed)
    three_class = config.objective == "three_class"
    label_column = "sentiment" if three_class else NEEDS_SUPPORT
    train_frame = load_split(config.data_dir, "train", need_sentiment=three_class)
    val_frame = load_split(config.data_dir, "val", need_sentiment=three_class)
    train_frame = _sample(train_frame, config.train_sample_size, label_column, config.seed)
    # Val is stratified on needs_support whatever the objective: both objectives are then
    # selected and compared on the very same tweets.
    val_frame = _sample(val_frame, config.max_eval_samples, NEEDS_SUPPORT, config.seed)

    backbone = resolve_backbone(config.model_name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(backbone)
    except OSError as exc:
        raise TrainingError(
            f"cannot load the tokenizer of {backbone!r} ({exc}); set MODEL_NAME_OR_PATH to a "
            "local model folder (there is no Hugging Face Hub access offline)"
        ) from exc
    max_length = config.max_length or derive_max_length(
        tokenizer,
        train_frame["model_text"].tolist(),
        config.max_length_percentile,
        config.max_length_cap or 128,
    )
    id2label = SENTIMENT_LABELS if three_class else BINARY_LABELS
    train_labels = train_frame[label_column].to_numpy().astype(int)
    weights = None if three_class else _class_weights(train_labels, 2)

    def encode(frame: pd.DataFrame) -> _Encoded:
        encodings = tokenizer(frame["model_text"].tolist(), truncation=True, max_length=max_length)
        return _Encoded(dict(encodings), frame[label_column].to_numpy().astype(int))

    train_data, val_data = encode(train_frame), encode(val_frame)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            backbone,
            num_labels=len(id2label),
            id2label=id2label,
            label2id={v: k for k, v in id2label.items()},
            ignore_mismatched_sizes=True,  # a backbone with another head gets a fresh one
        )
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot load the backbone {backbone!r}: {exc}") from exc

    device = _device_settings(config.device)
    batches_per_epoch = math.ceil(len(train_data) / config.per_device_train_batch_size)
    eval_steps = max(1, batches_per_epoch // max(1, config.evaluations_per_epoch or 1))
    total_steps = config.max_steps or math.ceil(batches_per_epoch * (config.num_train_epochs or 1))
    args = TrainingArguments(
        output_dir=str(config.checkpoint_dir),
        num_train_epochs=config.num_train_epochs or 3.0,
        max_steps=config.max_steps or -1,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_steps=int(config.warmup_ratio * total_steps),
        per_device_train_batch_size=config.per_device_train_batch_size,
        per_device_eval_batch_size=config.per_device_eval_batch_size,
        eval_strategy="steps",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=eval_steps,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=config.selection_metric,
        greater_is_better=True,
        logging_steps=max(1, min(50, eval_steps // 2)),
        train_sampling_strategy="group_by_length",
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=config.dataloader_num_workers,
        **device,
    )
    loss_weights = torch.tensor(weights, dtype=torch.float32) if weights is not None else None

    def weighted_loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        logits = outputs["logits"]
        weight = loss_weights.to(logits.device) if loss_weights is not None else None
        return torch.nn.functional.cross_entropy(logits.float(), labels, weight=weight)

    class BudgetTrainer(Trainer):
        """The Trainer with `budget_lr_factor` as its schedule when a time budget is set."""

        def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
            if config.max_train_seconds is None or self.lr_scheduler is not None:
                return super().create_scheduler(num_training_steps, optimizer)
            started = time.monotonic()
            warmup = args.get_warmup_steps(num_training_steps)
            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer or self.optimizer,
                lambda step: budget_lr_factor(
                    step,
                    num_training_steps,
                    warmup,
                    time.monotonic() - started,
                    config.max_train_seconds,
                ),
            )
            return self.lr_scheduler

    metric_log: list[dict[str, Any]] = []
    trainer = BudgetTrainer(
        model=model,
        args=args,
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8),
        train_dataset=train_data,
        eval_dataset=val_data,
        processing_class=tokenizer,
        compute_loss_func=weighted_loss,
        compute_metrics=make_compute_metrics(config),
        callbacks=[
            EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience),
            *_callbacks(config, metric_log),
        ],
    )
    for quiet in (ProgressCallback, PrinterCallback):
        trainer.remove_callback(quiet)

    resume_from = None
    if config.resume:
        resume_from = _last_checkpoint(config.checkpoint_dir)
        if resume_from is None:
            raise TrainingError(
                f"--resume: no checkpoint in {config.checkpoint_dir}; start without --resume"
            )
        log.info("resuming from %s", resume_from)
    log.info(
        "training %s (%s) on %d tweets, validating on %d, max length %d, %s, %d steps/epoch",
        backbone,
        config.objective,
        len(train_data),
        len(val_data),
        max_length,
        "cuda" if not device["use_cpu"] else "cpu",
        batches_per_epoch,
    )
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=resume_from)
    train_seconds = time.perf_counter() - started

    # The best checkpoint is loaded. Score val once more, through the very code `predict`
    # uses (the Trainer's length-grouped eval order does not match the frame's rows), for the
    # threshold and the reference distribution.
    meta = ModelMeta(
        objective=config.objective,
        threshold=0.5,
        id2label=id2label,
        needs_support_ids=_needs_support_ids(config.objective),
        max_length=max_length,
        backbone=backbone,
        threshold_beta=config.threshold_beta,
        data_manifest=load_manifest(config.data_dir),
    )
    scorer = TorchScorer(
        config.output_dir,
        tokenizer,
        meta,
        "unsaved",
        trainer.model.eval(),
        str(trainer.args.device),
    )
    p_val = scorer.predict_proba(
        val_frame["model_text"].tolist(), batch_size=config.per_device_eval_batch_size
    )
    y_val = val_frame[NEEDS_SUPPORT].to_numpy().astype(int)
    threshold, _ = best_threshold(y_val, p_val, beta=config.threshold_beta)
    meta.threshold = threshold
    meta.validation = classification_metrics(y_val, p_val, threshold)
    meta.reference_distribution = reference_distribution(val_frame, p_val, threshold)
    samples_per_second = float(output.metrics.get("train_samples_per_second", float("nan")))
    training_record = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "max_length": max_length,
        "class_weights": weights.tolist() if weights is not None else None,
        "train_rows": len(train_data),
        "val_rows": len(val_data),
        "steps": trainer.state.global_step,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "best_metric": trainer.state.best_metric,
        "train_seconds": round(train_seconds, 1),
        "train_samples_per_second": samples_per_second,
        "device": "cuda" if not device["use_cpu"] else "cpu",
        "bf16": device["bf16"],
        "torch": torch.__version__,
        "python": platform.python_version(),
        "eval_log": [entry for entry in metric_log if "eval_f2" in entry],
    }
    meta.training = training_record
    output_dir = config.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(output_dir))
    meta.save(output_dir)
    export_onnx(output_dir, trainer.model, tokenizer)
    result = TrainResult(
        output_dir=output_dir,
        threshold=threshold,
        validation=meta.validation,
        train_seconds=train_seconds,
        train_samples_per_second=samples_per_second,
        steps=trainer.state.global_step,
        device=training_record["device"],
    )
    if config.track:
        _track_training(config, settings, meta, metric_log, result)
    return result


def _track_training(
    config: TrainConfig,
    settings: Settings,
    meta: ModelMeta,
    metric_log: list[dict[str, Any]],
    result: TrainResult,
) -> None:
    """Params, per-evaluation metrics, final val metrics, the model and a registry version."""
    import mlflow

    from tweet_triage.model.tracking import (
        flat_params,
        log_and_register_model,
        mlflow_run,
        numeric_metrics,
        tracking_uri,
    )

    with mlflow_run(settings, run_name=f"train-{config.objective}-{config.budget}") as run:
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
        result.registered_version = log_and_register_model(result.output_dir, config.register)
        meta.mlflow["registered_version"] = result.registered_version
        meta.save(result.output_dir)
