"""A tiny BERT (built from a config, with a tokenizer made here) and tiny hand-made splits.

Session-scoped: the backbone and one trained model are built once and shared, so the model
tests stay fast on two CPU cores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tweet_triage.config import Settings
from tweet_triage.text import normalise_text, word_count

VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "the",
    "a",
    "is",
    "not",
    "good",
    "bad",
    "help",
    "broken",
    "love",
    "great",
    "why",
    "no",
    "@",
    "user",
    "http",
    "!",
    "?",
    ".",
    ",",
    "my",
    "app",
    "it",
    "thanks",
    "awesome",
    "crash",
    "again",
]
NEEDS = ["why is my app broken again", "@user it is bad", "no help , it crash", "not good !"]
FINE = ["love the app !", "great , thanks @user", "awesome http", "my app is great"]
TIMES_OF_DAY = ["Late Night", "Early Morning", "Morning", "Afternoon", "Evening", "Night"]


def make_split(n: int, start: str, seed: int) -> pd.DataFrame:
    """n rows in the data stage's schema, alternating needs-support and fine tweets."""
    rng = np.random.default_rng(seed)
    created = pd.date_range(start, periods=n, freq="37min", tz="UTC")
    rows = []
    for i, when in enumerate(created):
        needs = i % 2 == 0
        text = (NEEDS if needs else FINE)[int(rng.integers(0, 4))]
        sentiment = int(rng.integers(0, 2)) if needs else 2
        rows.append(
            {
                "id": f"{seed}{i:05d}",
                "created_at": when,
                "text": text,
                "model_text": normalise_text(text),
                "word_count": word_count(text),
                "is_reply": text.startswith("@"),
                "is_retweet": False,
                "hour": when.hour,
                "weekday": when.day_name(),
                "time_of_day": TIMES_OF_DAY[when.hour // 4],
                "sentiment": sentiment,
                "needs_support": int(needs),
            }
        )
    return pd.DataFrame(rows)


def write_splits(data_dir: Path, sizes: dict[str, int] | None = None) -> Path:
    sizes = sizes or {"train": 48, "val": 24, "test": 24}
    for offset, (name, n) in enumerate(sizes.items()):
        folder = data_dir / "splits" / name
        folder.mkdir(parents=True, exist_ok=True)
        make_split(n, f"2024-01-0{offset + 1}", seed=offset + 1).to_parquet(
            folder / "part-00000.parquet", index=False
        )
    (data_dir / "splits" / "manifest.json").write_text('{"splits": {"train": {"rows": 48}}}')
    return data_dir


def build_tiny_backbone(folder: Path) -> Path:
    """A 1-layer, 16-wide BERT with a classification head and a 30-word tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    torch.manual_seed(0)  # the same weights in every session: tests on its scores repeat
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(VOCAB)})
    config = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_learned_scorer(folder: Path) -> Path:
    """A tiny BERT taught (plain torch loop, seconds on CPU) to spot complaint words.

    Its scores spread over (0, 1) and rank tweets well, so engines can be compared on
    ranking; the briefly trained `trained_model` scores every tweet nearly alike.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    from tweet_triage.model.folder import SENTIMENT_LABELS, ModelMeta

    torch.manual_seed(0)
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(VOCAB)})
    config = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=3,
        id2label=SENTIMENT_LABELS,
    )
    model = BertForSequenceClassification(config)
    texts, needs = random_tweets(1024, seed=1)
    labels = torch.tensor(np.where(needs == 1, 0, 2))  # negative or positive sentiment
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(60):
        rows = slice((step * 32) % 1024, (step * 32) % 1024 + 32)
        batch = tokenizer(texts[rows], padding=True, return_tensors="pt")
        model(**batch, labels=labels[rows]).loss.backward()
        optimiser.step()
        optimiser.zero_grad()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    ModelMeta("three_class", 0.5, SENTIMENT_LABELS, [0, 1], 32, "tiny").save(folder)
    return folder


def random_tweets(n: int, seed: int, noise: float = 0.0) -> tuple[list[str], np.ndarray]:
    """n word salads of the tiny vocabulary; label 1 when a complaint word occurs.

    `noise` flips that share of labels (annotators disagree: no ranking is then perfect).
    """
    rng = np.random.default_rng(seed)
    words = VOCAB[5:]
    complaints = {"bad", "broken", "crash", "no", "not", "why", "help"}
    texts = [" ".join(rng.choice(words, size=int(rng.integers(3, 12)))) for _ in range(n)]
    labels = np.array([int(bool(complaints & set(t.split()))) for t in texts])
    flipped = rng.random(n) < noise
    return texts, np.where(flipped, 1 - labels, labels)


def tiny_settings(root: Path, data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        model_dir=root / "model",
        reports_dir=root / "reports",
        mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
    )


def train_tiny(backbone: Path, data_dir: Path, root: Path) -> Path:
    """A tiny model trained for a few steps (three-class objective, no tracking)."""
    from tweet_triage.model.arguments import train_arguments
    from tweet_triage.model.training import train

    settings = tiny_settings(root, data_dir)
    args = train_arguments(
        settings,
        model_name_or_path=str(backbone),
        general_set="none",
        max_steps=6,
        per_device_train_batch_size=8,
        evaluations_per_epoch=2,
        learning_rate=1e-3,
        track=False,
    )
    train(args, settings)
    return root / "model"


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_backbone(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def learned_scorer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_learned_scorer(tmp_path_factory.mktemp("learned-scorer"))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_splits(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def trained_model(
    tiny_backbone: Path, tiny_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return train_tiny(tiny_backbone, tiny_data, tmp_path_factory.mktemp("trained"))
