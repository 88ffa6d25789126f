"""The Trainer subclass, its callbacks and metrics: module level, each testable alone.

- `TriageTrainer`: the transformers Trainer with a class-weighted cross-entropy (binary
  objective) and, under a time budget, a learning rate that decays to 0 when the time runs out;
- `TimeBudget`: stops at the time budget and always validates and saves the very last step;
- `ProgressBar`: one bar with the latest loss and samples/s, one line per validation;
- `compute_metrics_for`: the validation metrics the checkpoint is chosen by.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import numpy as np
from transformers import Trainer, TrainerCallback

from tweet_triage.model.arguments import TrainingError
from tweet_triage.model.folder import needs_support_probability
from tweet_triage.model.metrics import best_threshold, classification_metrics
from tweet_triage.model.names import NEEDS_SUPPORT_ONLY

log = logging.getLogger(__name__)


def needs_support_ids(objective: str) -> list[int]:
    """The head's classes summed into P(needs support): negative+neutral, or class 1."""
    return [0, 1] if objective == "three_class" else [1]


def needs_support_labels(labels: np.ndarray, objective: str) -> np.ndarray:
    """0/1 needs-support labels from the head's training labels (3: needs support only)."""
    return (labels != 2).astype(int) if objective == "three_class" else labels.astype(int)


def three_class_loss(logits: Any, labels: Any) -> Any:
    """Cross-entropy on the sentiment labels; binary "needs support" rows (label 3) have no
    sentiment, so theirs is the loss on the collapsed probability P(negative) + P(neutral).

    A binary "no support" row is simply class 2 (P(no support) is P(positive)).
    """
    import torch

    log_p = torch.nn.functional.log_softmax(logits.float(), dim=-1)
    collapsed = torch.logsumexp(log_p[:, :2], dim=-1)
    per_class = log_p.gather(1, labels.clamp(max=2).unsqueeze(1)).squeeze(1)
    return -torch.where(labels == NEEDS_SUPPORT_ONLY, collapsed, per_class).mean()


class EncodedDataset:
    """Tokenised rows with their labels (what the Trainer and its length sampler read)."""

    def __init__(self, encodings: dict[str, list[list[int]]], labels: np.ndarray) -> None:
        self._encodings = encodings
        self._labels = labels

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = {key: values[index] for key, values in self._encodings.items()}
        row["labels"] = int(self._labels[index])
        return row

    def lengths(self) -> list[int]:
        return [len(ids) for ids in self._encodings["input_ids"]]

    def sorted_by_length(self) -> EncodedDataset:
        """The same rows shortest first: validation batches then pad to almost nothing."""
        order = np.argsort(self.lengths(), kind="stable")
        return EncodedDataset(
            {k: [v[i] for i in order] for k, v in self._encodings.items()}, self._labels[order]
        )


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
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


class TriageTrainer(Trainer):
    """The Trainer with class weights in the loss and a time-aware schedule under a budget."""

    def __init__(
        self,
        *args: Any,
        loss_weights: np.ndarray | None = None,
        max_train_seconds: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.loss_weights = loss_weights
        self.max_train_seconds = max_train_seconds

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        import torch

        labels = inputs.pop("labels")
        outputs = model(**inputs)
        logits = outputs["logits"]
        weight = (
            torch.tensor(self.loss_weights, dtype=torch.float32, device=logits.device)
            if self.loss_weights is not None
            else None
        )
        if weight is None and logits.shape[-1] == 3:
            loss = three_class_loss(logits, labels)
        else:
            loss = torch.nn.functional.cross_entropy(logits.float(), labels, weight=weight)
        return (loss, outputs) if return_outputs else loss

    def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
        import torch

        if self.max_train_seconds is None or self.lr_scheduler is not None:
            return super().create_scheduler(num_training_steps, optimizer)
        started = time.monotonic()
        warmup = self.args.get_warmup_steps(num_training_steps)
        budget = self.max_train_seconds
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer or self.optimizer,
            lambda step: budget_lr_factor(
                step, num_training_steps, warmup, time.monotonic() - started, budget
            ),
        )
        return self.lr_scheduler


class TimeBudget(TrainerCallback):
    """Stop at `max_train_seconds`, and always validate and save the very last step.

    Without this the Trainer ends between validations and the last steps are never
    considered for the best checkpoint.
    """

    def __init__(self, max_train_seconds: float | None) -> None:
        self.max_train_seconds = max_train_seconds
        self.started = time.monotonic()

    def _over(self) -> bool:
        return (
            self.max_train_seconds is not None
            and time.monotonic() - self.started >= self.max_train_seconds
        )

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.monotonic()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        over = self._over()
        if over:
            log.info(
                "time budget of %.0f s reached at step %d",
                self.max_train_seconds,
                state.global_step,
            )
            control.should_training_stop = True
        if over or state.global_step >= state.max_steps:
            control.should_evaluate = True
            control.should_save = True

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # A validation that ends past the budget is the last one: its checkpoint is then
        # saved, instead of training one more step only to validate it again.
        if self._over():
            control.should_training_stop = True


class ProgressBar(TrainerCallback):
    """A progress bar with the latest loss and samples/s; every log entry goes to `metric_log`."""

    def __init__(self, metric_log: list[dict[str, Any]]) -> None:
        self.metric_log = metric_log
        self.loss: float | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        from tqdm.auto import tqdm

        # Off a terminal (CI, `make demo > log`) redraw rarely: each redraw is a log line.
        redraw_seconds = 0.1 if sys.stderr.isatty() else 30.0
        self.bar = tqdm(
            total=state.max_steps, desc="train", dynamic_ncols=True, mininterval=redraw_seconds
        )
        self.bar.update(state.global_step)
        self.started, self.first_step = time.monotonic(), state.global_step

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.bar.update(state.global_step - self.bar.n)
        elapsed = time.monotonic() - self.started
        done = (state.global_step - self.first_step) * args.train_batch_size
        postfix = {"samples/s": f"{done / elapsed:.1f}" if elapsed else "-"}
        if self.loss is not None:
            postfix["loss"] = f"{self.loss:.4f}"
        self.bar.set_postfix(postfix, refresh=False)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
        if not logs:
            return
        if "loss" in logs:
            self.loss = float(logs["loss"])
        self.metric_log.append({"step": state.global_step, **logs})
        if any(k.startswith("eval_") for k in logs):
            summary = ", ".join(
                f"{k[5:]} {v:.4f}"
                for k, v in logs.items()
                if k in ("eval_f2", "eval_pr_auc", "eval_threshold", "eval_loss")
            )
            self.bar.write(f"step {state.global_step}: val {summary}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.bar.close()


def compute_metrics_for(objective: str) -> Any:
    """Trainer metrics on val: needs-support F-scores at their best threshold, AUCs."""
    ids = needs_support_ids(objective)

    def compute(prediction: Any) -> dict[str, float]:
        logits = prediction.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        y = needs_support_labels(np.asarray(prediction.label_ids), objective)
        p = needs_support_probability(logits, ids)
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
