"""Binary labels (inbox decisions) train the three-class head: the collapsed-probability loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.unit.model.conftest import (
    VOCAB,
    build_tiny_backbone,
    random_tweets,
    train_tiny,
    write_splits,
)
from tweet_triage.model.data import load_split
from tweet_triage.model.names import NEEDS_SUPPORT_ONLY
from tweet_triage.model.trainer import needs_support_labels, three_class_loss


def test_loss_is_cross_entropy_for_sentiments_and_collapsed_for_binary_rows() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 1.0, 3.0]])
    sentiments = torch.tensor([0, 1, 2])
    expected = torch.nn.functional.cross_entropy(logits, sentiments)
    assert torch.isclose(three_class_loss(logits, sentiments), expected)
    p = torch.softmax(logits, dim=-1)
    binary = torch.tensor([NEEDS_SUPPORT_ONLY] * 3)
    assert torch.isclose(three_class_loss(logits, binary), -torch.log(p[:, 0] + p[:, 1]).mean())
    labels = np.array([0, 1, 2, NEEDS_SUPPORT_ONLY])
    assert needs_support_labels(labels, "three_class").tolist() == [1, 1, 0, 1]


def test_binary_labels_alone_teach_the_three_class_head() -> None:
    from sklearn.metrics import roc_auc_score
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    torch.manual_seed(0)
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(VOCAB)})
    config = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=3,
    )
    model = BertForSequenceClassification(config)
    texts, needs = random_tweets(512, seed=3)
    labels = torch.tensor(np.where(needs == 1, NEEDS_SUPPORT_ONLY, 2))  # no sentiment at all
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(40):
        rows = slice((step * 32) % 512, (step * 32) % 512 + 32)
        batch = tokenizer(texts[rows], padding=True, return_tensors="pt")
        three_class_loss(model(**batch).logits, labels[rows]).backward()
        optimiser.step()
        optimiser.zero_grad()
    test_texts, test_needs = random_tweets(256, seed=4)
    with torch.no_grad():
        p = torch.softmax(
            model(**tokenizer(test_texts, padding=True, return_tensors="pt")).logits, -1
        )
    assert roc_auc_score(test_needs, (p[:, 0] + p[:, 1]).numpy()) > 0.85


def test_a_split_with_decision_rows_loads_and_trains(tmp_path: Path) -> None:
    data_dir = write_splits(tmp_path / "data")
    train = data_dir / "splits" / "train" / "part-00000.parquet"
    frame = pd.read_parquet(train)
    frame["sentiment"] = frame["sentiment"].astype("float")
    frame.loc[frame.index % 3 == 0, "sentiment"] = np.nan  # inbox decisions: no sentiment
    frame.to_parquet(train, index=False)
    loaded = load_split(data_dir, "train", need_sentiment=True)
    binary = frame["sentiment"].isna()
    expected = np.where(frame.loc[binary, "needs_support"] == 1, NEEDS_SUPPORT_ONLY, 2)
    assert loaded.loc[binary.to_numpy(), "sentiment"].tolist() == expected.tolist()
    model = train_tiny(build_tiny_backbone(tmp_path / "bert"), data_dir, tmp_path / "run")
    assert (model / "triage.json").is_file()


def test_a_sentiment_that_is_not_a_number_is_still_refused(tmp_path: Path) -> None:
    from tweet_triage.model.data import ModelDataError

    data_dir = write_splits(tmp_path / "data")
    train = data_dir / "splits" / "train" / "part-00000.parquet"
    frame = pd.read_parquet(train).astype({"sentiment": "str"})
    frame.loc[0, "sentiment"] = "neutral"
    frame.to_parquet(train, index=False)
    with pytest.raises(ModelDataError, match="0, 1, 2 or empty"):
        load_split(data_dir, "train", need_sentiment=True)
