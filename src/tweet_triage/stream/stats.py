"""The streamer's counters, its one-line summary, the stats file, and the dead-letter file.

Each counter is written by one thread only (reader: received, dead-lettered, connection
events; sender: sent, retried, failed, API calls), so plain integers are safe to read from the
stats thread. The stats file is replaced atomically, so `stream-status` never reads half of it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tweet_triage.atomic_files import write_atomic

log = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 5.0  # the live rates are over about this long
SPOOL_ALERT_FRACTION = 0.8  # alert when the spool holds this share of its cap
LOW_DISK_BYTES = 256 * 1024 * 1024  # alert when the spool's disk has less free


@dataclass
class StreamStats:
    started_at: float = field(default_factory=time.time)
    received: int = 0  # tweets accepted into the spool
    bytes_received: int = 0
    sent: int = 0  # records the sink accepted
    retried: int = 0  # record re-sends (partial failures and failed calls)
    failed: int = 0  # records refused by the sink, or in a failed call (each time)
    failed_calls: int = 0  # put calls that raised (throttling, 5xx, network)
    api_calls: int = 0  # put calls made
    dead_lettered: int = 0
    rejected: int = 0  # records the sink refuses for good (to the dead-letter file)
    dropped: int = 0  # tweets not spooled: spool full with drop_newest, or during a stop
    recovered: int = 0  # records an earlier run left in the spool, re-sent first
    keep_alives: int = 0
    connects: int = 0
    connection_errors: int = 0  # stalls, resets, timeouts (tweepy reconnects)
    http_errors: dict[str, int] = field(default_factory=dict)
    stream_messages: int = 0  # X system messages without a tweet (e.g. operational-disconnect)
    queue_depth: int = 0
    spool_depth: int = 0
    spool_bytes: int = 0
    spool_max_bytes: int = 0
    spool_blocked_seconds: float = 0.0  # the reader waited this long for spool space
    spool_full: str | None = None  # why the spool takes no more records, while it is full
    disk_free_bytes: int | None = None
    alerts: list[str] = field(default_factory=list)
    state: str = "starting"
    _window: deque[tuple[float, int, int]] = field(default_factory=deque)
    _alert_kinds: set[str] = field(default_factory=set)
    received_per_s: float = 0.0
    sent_per_s: float = 0.0

    def sample(self, queue_depth: int, spool_depth: int) -> None:
        """Refresh depths and the rates over the last `RATE_WINDOW_SECONDS` (call often)."""
        self.queue_depth, self.spool_depth = queue_depth, spool_depth
        now = time.monotonic()
        window = self._window
        window.append((now, self.received, self.sent))
        while len(window) > 2 and now - window[1][0] >= RATE_WINDOW_SECONDS:
            window.popleft()
        then, received, sent = window[0]
        if now - then > 0:
            self.received_per_s = (self.received - received) / (now - then)
            self.sent_per_s = (self.sent - sent) / (now - then)

    def sample_disk(self, spool_bytes: int, max_bytes: int, free_bytes: int | None) -> list[str]:
        """Spool size against its cap and the disk's free space; returns new alerts."""
        self.spool_bytes, self.spool_max_bytes, self.disk_free_bytes = (
            spool_bytes,
            max_bytes,
            free_bytes,
        )
        alerts: dict[str, str] = {}
        if max_bytes and spool_bytes >= SPOOL_ALERT_FRACTION * max_bytes:
            alerts["spool"] = f"spool at {100 * spool_bytes / max_bytes:.0f}% of its cap"
        if free_bytes is not None and free_bytes < LOW_DISK_BYTES:
            alerts["disk"] = f"only {free_bytes / 2**20:.0f} MiB free on the spool's disk"
        raised = [message for kind, message in alerts.items() if kind not in self._alert_kinds]
        self._alert_kinds = set(alerts)
        self.alerts = list(alerts.values())
        return raised

    def use_run_average_rates(self) -> None:
        """At the end: rates over the whole run, not over the last stats interval."""
        elapsed = max(time.time() - self.started_at, 1e-9)
        self.received_per_s = self.received / elapsed
        self.sent_per_s = self.sent / elapsed

    def to_dict(self) -> dict[str, Any]:
        values = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        values["uptime_s"] = round(time.time() - self.started_at, 1)
        values["received_per_s"] = round(self.received_per_s, 1)
        values["sent_per_s"] = round(self.sent_per_s, 1)
        values["started_at"] = _iso(self.started_at)
        return values

    def line(self) -> str:
        """One line for logs and terminals."""
        return (
            f"received={self.received} sent={self.sent} retried={self.retried} "
            f"failed={self.failed} dead_lettered={self.dead_lettered} "
            f"rejected={self.rejected} dropped={self.dropped} "
            f"queue={self.queue_depth} spool={self.spool_depth} "
            f"rate={self.received_per_s:.1f}/s in, {self.sent_per_s:.1f}/s out "
            f"reconnects={self.connection_errors + sum(self.http_errors.values())}"
        )


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def write_stats_file(path: Path, stats: StreamStats, extra: dict[str, Any]) -> None:
    """Write the latest stats as JSON, atomically (temp file + rename)."""
    payload = {**stats.to_dict(), **extra, "updated_at": _iso(time.time()), "pid": os.getpid()}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(payload, indent=2) + "\n")


def read_stats_file(path: Path) -> dict[str, Any] | None:
    """The last stats a streamer wrote, or None when there are none yet."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class DeadLetters:
    """Records the stream cannot deliver, kept with the reason: one JSON object per line.

    The payload is kept as text when it is UTF-8, else base64, so nothing is lost.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(
        self, payload: bytes, reason: str, *, tweet_id: str | None = None, size: int | None = None
    ) -> None:
        """Append one entry; `tweet_id` and `size` describe a record whose payload is not kept.

        A failure to write (disk full) is logged with the reason and the id, never raised: the
        stream goes on.
        """
        entry: dict[str, Any] = {
            "time": _iso(time.time()),
            "reason": reason,
            "bytes": len(payload) if size is None else size,
        }
        if tweet_id is not None:
            entry["tweet_id"] = tweet_id
        if payload:
            try:
                entry["payload"] = payload.decode("utf-8")
            except UnicodeDecodeError:
                entry["payload_base64"] = base64.b64encode(payload).decode("ascii")
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(line)
                    handle.flush()
                    os.fsync(handle.fileno())
        except OSError as exc:
            log.error(
                "cannot write the dead-letter file %s (%s): lost entry %s", self.path, exc,
                json.dumps({k: v for k, v in entry.items() if not k.startswith("payload")}),
            )  # fmt: skip
