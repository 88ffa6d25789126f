"""The suggested saved reply in the reply box, kept cheap for a web process.

The sentence encoder (the bundled MiniLM, `replies.suggest.SentenceEncoder`) is loaded on the
first suggestion asked for, once per process, and each text's vector is kept (a bounded cache),
so a suggestion encodes only the texts it has not seen: the new tweet, and past replied tweets
added since. Where the encoder cannot be loaded there is simply no suggestion.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Protocol

import numpy as np

from tweet_triage.live.replies.suggest import SentenceEncoder, suggest_from_vectors

log = logging.getLogger(__name__)
CACHED_VECTORS = 20_000
HISTORY = 5_000  # the newest past replies that vote


class Encoder(Protocol):
    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class ExampleSource(Protocol):
    def reply_examples(self, limit: int = ...) -> Sequence[tuple[str, int]]: ...


@lru_cache(maxsize=1)
def bundled_encoder() -> Encoder:
    """The bundled MiniLM, loaded once per process."""
    return SentenceEncoder()


class Suggestions:
    """Which saved reply to suggest for a tweet, from the team's past replies."""

    def __init__(
        self,
        store: ExampleSource,
        load_encoder: Callable[[], Encoder] = bundled_encoder,
        *,
        k: int = 10,
        min_similarity: float = 0.3,
    ) -> None:
        self.store = store
        self._load_encoder = load_encoder
        self._encoder: Encoder | None = None
        self._unavailable = False
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.k = k
        self.min_similarity = min_similarity

    def suggest(self, tweet_text: str) -> int | None:
        """The saved reply's id, or None (no similar past reply, or no encoder)."""
        examples = self.store.reply_examples(limit=HISTORY)
        if not examples:
            return None
        with self._lock:
            encoder = self._encoder_or_none()
            if encoder is None:
                return None
            vectors = self._encode(encoder, [text for text, _ in examples] + [tweet_text])
        return suggest_from_vectors(
            vectors[-1],
            vectors[:-1],
            [reply_id for _, reply_id in examples],
            k=self.k,
            min_similarity=self.min_similarity,
        )

    def _encoder_or_none(self) -> Encoder | None:
        if self._encoder is None and not self._unavailable:
            try:
                self._encoder = self._load_encoder()
            except Exception as exc:  # any failure to load means "no suggestion", said once
                log.warning("no suggested replies: the sentence encoder did not load (%s)", exc)
                self._unavailable = True
        return self._encoder

    def _encode(self, encoder: Encoder, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            for text, vector in zip(missing, encoder.encode(missing), strict=True):
                self._vectors[text] = vector
        for text in texts:
            self._vectors.move_to_end(text)
        found = np.stack([self._vectors[t] for t in texts])
        while len(self._vectors) > max(CACHED_VECTORS, len(texts)):
            self._vectors.popitem(last=False)
        return found
