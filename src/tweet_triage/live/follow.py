"""Follow the bucket: run the one-pass sync every N seconds so the raw folder stays current.

Each pass is `tweet_triage.data.sync.sync_raw` (its ledger makes a pass copy only objects it
has not copied before, and makes a restarted follower carry on where it stopped). The first
pass fails loudly on a wrong setting (no bucket, no credentials); later passes treat a failure
as transient (an endpoint that is briefly away), log it and try again at the next interval.
SIGTERM and SIGINT end the loop between passes, never in the middle of one.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from tweet_triage.config import Settings
from tweet_triage.data.errors import DataInputError
from tweet_triage.data.sync import SyncResult, raw_bucket_name, s3_client, sync_raw

log = logging.getLogger(__name__)


@dataclass
class FollowTotals:
    passes: int = 0
    failed_passes: int = 0
    copied: int = 0
    bytes_copied: int = 0


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[threading.Event]:
    """Set `stop` on SIGTERM/SIGINT while inside (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def follow_bucket(
    settings: Settings,
    dest: Path,
    every: float,
    stop: threading.Event | None = None,
    max_passes: int | None = None,
    on_pass: Callable[[SyncResult], None] | None = None,
) -> FollowTotals:
    """Sync `settings.raw_prefix` of the stack's bucket to `dest` every `every` seconds.

    Runs until `stop` is set (or `max_passes` passes, for tests and benchmarks).
    """
    stop = stop or threading.Event()
    s3 = s3_client(settings)
    bucket = raw_bucket_name(settings)
    totals = FollowTotals()
    log.info("following s3://%s/%s into %s every %.0f s", bucket, settings.raw_prefix, dest, every)
    while not stop.is_set():
        started = time.monotonic()
        try:
            result = sync_raw(s3, bucket, settings.raw_prefix, dest)
        except (DataInputError, BotoCoreError, ClientError):
            if totals.passes == 0:
                raise  # a wrong setting: say so once, do not loop on it
            totals.failed_passes += 1
            log.warning("sync pass failed; retrying in %.0f s", every, exc_info=True)
        else:
            totals.copied += result.copied
            totals.bytes_copied += result.bytes_copied
            if result.copied:
                log.info("copied %d new object(s) (%d listed)", result.copied, result.listed)
            if on_pass:
                on_pass(result)
        totals.passes += 1
        if max_passes is not None and totals.passes >= max_passes:
            break
        stop.wait(max(0.0, every - (time.monotonic() - started)))
    log.info(
        "follower stopped after %d pass(es): %d object(s) copied", totals.passes, totals.copied
    )
    return totals
