"""Small inline SVG charts, drawn on the server: no JavaScript library, no CDN, no image files.

Colours and sizes are SVG presentation attributes (not style attributes), so the pages'
Content-Security-Policy can forbid inline styles.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from html import escape

from markupsafe import Markup

from tweet_triage.live.store import DashboardStats, HourCount, HourValue, QueueHour, TagCount

ALL = "#9db4d3"
FLAGGED = "#c0392b"
LINE = "#1f4e79"
QUEUE = "#e4b363"
AXIS = "#555"
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _empty(width: int, height: int, message: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(message)}"><text x="{width / 2}" y="{height / 2}" '
        f'text-anchor="middle" fill="{AXIS}" {FONT}>{escape(message)}</text></svg>'
    )


def _hour_label(hour: datetime) -> str:
    return hour.strftime("%H:00") if hour.hour else hour.strftime("%b %d")


def hourly_volume(hours: Sequence[HourCount], width: int = 720, height: int = 220) -> Markup:
    """Tweets per hour as bars, the flagged part of each bar in red."""
    if not hours:
        return _empty(width, height, "no tweets in this window")
    left, bottom, top = 44, 28, 12
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max(h.total for h in hours) or 1
    step = plot_w / len(hours)
    bar = max(1.0, step * 0.8)
    parts = [_y_axis(left, top, plot_h, peak, width)]
    label_every = max(1, round(len(hours) / 8))
    for i, h in enumerate(hours):
        x = left + i * step + (step - bar) / 2
        total_h = plot_h * h.total / peak
        flagged_h = plot_h * h.flagged / peak
        when = h.hour.strftime("%Y-%m-%d %H:00 UTC")
        parts.append(
            f'<rect x="{x:.1f}" y="{top + plot_h - total_h:.1f}" width="{bar:.1f}" '
            f'height="{total_h:.1f}" fill="{ALL}"><title>{when}: {h.total} tweets, '
            f"{h.flagged} flagged</title></rect>"
        )
        parts.append(
            f'<rect x="{x:.1f}" y="{top + plot_h - flagged_h:.1f}" width="{bar:.1f}" '
            f'height="{flagged_h:.1f}" fill="{FLAGGED}"><title>{when}: {h.flagged} flagged'
            "</title></rect>"
        )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 10}" text-anchor="middle" '
                f'fill="{AXIS}" {FONT}>{_hour_label(h.hour)}</text>'
            )
    return _svg(width, height, "tweets per hour, flagged in red", parts)


def hourly_share(hours: Sequence[HourCount], width: int = 720, height: int = 180) -> Markup:
    """The needs-support (flagged) share of each hour's tweets, 0-100 %."""
    points = [(i, h.flagged / h.total) for i, h in enumerate(hours) if h.total]
    if not points:
        return _empty(width, height, "no tweets in this window")
    left, bottom, top = 44, 28, 12
    plot_w, plot_h = width - left - 8, height - bottom - top
    step = plot_w / max(1, len(hours))
    parts = []
    for fraction in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{AXIS}" {FONT}>'
            f"{fraction:.0%}</text>"
        )
    coords = [(left + (i + 0.5) * step, top + plot_h * (1 - share)) for i, share in points]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    parts.append(f'<polyline points="{path}" fill="none" stroke="{LINE}" stroke-width="2"/>')
    for (x, y), (i, share) in zip(coords, points, strict=True):
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{LINE}"><title>'
            f"{hours[i].hour:%Y-%m-%d %H:00 UTC}: {share:.0%} need support</title></circle>"
        )
    label_every = max(1, round(len(hours) / 8))
    for i, h in enumerate(hours):
        if i % label_every == 0:
            parts.append(
                f'<text x="{left + (i + 0.5) * step:.1f}" y="{height - 10}" '
                f'text-anchor="middle" fill="{AXIS}" {FONT}>{_hour_label(h.hour)}</text>'
            )
    return _svg(width, height, "needs-support share per hour", parts)


def queue_and_first_response(
    queue: Sequence[QueueHour],
    responses: Sequence[HourValue],
    width: int = 720,
    height: int = 220,
) -> Markup:
    """The open queue at each hour's end as bars (left axis) and, over the same hours, the
    median first response of the hour as a line (right axis, minutes): whether answers slow
    down as the queue grows."""
    if not queue:
        return _empty(width, height, "no tweets in this window")
    left, right, bottom, top = 44, 52, 28, 12
    plot_w, plot_h = width - left - right, height - bottom - top
    peak = max(q.open for q in queue) or 1
    slowest = max((r.p50_seconds for r in responses), default=0.0) / 60 or 1.0
    step = plot_w / len(queue)
    bar = max(1.0, step * 0.8)
    parts = [_y_axis(left, top, plot_h, peak, width - right + 8)]
    for fraction in (0.5, 1.0):
        y = top + plot_h * (1 - fraction)
        parts.append(
            f'<text x="{width - right + 6}" y="{y + 4:.1f}" fill="{LINE}" {FONT}>'
            f"{slowest * fraction:.0f} min</text>"
        )
    index = {q.hour: i for i, q in enumerate(queue)}
    label_every = max(1, round(len(queue) / 8))
    for i, q in enumerate(queue):
        x = left + i * step + (step - bar) / 2
        bar_h = plot_h * q.open / peak
        parts.append(
            f'<rect x="{x:.1f}" y="{top + plot_h - bar_h:.1f}" width="{bar:.1f}" '
            f'height="{bar_h:.1f}" fill="{QUEUE}"><title>{q.hour:%Y-%m-%d %H:00 UTC}: '
            f"{q.open} open at the hour's end</title></rect>"
        )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 10}" text-anchor="middle" '
                f'fill="{AXIS}" {FONT}>{_hour_label(q.hour)}</text>'
            )
    points = [
        (left + (index[r.hour] + 0.5) * step, top + plot_h * (1 - r.p50_seconds / 60 / slowest), r)
        for r in responses
        if r.hour in index
    ]
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{LINE}" stroke-width="2"/>')
    for x, y, r in points:
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{LINE}"><title>'
            f"{r.hour:%Y-%m-%d %H:00 UTC}: median first response {r.p50_seconds / 60:.1f} min "
            f"over {r.count} conversation(s)</title></circle>"
        )
    return _svg(width, height, "open queue per hour and median first response", parts)


def by_tag(tags: Sequence[TagCount], width: int = 720, row: int = 26) -> Markup:
    """One horizontal bar per rule tag: its volume, the flagged part in red, and the share."""
    if not tags:
        return _empty(width, 60, "no tagged tweets in this window")
    shown = list(tags[:15])
    left, right = 150, 170
    height = row * len(shown) + 10
    peak = max(t.total for t in shown) or 1
    plot_w = width - left - right
    parts = []
    for i, t in enumerate(shown):
        y = 5 + i * row
        total_w = plot_w * t.total / peak
        flagged_w = plot_w * t.flagged / peak
        share = t.flagged / t.total if t.total else 0.0
        label = escape(t.tag if len(t.tag) <= 22 else t.tag[:21] + "…")
        parts.append(
            f'<text x="{left - 8}" y="{y + row / 2 + 4:.1f}" text-anchor="end" fill="{AXIS}" '
            f"{FONT}>{label}</text>"
            f'<rect x="{left}" y="{y + 3}" width="{total_w:.1f}" height="{row - 8}" '
            f'fill="{ALL}"><title>{escape(t.tag)}: {t.total} tweets</title></rect>'
            f'<rect x="{left}" y="{y + 3}" width="{flagged_w:.1f}" height="{row - 8}" '
            f'fill="{FLAGGED}"><title>{escape(t.tag)}: {t.flagged} flagged</title></rect>'
            f'<text x="{left + total_w + 6:.1f}" y="{y + row / 2 + 4:.1f}" fill="{AXIS}" '
            f"{FONT}>{t.total} tweets · {share:.0%} flagged</text>"
        )
    return _svg(width, height, "tweets and needs-support share per rule tag", parts)


def _y_axis(left: int, top: int, plot_h: float, peak: int, width: int) -> str:
    lines = []
    for fraction in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - fraction)
        lines.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{AXIS}" {FONT}>'
            f"{round(peak * fraction)}</text>"
        )
    return "".join(lines)


def _svg(width: int, height: int, label: str, parts: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}">{"".join(parts)}</svg>'
    )


class DashboardCharts:
    """The dashboard's charts for each window, drawn once per count of its figures: the
    store hands out the same figures until it recounts them, and a month is 720 hours a
    chart (drawing them was most of that page's time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._drawn: dict[str, tuple[DashboardStats, dict[str, Markup]]] = {}

    def of(self, window: str, stats: DashboardStats) -> dict[str, Markup]:
        with self._lock:
            found = self._drawn.get(window)
        if found is not None and found[0] is stats:
            return found[1]
        drawn = {
            "volume_svg": hourly_volume(stats.hours),
            "share_svg": hourly_share(stats.hours),
            "tags_svg": by_tag(stats.tags),
            "answering_svg": queue_and_first_response(stats.open_queue, stats.first_responses),
        }
        with self._lock:
            self._drawn[window] = (stats, drawn)
        return drawn
