"""The live half on one machine: sync follower, streaming scorer, inbox and reply outbox worker
as local services.

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
from tweet_triage.live.scorer_status import scorer_lines, scorer_stats_path

FOLLOWER, SCORER, INBOX, OUTBOX = "triage-follow", "triage-scorer", "triage-inbox", "triage-outbox"


@dataclass(frozen=True)
class LiveService:
    name: str
    args: tuple[str, ...]
    start_timeout: float


def live_services(settings: Settings) -> list[LiveService]:
    """In start order: the follower feeds the raw folder the scorer reads; then the inbox, and
    the outbox worker when an X app is configured (X_CLIENT_ID): it posts the inbox's replies."""
    services = [
        LiveService(
            FOLLOWER, ("sync", "--follow", "--every", f"{settings.triage_follow_seconds:g}"), 60
        ),
        LiveService(
            SCORER, ("triage", "score", "--every", f"{settings.triage_score_every:g}s"), 300
        ),
        LiveService(INBOX, ("triage", "serve"), 120),
    ]
    if settings.x_client_id:
        services.append(LiveService(OUTBOX, ("triage", "outbox", "run"), 60))
    return services


def service(settings: Settings, name: str) -> Service:
    return Service(name, settings.state_dir.expanduser() / "triage")


def outbox_stats_path(settings: Settings) -> Path:
    return settings.state_dir.expanduser() / "triage" / "outbox-stats.json"


def _ready(settings: Settings, name: str, since: float) -> bool:
    if name == INBOX:
        return port_answers(settings.triage_port, settings.triage_host)
    if name == SCORER:  # the scorer writes its stats file once its query has started
        path = scorer_stats_path(settings.state_dir)
    elif name == OUTBOX:  # the worker writes its stats file before its first turn
        path = outbox_stats_path(settings)
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
    """Stop in reverse order (the scorer finishes its micro-batch, the outbox worker its reply,
    on SIGTERM). A running outbox worker is stopped even when X_CLIENT_ID was unset since."""
    names = [p.name for p in live_services(settings)]
    if OUTBOX not in names and service(settings, OUTBOX).running():
        names.append(OUTBOX)
    return [service(settings, name).stop(timeout=150) for name in reversed(names)]


def live_status(settings: Settings) -> dict[str, Any]:
    """Running or not per service, and the scorer's totals."""
    status: dict[str, Any] = {}
    for part in live_services(settings):
        svc = service(settings, part.name)
        pid = svc.pid()
        status[part.name] = {"running": pid is not None, "pid": pid, "log": str(svc.log_file)}
    for key, path in (
        ("scorer_stats", scorer_stats_path(settings.state_dir)),
        ("outbox_stats", outbox_stats_path(settings)),
    ):
        try:
            status[key] = json.loads(path.read_text())
        except (OSError, ValueError):
            status[key] = None
    status["inbox_url"] = f"http://{settings.triage_host}:{settings.triage_port}/"
    return status


def status_lines(status: dict[str, Any]) -> list[str]:
    lines = []
    for name in (FOLLOWER, SCORER, INBOX, OUTBOX):
        part = status.get(name)
        if part is None:  # the outbox worker without an X app (X_CLIENT_ID unset)
            continue
        state = f"running (pid {part['pid']})" if part["running"] else "not running"
        lines.append(f"{name}: {state}; log {part['log']}")
    stats = status.get("scorer_stats")
    if stats:
        lines.extend(scorer_lines(stats))
    outbox = status.get("outbox_stats")
    if outbox and status.get(OUTBOX, {}).get("running"):
        error = f"; last error {outbox['last_error']}" if outbox.get("last_error") else ""
        lines.append(
            f"outbox: {outbox['handled']} reply(ies) handled since {outbox['started_at']}, "
            f"{outbox['errors']} error(s){error}"
        )
    lines.append(f"inbox: {status['inbox_url']}")
    return lines
