"""Who may open the stream: one connection at a time, rules first, injected refusals.

A second client gets 429 TooManyConnections unless the first one's peer has gone (then it is
replaced); no rules is X's 409; a fault may refuse the next K attempts with 503 or 429.
Callers hold the stand-in's lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tweet_triage_local.xapi import problems
from tweet_triage_local.xapi.faults import FaultPlan
from tweet_triage_local.xapi.state import Stats

log = logging.getLogger(__name__)


class Connection:
    """One live stream connection; `peer_closed` tells whether its client has gone."""

    def __init__(self, peer_closed: Callable[[], bool]) -> None:
        self.peer_closed = peer_closed


class Admission:
    def __init__(self) -> None:
        self.active: Connection | None = None

    def admit(
        self, peer_closed: Callable[[], bool], *, has_rules: bool, faults: FaultPlan, stats: Stats
    ) -> Connection | tuple[int, dict[str, Any]]:
        """A new connection, or the (status, body) X would refuse it with."""
        status = faults.refusal()
        if status is not None:
            stats.refuse(f"fault_{status}")
            body = problems.too_many_requests() if status == 429 else problems.service_unavailable()
            return status, body
        if not has_rules:
            stats.refuse("no_rules")
            return 409, problems.no_rules()
        if self.active is not None:
            if not self.active.peer_closed():
                stats.refuse("too_many_connections")
                return 429, problems.too_many_connections()
            log.info("previous stream client has gone; replacing its connection")
        self.active = Connection(peer_closed)
        stats.connections += 1
        return self.active

    def release(self, connection: Connection) -> None:
        if self.active is connection:
            self.active = None
