"""The model behind `POST /api/score`: loaded on first use, and the registry's champion again.

The champion is resolved with the same registry code the streaming scorer uses, at most every
`recheck_seconds`; when the alias has moved, the new version is loaded and the next request
scores with it (no restart).

One forward pass runs at a time (tokenizers and torch modules are not safe to share between
threads, and on two cores a second concurrent pass only slows both). Requests that arrive
while a pass runs are not queued one by one: the next pass takes all of them together (up to
`max_batch_texts`), so twenty clients sending one text each cost a few batched passes, not
twenty single ones. An idle server adds no waiting: the first request runs at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tweet_triage.errors import TriageError

log = logging.getLogger(__name__)


class ModelUnavailableError(TriageError):
    """No model to score with (nothing trained or promoted yet), or it cannot be loaded."""


class TextScorer(Protocol):
    """What the inbox needs of a model: `inference.Scorer` has it."""

    @property
    def threshold(self) -> float: ...

    def score(self, texts: Sequence[object]) -> list[float]: ...


@dataclass(frozen=True)
class Scores:
    probabilities: list[float]
    threshold: float
    version: str


@dataclass
class _Request:
    texts: list[str]
    outcome: Scores | BaseException | None = None


Resolver = Callable[[], tuple[str, Any]]  # -> (version, what `loader` loads)
Loader = Callable[[Any], TextScorer]


class ModelProvider:
    """Scores texts with the current model; thread-safe; loads lazily."""

    def __init__(
        self,
        resolve: Resolver,
        load: Loader,
        recheck_seconds: float = 30.0,
        max_batch_texts: int = 128,
    ) -> None:
        self._resolve = resolve
        self._load = load
        self._recheck = recheck_seconds
        self._max_batch = max_batch_texts
        self._lock = threading.Lock()  # guards the loaded model
        self._turn = threading.Condition()  # guards the waiting requests and `_running`
        self._waiting: deque[_Request] = deque()
        self._running = False
        self.passes = 0  # forward passes run, and the texts they scored (for /metrics)
        self.texts_scored = 0
        self._scorer: TextScorer | None = None
        self._version: str | None = None
        self._checked_at = float("-inf")

    @classmethod
    def from_settings(cls, settings: Any, model: str | None = None) -> ModelProvider:
        """The registry's champion (or the model folder `model`), as the scorer resolves it."""

        def resolve() -> tuple[str, Any]:
            from tweet_triage.model.registry import NoModelError, resolve_model

            try:
                resolved = resolve_model(settings, model)
            except NoModelError as exc:
                raise ModelUnavailableError(str(exc)) from exc
            return resolved.version, resolved.folder

        def load(folder: Any) -> TextScorer:
            from tweet_triage.model.inference import load_scorer

            return load_scorer(folder)

        return cls(resolve, load)

    @property
    def version(self) -> str | None:
        """The loaded model's version; None before the first score."""
        return self._version

    def score(self, texts: Sequence[str]) -> Scores:
        """P(needs support) per text, with the threshold and version that produced them."""
        mine = _Request(list(texts))
        with self._turn:
            self._waiting.append(mine)
        while True:
            with self._turn:
                while mine.outcome is None and self._running:
                    self._turn.wait()
                if mine.outcome is not None:
                    break
                self._running = True  # this thread runs the next pass, for everyone waiting
                batch = self._next_batch()
            self._run(batch)
        if isinstance(mine.outcome, BaseException):
            raise mine.outcome
        return mine.outcome

    def _next_batch(self) -> list[_Request]:
        batch = [self._waiting.popleft()]
        size = len(batch[0].texts)
        while self._waiting and size + len(self._waiting[0].texts) <= self._max_batch:
            size += len(self._waiting[0].texts)
            batch.append(self._waiting.popleft())
        return batch

    def _run(self, batch: list[_Request]) -> None:
        try:
            with self._lock:
                scorer, version = self._current()
                texts = [t for request in batch for t in request.texts]
                probabilities = scorer.score(texts)
                threshold = float(scorer.threshold)
                self.passes += 1
                self.texts_scored += len(texts)
            start = 0
            for request in batch:
                end = start + len(request.texts)
                request.outcome = Scores(probabilities[start:end], threshold, version)
                start = end
        except Exception as exc:  # every waiting request gets the failure, none hangs
            for request in batch:
                request.outcome = exc
        finally:
            with self._turn:
                self._running = False
                self._turn.notify_all()

    def _current(self) -> tuple[TextScorer, str]:
        now = time.monotonic()
        if self._scorer is None or now - self._checked_at >= self._recheck:
            try:
                version, source = self._resolve()
            except TriageError as exc:  # no champion, registry unreachable, bad folder
                if self._scorer is None:
                    raise ModelUnavailableError(str(exc)) from exc
                log.warning("cannot resolve the model (%s); still using %s", exc, self._version)
                version, source = self._version or "", None  # keep serving the loaded one
            self._checked_at = now
            if self._scorer is None or version != self._version:
                try:
                    scorer = self._load(source)
                except TriageError as exc:
                    if self._scorer is None:
                        raise ModelUnavailableError(str(exc)) from exc
                    log.warning(
                        "model %s cannot be loaded (%s); still using %s",
                        version,
                        exc,
                        self._version,
                    )
                else:
                    log.info("scoring with model version %s", version)
                    self._scorer, self._version = scorer, version
        assert self._scorer is not None and self._version is not None
        return self._scorer, self._version
