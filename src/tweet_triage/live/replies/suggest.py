"""The suggested saved reply: the one the team used most on the most similar past tweets.

Similarity is the cosine of sentence embeddings (mean-pooled, normalised, from the bundled
all-MiniLM-L6-v2 on the CPU, or any sentence encoder given by name or path). Among the `k` past
replied tweets closest to the new one, each saved reply scores the sum of the similarities of
the tweets it answered; the best score wins, so a reply used often on close tweets beats one
used once on the closest. Tweets less similar than `min_similarity` do not vote, and with no
voter there is no suggestion rather than a guess.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class SentenceEncoder:
    """Texts -> unit vectors with a transformer's mean-pooled last layer (no sentence-
    transformers dependency: the pooling is the model card's)."""

    def __init__(self, name_or_path: str | None = None, batch_size: int = 64) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from tweet_triage.model.folder import resolve_backbone

        path = resolve_backbone(name_or_path)
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = []
        with self.torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(
                    list(texts[start : start + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=128,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                vectors.append(self.torch.nn.functional.normalize(pooled, dim=1).numpy())
        return np.concatenate(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)


@dataclass(frozen=True)
class ReplyExample:
    """A past tweet the team answered with a saved reply."""

    tweet_text: str
    saved_reply_id: int


def suggest_from_vectors(
    query: np.ndarray,
    history: np.ndarray,
    reply_ids: Sequence[int],
    *,
    k: int = 10,
    min_similarity: float = 0.3,
) -> int | None:
    """The saved reply to suggest for one query vector, given the history's vectors."""
    if len(reply_ids) == 0:
        return None
    similarities = history @ query
    nearest = np.argsort(-similarities)[:k]
    scores: dict[int, float] = defaultdict(float)
    for index in nearest:
        if similarities[index] >= min_similarity:
            scores[reply_ids[index]] += float(similarities[index])
    if not scores:
        return None
    return max(scores, key=lambda reply_id: (scores[reply_id], -reply_id))


class ReplySuggester:
    """Suggests a saved reply for new tweets from the team's past replies."""

    def __init__(
        self,
        encoder: SentenceEncoder,
        history: Sequence[ReplyExample],
        *,
        k: int = 10,
        min_similarity: float = 0.3,
    ) -> None:
        self.encoder = encoder
        self.k = k
        self.min_similarity = min_similarity
        self.reply_ids = [example.saved_reply_id for example in history]
        self.vectors = encoder.encode([example.tweet_text for example in history])

    def suggest(self, tweet_text: str) -> int | None:
        query = self.encoder.encode([tweet_text])[0]
        return suggest_from_vectors(
            query, self.vectors, self.reply_ids, k=self.k, min_similarity=self.min_similarity
        )


def hit_rate(
    encoder: SentenceEncoder,
    examples: Sequence[ReplyExample],
    *,
    k: int = 10,
    min_similarity: float = 0.3,
    warm_up: int = 10,
) -> tuple[float, int]:
    """How often the suggestion is the reply the team then sent, replaying `examples` in order:
    each tweet is suggested for from the replies before it only. (hit share, tweets scored)."""
    vectors = encoder.encode([example.tweet_text for example in examples])
    reply_ids = [example.saved_reply_id for example in examples]
    hits = scored = 0
    for index in range(warm_up, len(examples)):
        suggested = suggest_from_vectors(
            vectors[index],
            vectors[:index],
            reply_ids[:index],
            k=k,
            min_similarity=min_similarity,
        )
        scored += 1
        hits += suggested == reply_ids[index]
    return (hits / scored if scored else 0.0), scored
