"""The dashboard: the window's figures and plots, the answering side (the open queue beside
first responses, the SLA, replies per teammate), the model and scorer, drift and the loop."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tweet_triage.live.scorer_status import quarantine_lines, scorer_stats_path, threshold_line
from tweet_triage.live.store import FIGURES_MAX_AGE
from tweet_triage.live.web.deps import WINDOWS, InboxDep, SessionDep, Window, render

router = APIRouter()


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request, session: SessionDep, box: InboxDep, window: Window = "24h"
) -> Response:
    hours = WINDOWS[window]
    sla = timedelta(minutes=box.config.sla_minutes)
    stats = box.store.recent_dashboard(None if hours is None else timedelta(hours=hours), sla=sla)
    loop = box.read_loop()
    return render(
        request,
        "dashboard.html",
        {
            "stats": stats,
            "window": window,
            "windows": list(WINDOWS),
            **box.charts.of(window, stats),
            "median_decision": _duration(stats.median_decision_seconds),
            "median_first_response": _duration(stats.median_first_response_seconds),
            "resolution_p50": _duration(stats.resolution_seconds.get(0.5)),
            "resolution_p95": _duration(stats.resolution_seconds.get(0.95)),
            "sla": _duration(sla.total_seconds()),
            "max_age": _duration(FIGURES_MAX_AGE.total_seconds()),
            "serving_version": box.model.version,
            "scorer": _scorer_card(box.config.state_dir),
            "drift": loop.drift,
            "loop": loop.status,
        },
    )


def _scorer_card(state_dir: Path | None) -> dict[str, Any] | None:
    """The streaming scorer's threshold and quarantined objects, from its stats file (None
    when there is no state folder or the scorer has not written one yet)."""
    if state_dir is None:
        return None
    path = scorer_stats_path(state_dir)
    try:
        stats = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stats, dict):
        return None
    quarantine = quarantine_lines(stats)
    return {
        "threshold": threshold_line(stats),
        "quarantined": int(stats.get("quarantined_objects") or 0),
        "recent_bad": [line.strip() for line in quarantine[1:]],
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "none yet"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
