"""Values kept a short while: counted again behind the callers, not for each of them.

The dashboard's figures and the store's totals are counts over hundreds of thousands of rows;
the page furniture (the rule tags, the saved replies) changes rarely and is read by every
queue page. Each is kept at most `FIGURES_MAX_AGE`; a write through this store forgets what
it changed at once, and other processes' writes show within that age.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from datetime import timedelta
from typing import Any, TypeVar

FIGURES_MAX_AGE = timedelta(seconds=10)
T = TypeVar("T")


class Fresh:
    """Values recomputed at most every `max_age`.

    An expired value is still handed out while one background thread recomputes it, so no
    caller waits for a recount; only a key's first computation is waited for, once, by
    every caller asking meanwhile. A failed recount leaves the last value (and its age).
    """

    def __init__(self, max_age: timedelta) -> None:
        self.max_age = max_age.total_seconds()
        self._lock = threading.Lock()
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._pending: dict[Hashable, threading.Event] = {}
        self._forgotten: dict[Hashable, int] = {}  # times forgotten: a count begun before is stale

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            found = self._values.get(key)
            if found is not None and time.monotonic() - found[0] < self.max_age:
                return found[1]
            pending = self._pending.get(key)
            mine = pending is None
            if pending is None:
                pending = self._pending[key] = threading.Event()
        if found is not None:
            if mine:
                threading.Thread(
                    target=self._compute, args=(key, compute, pending), daemon=True
                ).start()
            return found[1]
        if mine:
            return self._compute(key, compute, pending)
        pending.wait()
        with self._lock:
            found = self._values.get(key)
        return compute() if found is None else found[1]  # the first try failed: ours

    def _compute(self, key: Hashable, compute: Callable[[], T], pending: threading.Event) -> T:
        with self._lock:
            generation = self._forgotten.get(key, 0)
        try:
            value = compute()
            with self._lock:
                if self._forgotten.get(key, 0) == generation:
                    self._values[key] = (time.monotonic(), value)
            return value
        finally:
            with self._lock:
                del self._pending[key]
            pending.set()

    def forget(self, key: Hashable) -> None:
        """The next `get` of `key` computes it (what it held was just changed), and a count
        already under way when it was forgotten is not kept."""
        with self._lock:
            self._values.pop(key, None)
            self._forgotten[key] = self._forgotten.get(key, 0) + 1
