"""The dashboard: the window's figures and plots, the model, drift and the learning loop."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tweet_triage.live.web import charts
from tweet_triage.live.web.deps import WINDOWS, InboxDep, SessionDep, Window, render, window_start

router = APIRouter()


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request, session: SessionDep, box: InboxDep, window: Window = "24h"
) -> Response:
    since = window_start(window) or datetime(1970, 1, 1, tzinfo=UTC)
    stats = box.store.dashboard(since)
    loop = box.read_loop()
    return render(
        request,
        "dashboard.html",
        {
            "stats": stats,
            "window": window,
            "windows": list(WINDOWS),
            "volume_svg": charts.hourly_volume(stats.hours),
            "share_svg": charts.hourly_share(stats.hours),
            "tags_svg": charts.by_tag(stats.tags),
            "median_decision": _duration(stats.median_decision_seconds),
            "serving_version": box.model.version,
            "drift": loop.drift,
            "loop": loop.status,
        },
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "no decisions yet"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
