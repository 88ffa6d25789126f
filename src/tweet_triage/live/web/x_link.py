"""The inbox's side of the team's X account: the banner every page shows while replies cannot
go out, and the connects an admin has begun but not finished.

A connect is two requests: `/admin/x/connect` sends the admin to X with a PKCE challenge, and
X sends the browser back to `/x/callback`. The code verifier never leaves the server: it waits
here, found again by the `state` X hands back, for a few minutes at most.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tweet_triage.live.replies.x_account import (
    ConnectionState,
    PendingConnect,
    XAccount,
    XAccountError,
)

CONNECT_SECONDS = 600  # an unfinished connect is forgotten after this long
MAX_PENDING = 20
STATE_WORDS = {
    ConnectionState.NOT_CONNECTED: "the team's X account is not connected; an admin connects it.",
    ConnectionState.EXPIRED: "the X account's access expired; an admin must connect it again.",
    ConnectionState.REVOKED: "X revoked the account's access; an admin must connect it again.",
}


@dataclass(frozen=True)
class Banner:
    state: str  # a ConnectionState value, or "unconfigured"
    message: str


def x_banner(account: XAccount | None, problem: str | None) -> Banner | None:
    """What the banner says while replies cannot be sent; None when the account is connected."""
    if account is None:
        return Banner("unconfigured", f"Replies cannot be sent: no X app is set up ({problem}).")
    try:
        state = account.state()
    except XAccountError as exc:
        return Banner("unreadable", f"Replies are held: {exc}.")
    if state is ConnectionState.CONNECTED:
        return None
    return Banner(state.value, f"Replies are held: {STATE_WORDS[state]}")


class PendingConnects:
    """Connects begun and not yet finished, by their OAuth `state` (one process)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._pending: dict[str, tuple[float, PendingConnect]] = {}
        self._lock = threading.Lock()

    def add(self, pending: PendingConnect) -> None:
        with self._lock:
            self._forget_old()
            while len(self._pending) >= MAX_PENDING:
                del self._pending[next(iter(self._pending))]
            self._pending[pending.state] = (self._clock(), pending)

    def take(self, state: str) -> PendingConnect | None:
        """The connect `state` names, once (a replayed callback finds nothing)."""
        with self._lock:
            self._forget_old()
            found = self._pending.pop(state, None)
        return found[1] if found else None

    def _forget_old(self) -> None:
        cutoff = self._clock() - CONNECT_SECONDS
        for state in [s for s, (at, _) in self._pending.items() if at < cutoff]:
            del self._pending[state]
