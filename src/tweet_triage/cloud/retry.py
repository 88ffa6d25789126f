"""Bounded backoff for the few AWS errors that only mean 'not yet': IAM propagation and friends.

Everything with a real waiter uses it; this is for calls AWS rejects until a just-created
dependency is visible everywhere (a role Firehose cannot assume yet, an instance profile
EC2 does not know yet, a security group whose network interface is still being released).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError

T = TypeVar("T")
log = logging.getLogger(__name__)

# 1 + 2 + 4 + 8 + 16 + 5 * 20 s: about two minutes, well past IAM's usual propagation delay.
DEFAULT_DELAYS: tuple[float, ...] = (1, 2, 4, 8, 16, 20, 20, 20, 20, 20)


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
