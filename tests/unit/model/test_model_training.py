"""A tiny BERT trains a few steps on CPU; the saved folder carries threshold and labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.unit.model.conftest import tiny_settings, write_splits
from tweet_triage.model import calibration
from tweet_triage.model.arguments import TRAINING_OPTIONS, TrainingError, train_arguments
from tweet_triage.model.data import ModelDataError
from tweet_triage.model.folder import META_FILE, ModelFolderError, ModelMeta
from tweet_triage.model.inference import TorchScorer
from tweet_triage.model.training import derive_max_length, train


def test_trained_folder_holds_threshold_labels_and_provenance(trained_model: Path) -> None:
    for name in ("config.json", "model.safetensors", "tokenizer_config.json", META_FILE):
        assert (trained_model / name).is_file(), name
    meta = ModelMeta.load(trained_model)
    assert meta.objective == "three_class"
    assert meta.id2label == {0: "negative", 1: "neutral", 2: "positive"}
    assert meta.needs_support_ids == [0, 1]
    assert 0.0 <= meta.threshold <= 1.0
    assert meta.data_manifest == {"splits": {"train": {"rows": 48}}}
    assert meta.training["steps"] == 6
    assert meta.training["config"]["objective"] == "three_class"
    assert meta.reference_distribution["overall"]["n"] == 24
    assert [e["step"] for e in meta.training["eval_log"]] == [3, 6]
    assert meta.validation["n"] == 24
    assert meta.threshold_strategy["strategy"] == "f-beta"
    assert meta.threshold_strategy["threshold"] == meta.threshold
    assert meta.calibration["requested"] == "auto"
    assert meta.calibration["method"] in calibration.METHODS


def test_threshold_and_labels_survive_save_and_load(trained_model: Path, tmp_path: Path) -> None:
    model = TorchScorer.load(trained_model, device="cpu")
    assert model.model.config.id2label == {0: "negative", 1: "neutral", 2: "positive"}
    model.meta.threshold = 0.4242
    model.model.save_pretrained(tmp_path)
    model.tokenizer.save_pretrained(tmp_path)
    model.meta.save(tmp_path)
    again = TorchScorer.load(tmp_path, device="cpu")
    assert again.threshold == pytest.approx(0.4242)
    assert again.meta.id2label == model.meta.id2label
    assert again.meta.needs_support_ids == [0, 1]
    texts = ["why is my app broken again", "love the app !"]
    np.testing.assert_allclose(again.predict_proba(texts), model.predict_proba(texts), rtol=1e-5)


def test_probability_is_needs_support_not_top_class(trained_model: Path) -> None:
    model = TorchScorer.load(trained_model, device="cpu")
    texts = ["why is my app broken again", "great , thanks @user", "no help , it crash"]
    import torch

    with torch.no_grad():
        batch = model.tokenizer(texts, padding=True, return_tensors="pt")
        probs = torch.softmax(model.model(**batch).logits, dim=-1).numpy()
    # The saved calibration maps the summed softmax of negative + neutral.
    expected = calibration.apply(model.meta.calibration, probs[:, 0] + probs[:, 1])
    np.testing.assert_allclose(model.predict_proba(texts), expected, rtol=1e-4)


def test_bad_texts_get_nan_not_a_crash(trained_model: Path) -> None:
    model = TorchScorer.load(trained_model, device="cpu")
    p = model.predict_proba(["", None, 42, "   ", "why is my app broken"])
    assert np.isnan(p[:4]).all() and 0 <= p[4] <= 1


def test_not_a_model_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match="does not exist"):
        TorchScorer.load(tmp_path / "nope")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelFolderError, match="not a needs-support model folder"):
        TorchScorer.load(tmp_path)
    (tmp_path / META_FILE).write_text("{not json")
    with pytest.raises(ModelFolderError, match="damaged"):
        TorchScorer.load(tmp_path)


def test_weighted_objective_resume_and_max_length(
    tiny_backbone: Path, tiny_data: Path, tmp_path: Path
) -> None:
    settings = tiny_settings(tmp_path, tiny_data)
    options = {
        "model_name_or_path": str(tiny_backbone),
        "objective": "weighted",
        "general_set": "none",
        "max_steps": 2,
        "per_device_train_batch_size": 8,
        "evaluations_per_epoch": 3,
        "track": False,
    }
    train(train_arguments(settings, **options), settings)
    meta = ModelMeta.load(settings.model_dir)
    assert meta.id2label == {0: "does_not_need_support", 1: "needs_support"}
    assert meta.needs_support_ids == [1]
    # Balanced tiny data: inverse-frequency weights are 1.
    assert meta.training["class_weights"] == pytest.approx([1.0, 1.0])
    assert 8 <= meta.max_length <= 16
    checkpoints = Path(f"{settings.model_dir}-checkpoints")
    assert (checkpoints / "checkpoint-2").is_dir()
    # Resume: continues from step 2 to step 4 instead of starting over.
    resumed = train_arguments(settings, **{**options, "max_steps": 4, "resume": True})
    result = train(resumed, settings)
    assert result.steps == 4


def test_resume_without_checkpoint_and_bad_options(
    tiny_backbone: Path, tiny_data: Path, tmp_path: Path
) -> None:
    settings = tiny_settings(tmp_path, tiny_data)
    with pytest.raises(TrainingError, match="no checkpoint"):
        args = train_arguments(
            settings,
            model_name_or_path=str(tiny_backbone),
            general_set="none",
            resume=True,
            track=False,
        )
        train(args, settings)
    with pytest.raises(TrainingError, match="--objective"):
        train_arguments(settings, objective="four_class")
    with pytest.raises(TrainingError, match="unknown training option"):
        train_arguments(settings, learning_rat=1e-3)


def test_one_class_train_split_is_refused(tiny_backbone: Path, tmp_path: Path) -> None:
    data = write_splits(tmp_path / "data", {"train": 8, "val": 8})
    frame_path = data / "splits" / "train" / "part-00000.parquet"
    import pandas as pd

    frame = pd.read_parquet(frame_path)
    frame["needs_support"] = 0
    frame.to_parquet(frame_path)
    settings = tiny_settings(tmp_path, data)
    with pytest.raises(ModelDataError, match="one class only"):
        train(
            train_arguments(
                settings, model_name_or_path=str(tiny_backbone), general_set="none", track=False
            ),
            settings,
        )


def test_derive_max_length_percentile_and_cap(tiny_backbone: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_backbone)
    texts = ["the"] * 99 + [" ".join(["the"] * 40)]
    assert derive_max_length(tokenizer, texts, 50, 128) == 8  # 3 tokens -> rounded up to 8
    assert derive_max_length(tokenizer, texts, 100, 128) == 48  # 42 tokens -> 48
    assert derive_max_length(tokenizer, texts, 100, 16) == 16


def test_demo_budget_fills_only_unset_options(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path, tmp_path)
    demo = train_arguments(settings, budget="demo", train_sample_size=10)
    assert demo.data.train_sample_size == 10
    assert demo.run.max_train_seconds is not None and demo.data.max_eval_samples is not None
    assert demo.training.num_train_epochs == 1.0
    assert demo.data.general_set is None  # the demo learns from the mission's labels only
    full = train_arguments(settings)
    assert full.data.general_set == "bundled"  # the measured best, unless told not to
    assert train_arguments(settings, general_set="none").data.general_set is None
    assert full.data.train_sample_size is None and full.run.max_train_seconds is None
    assert full.training.num_train_epochs == 3.0 and full.training.learning_rate == 5e-5
    assert full.data.model_dir == settings.model_dir
    assert str(full.data.checkpoint_dir).endswith("model-checkpoints")
    assert full.training.output_dir == str(full.data.checkpoint_dir)


def test_cli_training_options_are_training_arguments_fields() -> None:
    import dataclasses
    from typing import get_type_hints

    from transformers import TrainingArguments

    hints = get_type_hints(TrainingArguments)
    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    for name, (kind, _, _) in TRAINING_OPTIONS.items():
        assert name in fields, name
        assert kind in (hints[name], *getattr(hints[name], "__args__", ())), name


def test_time_budget_stops_evaluates_and_saves(
    tiny_backbone: Path, tiny_data: Path, tmp_path: Path
) -> None:
    settings = tiny_settings(tmp_path, tiny_data)
    args = train_arguments(
        settings,
        model_name_or_path=str(tiny_backbone),
        general_set="none",
        max_steps=50,
        max_train_seconds=0.001,
        per_device_train_batch_size=8,
        track=False,
    )
    result = train(args, settings)
    meta = ModelMeta.load(settings.model_dir)
    # Stopped after the first step, and that step was validated and kept, not thrown away.
    assert result.steps == 1
    assert [e["step"] for e in meta.training["eval_log"]] == [1]
    assert meta.training["best_checkpoint"].endswith("checkpoint-1")


def test_budget_lr_factor_decays_by_steps_or_time_whichever_ends_first() -> None:
    from tweet_triage.model.trainer import budget_lr_factor

    assert budget_lr_factor(0, 100, 10, 0.0, None) == pytest.approx(1 / 11)
    assert budget_lr_factor(10, 100, 10, 0.0, None) == pytest.approx(1.0)
    assert budget_lr_factor(55, 100, 10, 0.0, None) == pytest.approx(0.5)
    # Halfway through the time budget but only 1/9 through the steps: time wins.
    assert budget_lr_factor(20, 100, 10, 50.0, 100.0) == pytest.approx(0.5)
    assert budget_lr_factor(20, 100, 10, 150.0, 100.0) == 0.0
    assert budget_lr_factor(100, 100, 10, 1.0, 100.0) == 0.0


def test_cpu_batches_pad_to_their_longest_tweet_only() -> None:
    from transformers import BertTokenizer, DataCollatorWithPadding

    from tests.unit.model.conftest import VOCAB
    from tweet_triage.model.training import pad_multiple

    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(VOCAB)})
    rows = [
        {"input_ids": ids} for ids in tokenizer(["my app", "why is my app broken"])["input_ids"]
    ]
    cpu = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_multiple("cpu"))(rows)
    cuda = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_multiple("cuda"))(rows)
    assert cpu["input_ids"].shape == (2, 7)  # [CLS] + 5 words + [SEP]: no extra positions
    assert cuda["input_ids"].shape == (2, 8)
