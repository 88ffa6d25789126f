"""A tiny needs-support model folder for the live-triage tests, built without training.

The tiny BERT of the model tests with a three-sentiment head and a triage.json beside it:
what a trained folder holds, in a fraction of a second. Scores are arbitrary but fixed.
"""

from __future__ import annotations

from pathlib import Path

from tests.unit.model.conftest import VOCAB
from tweet_triage.model.folder import SENTIMENT_LABELS, ModelMeta


def build_scorer_model(folder: Path, threshold: float = 0.5, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    torch.manual_seed(seed)
    BertTokenizer(vocab={w: i for i, w in enumerate(VOCAB)}).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=3,
        id2label=dict(SENTIMENT_LABELS),
        label2id={v: k for k, v in SENTIMENT_LABELS.items()},
    )
    BertForSequenceClassification(config).save_pretrained(folder)
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
