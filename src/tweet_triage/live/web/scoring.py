"""The model behind `POST /api/score`: loaded on first use, and the registry's champion again.

The champion is resolved with the same registry code the streaming scorer uses, at most every
`recheck_seconds`; when the alias has moved, the new version is loaded and the next request
scores with it (no restart).

One forward pass runs at a time (tokenizers and torch modules are not safe to share between
threads, and on two cores a second concurrent pass only slows both). Requests that arrive
while a pass runs wait together, and the next pass takes from each of them in turn: every
waiting request gets up to `chunk_texts` texts into it before any gets more, up to
`max_batch_texts` in all. A large request is scored over several passes, so a single text
sent beside it waits for one bounded pass, not for the whole large request. An idle server
adds no waiting: the first request runs at once. At most `max_waiting_texts` texts wait; past
that a request is refused (`ScoringBusyError`, the API's 429 with Retry-After).

Texts are cut to the model's token limit before they are tokenised (`ClippedScorer`): what
lies past it would be dropped by the tokenizer anyway, after the cost of tokenising it.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tweet_triage.errors import TriageError

if TYPE_CHECKING:
    from tweet_triage.config import Settings

log = logging.getLogger(__name__)


class ModelUnavailableError(TriageError):
    """No model to score with (nothing trained or promoted yet), or it cannot be loaded."""


class ScoringBusyError(TriageError):
    """Too many texts are waiting to be scored; try again after `retry_after` seconds."""

    def __init__(self, waiting: int, retry_after: int) -> None:
        super().__init__(
            f"{waiting} texts are waiting to be scored; retry in {retry_after} s, or send "
            "fewer texts per request"
        )
        self.retry_after = retry_after


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
    cursor: int = 0  # texts handed to passes so far
    scored: list[float] = field(default_factory=list)
    version: str | None = None
    outcome: Scores | BaseException | None = None


_WORD = re.compile(r"\S+")


def clip_to_tokens(text: str, max_tokens: int) -> str:
    """`text` up to its `max_tokens`-th whitespace-separated word: every word is at least one
    token, so the tokenizer keeps nothing past it; words are never cut (that would change
    how they tokenise)."""
    words = list(itertools.islice(_WORD.finditer(text), max_tokens + 1))
    return text if len(words) <= max_tokens else text[: words[max_tokens - 1].end()]


class ClippedScorer:
    """A scorer whose texts are cut to its token limit before they reach its tokenizer."""

    def __init__(self, scorer: TextScorer, max_tokens: int) -> None:
        self.scorer = scorer
        self.max_tokens = max_tokens

    @property
    def threshold(self) -> float:
        return self.scorer.threshold

    def score(self, texts: Sequence[object]) -> list[float]:
        return self.scorer.score(
            [clip_to_tokens(t, self.max_tokens) if isinstance(t, str) else t for t in texts]
        )


Resolver = Callable[[], tuple[str, Any]]  # -> (version, what `loader` loads)
Loader = Callable[[Any], TextScorer]


class ModelProvider:
    """Scores texts with the current model; thread-safe; loads lazily."""

    def __init__(
        self,
        resolve: Resolver,
        load: Loader,
        recheck_seconds: float = 30.0,
        max_batch_texts: int = 32,
        chunk_texts: int = 8,
        max_waiting_texts: int = 1024,
    ) -> None:
        self._resolve = resolve
        self._load = load
        self._recheck = recheck_seconds
        self._max_batch = max_batch_texts
        self._chunk = chunk_texts
        self._max_waiting = max_waiting_texts
        self._seconds_per_text = 0.05  # a running estimate, for Retry-After
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
    def from_settings(cls, settings: Settings, model: str | None = None) -> ModelProvider:
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

            scorer = load_scorer(folder)
            return ClippedScorer(scorer, scorer.meta.max_length)

        return cls(resolve, load)

    @property
    def version(self) -> str | None:
        """The loaded model's version; None before the first score."""
        return self._version

    def score(self, texts: Sequence[str]) -> Scores:
        """P(needs support) per text, with the threshold and version that produced them."""
        mine = _Request(list(texts))
        with self._turn:
            waiting = sum(len(r.texts) - r.cursor for r in self._waiting)
            if self._waiting and waiting + len(mine.texts) > self._max_waiting:
                raise ScoringBusyError(waiting, max(1, math.ceil(waiting * self._seconds_per_text)))
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

    def _next_batch(self) -> list[tuple[_Request, int, int]]:
        """(request, start, end) slices for one pass: a turn of up to `chunk_texts` for each
        waiting request, then whatever room is left, in the same order: the oldest request
        first (it always moves on), then the ones with the fewest texts left (a single text
        is not held up behind large requests)."""
        room = self._max_batch
        taken: dict[int, tuple[_Request, int, int]] = {}
        oldest, *others = self._waiting
        order = [oldest, *sorted(others, key=lambda r: len(r.texts) - r.cursor)]
        for share in (self._chunk, self._max_batch):
            for request in order:
                if room == 0:
                    break
                start = taken[id(request)][1] if id(request) in taken else request.cursor
                end = min(len(request.texts), request.cursor + share, request.cursor + room)
                room -= end - request.cursor
                request.cursor = end
                taken[id(request)] = (request, start, end)
        for request, _start, end in taken.values():
            if end == len(request.texts):
                self._waiting.remove(request)
        return [slice_ for slice_ in taken.values() if slice_[2] > slice_[1]]

    def _run(self, batch: list[tuple[_Request, int, int]]) -> None:
        started = time.monotonic()
        try:
            with self._lock:
                scorer, version = self._current()
                texts = [t for request, start, end in batch for t in request.texts[start:end]]
                probabilities = scorer.score(texts)
                threshold = float(scorer.threshold)
                self.passes += 1
                self.texts_scored += len(texts)
            self._seconds_per_text = (time.monotonic() - started) / max(1, len(texts))
            at = 0
            for request, start, end in batch:
                self._take(request, probabilities[at : at + end - start], threshold, version)
                at += end - start
        except Exception as exc:  # every request in the pass gets the failure, none hangs
            with self._turn:
                for request, _start, _end in batch:
                    request.outcome = exc
                    if request in self._waiting:
                        self._waiting.remove(request)
        finally:
            with self._turn:
                self._running = False
                self._turn.notify_all()

    def _take(self, request: _Request, scored: list[float], threshold: float, version: str) -> None:
        """Add one pass's scores to `request`; a request whose earlier texts another model
        version scored starts again, so one answer never mixes versions."""
        with self._turn:
            if request.version not in (None, version):
                request.cursor, request.scored, request.version = 0, [], None
                if request not in self._waiting:
                    self._waiting.appendleft(request)
                return
            request.version = version
            request.scored.extend(scored)
            if len(request.scored) == len(request.texts):
                request.outcome = Scores(request.scored, threshold, version)

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
