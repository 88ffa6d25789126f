"""The project's one retry helper: exponential back-off, and a bounded retry loop.

- `Backoff`: the wait before the next attempt, `base * 2**attempt` capped, optionally with
  'equal jitter' (half fixed, half random) where several callers retry at once (the
  streamer's Firehose workers), without it where the sequence should be predictable (the
  supervisor's restarts, waits for AWS propagation).
- `retry_while`: run a call, back off and retry while a predicate says the error only means
  'not yet', a bounded number of times: for the few AWS calls that fail until a just-created
  dependency is visible everywhere (a role Firehose cannot assume yet, an instance profile EC2
  does not know yet, a network interface still being released). Everything with a real
  waiter uses the waiter.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from botocore.exceptions import ClientError

T = TypeVar("T")
log = logging.getLogger(__name__)

_MAX_EXPONENT = 62  # 2**62 already exceeds any cap; larger would overflow a float


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off: `base_seconds` doubling per attempt up to `cap_seconds`.

    `permanent_cap_seconds` is the (longer) cap for errors that need an operator, which are
    retried slowly rather than dropped.
    """

    base_seconds: float = 0.2
    cap_seconds: float = 20.0
    permanent_cap_seconds: float = 60.0
    jitter: bool = True

    def delay(self, attempt: int, permanent: bool = False) -> float:
        cap = self.permanent_cap_seconds if permanent else self.cap_seconds
        ceiling = min(cap, self.base_seconds * 2 ** min(attempt, _MAX_EXPONENT))
        if not self.jitter:
            return ceiling
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def delays(self, attempts: int) -> tuple[float, ...]:
        return tuple(self.delay(attempt) for attempt in range(attempts))


# 1 + 2 + 4 + 8 + 16 + 5 * 20 s: about two minutes, well past IAM's usual propagation delay.
DEFAULT_DELAYS: tuple[float, ...] = Backoff(1.0, 20.0, jitter=False).delays(10)


def retry_while(
    call: Callable[[], T],
    transient: Callable[[ClientError], bool],
    what: str,
    delays: tuple[float, ...] = DEFAULT_DELAYS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `call`; back off and retry on errors `transient` accepts; re-raise when out of tries."""
    for delay in delays:
        try:
            return call()
        except ClientError as exc:
            if not transient(exc):
                raise
            log.info("%s: not ready yet (%s); retrying in %.0f s", what, exc, delay)
            sleep(delay)
    return call()
