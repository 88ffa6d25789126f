"""The Trainer subclass and callbacks alone, without a training run."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tweet_triage.model.trainer import (
    EncodedDataset,
    ProgressBar,
    TimeBudget,
    TriageTrainer,
    class_weights,
    compute_metrics_for,
)


def _control() -> SimpleNamespace:
    return SimpleNamespace(should_training_stop=False, should_evaluate=False, should_save=False)


def test_time_budget_stops_and_always_validates_the_last_step() -> None:
    budget = TimeBudget(max_train_seconds=60.0)
    state, control = SimpleNamespace(global_step=3, max_steps=10), _control()
    budget.on_train_begin(None, state, control)
    budget.on_step_end(None, state, control)
    assert not (control.should_training_stop or control.should_evaluate)
    state.global_step = 10  # the last step: validated and saved even between intervals
    budget.on_step_end(None, state, control)
    assert control.should_evaluate and control.should_save and not control.should_training_stop
    budget.started = time.monotonic() - 61  # over the budget
    control = _control()
    state.global_step = 4
    budget.on_step_end(None, state, control)
    assert control.should_training_stop and control.should_evaluate and control.should_save


def test_progress_bar_keeps_every_log_entry() -> None:
    log: list[dict[str, float]] = []
    bar = ProgressBar(log)
    state = SimpleNamespace(global_step=0, max_steps=2)
    args = SimpleNamespace(train_batch_size=4)
    bar.on_train_begin(args, state, _control())
    state.global_step = 1
    bar.on_log(args, state, _control(), logs={"loss": 0.7})
    bar.on_log(args, state, _control(), logs={"eval_f2": 0.8, "eval_loss": 0.5})
    bar.on_train_end(args, state, _control())
    assert log == [{"step": 1, "loss": 0.7}, {"step": 1, "eval_f2": 0.8, "eval_loss": 0.5}]
    assert bar.loss == 0.7


def test_weighted_loss_is_class_weighted_cross_entropy() -> None:
    weights = class_weights(np.array([0, 0, 0, 1]), 2)
    np.testing.assert_allclose(weights, [4 / 6, 4 / 2])
    trainer = TriageTrainer.__new__(TriageTrainer)  # compute_loss needs no Trainer state
    trainer.loss_weights = weights
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])

    def model(**_: object) -> dict[str, torch.Tensor]:
        return {"logits": logits}

    labels = torch.tensor([1, 1])
    loss = trainer.compute_loss(model, {"labels": labels, "input_ids": None})
    expected = torch.nn.functional.cross_entropy(
        logits, labels, weight=torch.tensor(weights, dtype=torch.float32)
    )
    assert float(loss) == pytest.approx(float(expected))


def test_validation_metrics_and_length_sorted_rows() -> None:
    compute = compute_metrics_for("three_class")
    logits = np.array([[3.0, 0.0, 0.0], [0.0, 0.0, 3.0], [0.0, 3.0, 0.0], [0.0, 0.0, 2.0]])
    metrics = compute(SimpleNamespace(predictions=logits, label_ids=np.array([0, 2, 1, 2])))
    assert metrics["roc_auc"] == pytest.approx(1.0) and metrics["f2"] == pytest.approx(1.0)
    data = EncodedDataset({"input_ids": [[1, 2, 3], [1], [1, 2]]}, np.array([0, 1, 2]))
    ordered = data.sorted_by_length()
    assert [len(ordered[i]["input_ids"]) for i in range(3)] == [1, 2, 3]
    assert [ordered[i]["labels"] for i in range(3)] == [1, 2, 0]
