"""The live half on one machine: sync follower, streaming scorer and inbox as local services.

`make -f Makefile-stream triage-up / triage-down / triage-status` call these. Each part is a
`hosts.processes.Service` under <state dir>/triage (pid file, log file), started with
the same CLI a systemd unit runs on the triage host, so a local run and a deployed one differ
only in who supervises the processes. Starting and stopping are safe to repeat.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tweet_triage.config import Settings
from tweet_triage.hosts.processes import Service, port_answers

FOLLOWER, SCORER, INBOX = "triage-follow", "triage-scorer", "triage-inbox"


@dataclass(frozen=True)
class LiveService:
    name: str
    args: tuple[str, ...]
    start_timeout: float


def live_services(settings: Settings) -> list[LiveService]:
    """In start order: the follower feeds the raw folder the scorer reads; the inbox last."""
    return [
        LiveService(
            FOLLOWER, ("sync", "--follow", "--every", f"{settings.triage_follow_seconds:g}"), 60
        ),
        LiveService(
            SCORER, ("triage", "score", "--every", f"{settings.triage_score_every:g}s"), 300
        ),
        LiveService(INBOX, ("triage", "serve"), 120),
    ]


def service(settings: Settings, name: str) -> Service:
    return Service(name, settings.state_dir.expanduser() / "triage")


def scorer_stats_path(settings: Settings) -> Path:
    return settings.state_dir.expanduser() / "triage" / "scorer-stats.json"


def _ready(settings: Settings, name: str, since: float) -> bool:
    if name == INBOX:
        return port_answers(settings.triage_port, settings.triage_host)
    if name == SCORER:  # the scorer writes its stats file once its query has started
        path = scorer_stats_path(settings)
    else:  # the follower saves the sync ledger after each pass that could list the bucket
        from tweet_triage.data.paths import DataPaths
        from tweet_triage.data.sync import LEDGER_NAME

        path = DataPaths.from_settings(settings).raw / LEDGER_NAME
    return path.is_file() and path.stat().st_mtime >= since


def start_live(settings: Settings) -> list[str]:
    """Start whatever is not running yet; one line per service."""
    from tweet_triage.model.registry import resolve_model

    resolve_model(settings, settings.triage_model)  # no model: "train first", before starting
    lines = []
    for part in live_services(settings):
        svc = service(settings, part.name)
        if svc.running():
            lines.append(f"{part.name}: already running (pid {svc.pid()})")
            continue
        since = time.time() - 1
        pid = svc.start(
            [sys.executable, "-m", "tweet_triage", *part.args],
            ready=lambda name=part.name, since=since: _ready(settings, name, since),
            timeout=part.start_timeout,
        )
        lines.append(f"{part.name}: started (pid {pid}), log {svc.log_file}")
    lines.append(f"inbox: http://{settings.triage_host}:{settings.triage_port}/")
    return lines


def stop_live(settings: Settings) -> list[str]:
    """Stop in reverse order (the scorer finishes its micro-batch on SIGTERM)."""
    return [service(settings, p.name).stop(timeout=150) for p in reversed(live_services(settings))]


def live_status(settings: Settings) -> dict[str, Any]:
    """Running or not per service, and the scorer's totals."""
    status: dict[str, Any] = {}
    for part in live_services(settings):
        svc = service(settings, part.name)
        pid = svc.pid()
        status[part.name] = {"running": pid is not None, "pid": pid, "log": str(svc.log_file)}
    try:
        status["scorer_stats"] = json.loads(scorer_stats_path(settings).read_text())
    except (OSError, ValueError):
        status["scorer_stats"] = None
    status["inbox_url"] = f"http://{settings.triage_host}:{settings.triage_port}/"
    return status


def status_lines(status: dict[str, Any]) -> list[str]:
    lines = []
    for name in (FOLLOWER, SCORER, INBOX):
        part = status[name]
        state = f"running (pid {part['pid']})" if part["running"] else "not running"
        lines.append(f"{name}: {state}; log {part['log']}")
    stats = status.get("scorer_stats")
    if stats:
        lines.append(
            f"scorer: {stats['batches']} batch(es), {stats['scored']} scored, "
            f"{stats['flagged']} flagged, {stats['quarantined']} quarantined, model "
            f"{stats['model_version']}, last batch {stats['last_batch_at'] or 'none yet'}"
        )
    lines.append(f"inbox: {status['inbox_url']}")
    return lines
