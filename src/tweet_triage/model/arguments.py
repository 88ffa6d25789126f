"""Training options, run_glue style: three small dataclasses plus transformers' own
`TrainingArguments`, passed through to the Trainer as they are.

- `ModelArguments`: the backbone, the objective and the token length;
- `DataArguments`: where the splits are, where the model goes, how much data;
- `RunArguments`: what this project adds around the Trainer (a time budget, how often to
  validate, the selection metric, the threshold's F-beta, tracking);
- `ThresholdArguments`: the calibration and the threshold strategy (f-beta, cost, capacity)
  with the business and capacity parameters they use;
- `TrainingArguments`: optimiser, schedule, batch sizes, epochs, steps, seed, in transformers'
  own fields. `TRAINING_OPTIONS` lists the ones the CLI exposes, with the project's defaults.

`train_arguments(settings, **options)` turns flat options (the CLI's, a notebook's) into the
argument objects, applying the budget preset to options left unset and the settings to the paths.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tweet_triage.config import Settings
from tweet_triage.errors import TriageError
from tweet_triage.model.parameters import (
    CALIBRATIONS,
    CAPACITY_UNITS,
    OBJECTIVES,
    STRATEGIES,
    BusinessParams,
    Capacity,
)

SELECTION_METRICS = ("f2", "f1", "pr_auc", "roc_auc")
BUDGETS = ("full", "demo")
DEVICES = ("auto", "cuda", "cpu")
# What `--budget demo` sets for options left unset: about 5 minutes of training on 2 CPU
# cores (measured; docs/model.md), validating 3 times, on a class-stratified train sample.
DEMO_BUDGET: dict[str, Any] = {
    "train_sample_size": 6000,
    "num_train_epochs": 1.0,
    "max_train_seconds": 360.0,
    "evaluations_per_epoch": 3,
    "max_eval_samples": 1500,
    "max_length_cap": 64,
}
# What `--budget full` (the default) sets for options left unset: it also learns from the
# bundled general set, the measured best (docs/model.md); `--general-set none` opts out.
FULL_BUDGET: dict[str, Any] = {"general_set": "bundled"}
NO_GENERAL_SET = "none"
# Options whose default depends on the budget: None in the dataclasses means "unset".
UNSET_DEFAULTS: dict[str, Any] = {
    "num_train_epochs": 3.0,
    "evaluations_per_epoch": 1,
    "max_length_cap": 128,
}
# The TrainingArguments fields the CLI exposes: (type, this project's default, help). The
# Trainer gets a real TrainingArguments; this table only lets `train --help` list them without
# importing torch at start-up (a test checks each is a TrainingArguments field).
TRAINING_OPTIONS: dict[str, tuple[type, Any, str]] = {
    "num_train_epochs": (float, None, "Epochs (default 3; 1 under the demo budget)."),
    "max_steps": (int, -1, "Stop after this many optimiser steps (overrides epochs; -1: off)."),
    "learning_rate": (float, 5e-5, "Peak AdamW learning rate."),
    "weight_decay": (float, 0.01, "AdamW weight decay."),
    "warmup_steps": (float, 0.06, "Linear warm-up: steps, or a share of all steps if < 1."),
    "per_device_train_batch_size": (int, 32, "Train batch size."),
    "per_device_eval_batch_size": (int, 128, "Validation batch size."),
    "seed": (int, 42, "Seed of sampling, initialisation and data order."),
    "dataloader_num_workers": (int, 0, "DataLoader worker processes."),
}
TRAINING_DEFAULTS = {name: default for name, (_, default, _) in TRAINING_OPTIONS.items()}


class TrainingError(TriageError):
    """Training cannot start or continue; the message says why and the fix."""


@dataclass
class ModelArguments:
    """The backbone, the objective and the token length."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "HF model id or local folder; default MODEL_NAME_OR_PATH or MiniLM-L6."},
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
    max_length: int | None = field(
        default=None, metadata={"help": "Token limit; default: a percentile of the train data."}
    )
    max_length_percentile: float = field(
        default=99.5, metadata={"help": "Percentile of train token lengths used as max length."}
    )
    max_length_cap: int | None = field(
        default=None, metadata={"help": "Upper bound on the derived max length (default 128)."}
    )
    freeze_embeddings: bool = field(
        default=True,
        metadata={
            "help": "Keep the word-embedding matrix fixed (MiniLM: half the weights, so no "
            "dense gradient and AdamW update for it each step; faster on CPU)."
        },
    )


@dataclass
class DataArguments:
    """Where the splits are, where the model goes, and how much of the data to use."""

    data_dir: Path | None = field(
        default=None, metadata={"help": "Folder holding splits/; default DATA_DIR."}
    )
    model_dir: Path | None = field(
        default=None, metadata={"help": "Model folder to write; default MODEL_DIR."}
    )
    checkpoint_dir: Path | None = field(
        default=None,
        metadata={"help": "Checkpoints for --resume; default <model dir>-checkpoints."},
    )
    train_sample_size: int | None = field(
        default=None, metadata={"help": "Train on a class-stratified sample of this many rows."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Select and tune the threshold on a val sample."}
    )
    general_set: str | None = field(
        default=None,
        metadata={
            "help": "Also learn from a general labelled set: 'bundled' (the bundled corpus "
            "minus the mission's val/test tweets; the full budget's default), a labelled "
            "table's path (refused if it overlaps val/test), or 'none' (the mission's only)."
        },
    )


@dataclass
class RunArguments:
    """What the project adds around the Trainer: budget, validation, selection, tracking."""

    budget: str = field(
        default="full",
        metadata={
            "help": "full: all data plus the bundled general set; demo: a CPU budget of ~5 min "
            "(explicit options win).",
            "choices": BUDGETS,
        },
    )
    max_train_seconds: float | None = field(
        default=None, metadata={"help": "Stop (evaluate, save) once training ran this long."}
    )
    evaluations_per_epoch: int | None = field(
        default=None, metadata={"help": "Validation passes per epoch (default 1)."}
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
    resume: bool = field(
        default=False, metadata={"help": "Continue from the last checkpoint in checkpoint_dir."}
    )
    device: str = field(
        default="auto",
        metadata={"help": "auto (CUDA if present), cuda or cpu.", "choices": DEVICES},
    )
    track: bool = field(default=True, metadata={"help": "Record the run in MLflow."})
    register: bool = field(
        default=True, metadata={"help": "Register the model version in the MLflow registry."}
    )
    promote: bool = field(
        default=False,
        metadata={
            "help": "Make the registered version the registry's champion (the model the live "
            "scorer and inbox serve); the first version registered is champion anyway."
        },
    )


_BUSINESS = BusinessParams()


@dataclass
class ThresholdArguments:
    """Calibration of P(needs support) and the strategy that sets the decision threshold."""

    calibration: str = field(
        default="auto",
        metadata={
            "help": "Map fitted on val so scores are frequencies: temperature, isotonic, none, "
            "or auto (lowest cross-fitted expected calibration error; docs/model.md).",
            "choices": CALIBRATIONS,
        },
    )
    threshold_strategy: str = field(
        default="f-beta",
        metadata={
            "help": "f-beta: best val F-beta (--threshold-beta); cost: least expected support "
            "minutes (business options); capacity: flag what the team can read (--capacity).",
            "choices": STRATEGIES,
        },
    )
    capacity: float | None = field(
        default=None,
        metadata={"help": "capacity strategy: the team's reading capacity per hour."},
    )
    capacity_unit: str = field(
        default="tweets",
        metadata={
            "help": "Unit of --capacity: tweets or minutes per hour.",
            "choices": CAPACITY_UNITS,
        },
    )
    arrivals_per_hour: float | None = field(
        default=None,
        metadata={"help": "capacity strategy: tweets per hour to expect; default: from val."},
    )
    live_prior: float | None = field(
        default=None,
        metadata={
            "help": "Choose the threshold for this share of live tweets needing support (0-1; "
            "val's tweets weighted to it) instead of val's own share (docs/model.md)."
        },
    )
    live_predictions: str | None = field(
        default=None,
        metadata={
            "help": "threshold: estimate --live-prior from this `predict` output of recent live "
            "tweets, scored by this model (EM prior adjustment; no labels needed)."
        },
    )
    reading_wpm: float = field(
        default=_BUSINESS.reading_wpm, metadata={"help": "cost: reading speed, words/min."}
    )
    typing_wpm: float = field(
        default=_BUSINESS.typing_wpm, metadata={"help": "cost: typing speed, words/min."}
    )
    reply_length_ratio: float = field(
        default=_BUSINESS.reply_length_ratio, metadata={"help": "cost: reply words per tweet word."}
    )
    response_fraction: float = field(
        default=_BUSINESS.response_fraction,
        metadata={"help": "cost: share of needs-support tweets that get a typed reply."},
    )
    false_positive_reply_fraction: float = field(
        default=_BUSINESS.false_positive_reply_fraction,
        metadata={"help": "cost: share of the reply time charged to a wrongly flagged tweet."},
    )

    def business(self) -> BusinessParams:
        try:
            return BusinessParams(
                self.reading_wpm,
                self.typing_wpm,
                self.reply_length_ratio,
                self.response_fraction,
                self.false_positive_reply_fraction,
            )
        except ValueError as exc:
            raise TrainingError(f"business options: {exc}") from exc

    def team_capacity(self) -> Capacity | None:
        return None if self.capacity is None else Capacity(self.capacity, self.capacity_unit)

    def check(self) -> None:
        """Bad business or capacity options fail here, before anything loads."""
        self.business()
        if self.live_prior is not None and not 0.0 < self.live_prior < 1.0:
            raise TrainingError(
                f"--live-prior {self.live_prior:g}: the live share needing support must lie "
                "strictly between 0 and 1 (for example 0.8)"
            )
        if self.live_prior is not None and self.live_predictions:
            raise TrainingError(
                "--live-prior and --live-predictions both set: give the share, or the "
                "predictions to estimate it from, not both"
            )
        if self.threshold_strategy == "capacity" and self.capacity is None:
            raise TrainingError(
                "--threshold-strategy capacity needs --capacity: the tweets (or minutes, with "
                "--capacity-unit minutes) the team reads per hour"
            )
        self.team_capacity()


@dataclass
class TrainArguments:
    """Everything one training run needs; build it with `train_arguments`."""

    model: ModelArguments
    data: DataArguments
    run: RunArguments
    threshold: ThresholdArguments
    training: Any  # transformers.TrainingArguments (imported lazily: it pulls in torch)

    def record(self) -> dict[str, Any]:
        """Flat, JSON-ready options of this run (saved in triage.json and MLflow params)."""
        values: dict[str, Any] = {}
        for part in (self.model, self.data, self.run, self.threshold):
            values.update(dataclasses.asdict(part))
        values.update({name: getattr(self.training, name) for name in TRAINING_DEFAULTS})
        return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}


ARGUMENT_CLASSES = (ModelArguments, DataArguments, RunArguments, ThresholdArguments)


def option_names() -> list[str]:
    """Every flat option `train_arguments` accepts, in help order."""
    names = [f.name for cls in ARGUMENT_CLASSES for f in dataclasses.fields(cls)]
    return names + list(TRAINING_DEFAULTS)


def _check_choices(values: dict[str, Any]) -> None:
    for cls in ARGUMENT_CLASSES:
        for f in dataclasses.fields(cls):
            choices = f.metadata.get("choices")
            if choices and values[f.name] not in choices:
                option = "--" + f.name.replace("_", "-")
                raise TrainingError(f"{option} {values[f.name]!r}: use one of {choices}")


def device_flags(device: str) -> dict[str, Any]:
    """TrainingArguments flags per device: bf16 autocast and TF32 on CUDA, fp32 on CPU."""
    import torch

    from tweet_triage.model.inference import pick_device

    if pick_device(device) != "cuda":
        return {"use_cpu": True, "bf16": False, "tf32": None}
    ampere = torch.cuda.get_device_capability()[0] >= 8
    return {"use_cpu": False, "bf16": torch.cuda.is_bf16_supported(), "tf32": ampere or None}


def train_arguments(settings: Settings, **options: Any) -> TrainArguments:
    """The four argument objects from flat options; None means "unset".

    The budget preset fills unset options, then the defaults; settings fill the paths. The
    TrainingArguments get the project's fixed choices (validate and save every N steps, keep
    the best checkpoint by the selection metric, length-grouped batches, no third-party
    loggers); `train` sets N from the data.
    """
    from transformers import TrainingArguments

    unknown = sorted(set(options) - set(option_names()))
    if unknown:
        raise TrainingError(
            f"unknown training option(s) {unknown}; see `tweet-triage train --help`"
        )
    given = {k: v for k, v in options.items() if v is not None}
    preset = DEMO_BUDGET if given.get("budget") == "demo" else FULL_BUDGET
    values: dict[str, Any] = {}
    for cls in ARGUMENT_CLASSES:
        values.update({f.name: getattr(cls(), f.name) for f in dataclasses.fields(cls)})
    values |= {k: v for k, v in TRAINING_DEFAULTS.items()}
    values |= {k: v for k, v in UNSET_DEFAULTS.items()}
    values |= preset | given
    _check_choices(values)
    if values["general_set"] == NO_GENERAL_SET:
        values["general_set"] = None
    values["data_dir"] = Path(values["data_dir"] or settings.data_dir)
    values["model_dir"] = Path(values["model_dir"] or settings.model_dir)
    values["checkpoint_dir"] = Path(
        values["checkpoint_dir"] or f"{values['model_dir']}-checkpoints"
    )
    if values["model_name_or_path"] is None:
        values["model_name_or_path"] = settings.model_name_or_path

    def pick(cls: type) -> Any:
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls)})

    model, data, run, threshold = (pick(cls) for cls in ARGUMENT_CLASSES)
    threshold.check()
    if threshold.live_predictions:
        raise TrainingError(
            "--live-predictions needs scores of the trained model itself: train with "
            "--live-prior SHARE, or run `tweet-triage threshold --live-predictions` after"
        )
    training = TrainingArguments(
        output_dir=str(data.checkpoint_dir),
        **{name: values[name] for name in TRAINING_DEFAULTS},
        eval_strategy="steps",
        save_strategy="steps",
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=run.selection_metric,
        greater_is_better=True,
        train_sampling_strategy="group_by_length",
        data_seed=values["seed"],
        report_to="none",
        disable_tqdm=True,
        **device_flags(run.device),
    )
    return TrainArguments(model=model, data=data, run=run, threshold=threshold, training=training)
