"""A tiny needs-support model folder for the live-triage tests, built without training.

The tiny BERT of the model tests with a three-sentiment head and a triage.json beside it:
what a trained folder holds, in a fraction of a second. Scores are arbitrary but fixed.
"""

from __future__ import annotations

from pathlib import Path

from tests.unit.model.conftest import build_tiny_backbone
from tweet_triage.model.bundle import SENTIMENT_LABELS, ModelMeta


def build_scorer_model(folder: Path, threshold: float = 0.5, seed: int = 0) -> Path:
    import torch

    torch.manual_seed(seed)
    build_tiny_backbone(folder)
    from transformers import BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(
        folder,
        num_labels=3,
        id2label=SENTIMENT_LABELS,
        label2id={v: k for k, v in SENTIMENT_LABELS.items()},
    )
    model.save_pretrained(folder)
    ModelMeta(
        objective="three_class",
        threshold=threshold,
        id2label=dict(SENTIMENT_LABELS),
        needs_support_ids=[0, 1],
        max_length=64,
        backbone="tiny-bert",
        training={"seed": seed},
    ).save(folder)
    return folder
