"""The scorer's stats file (<state>/triage/scorer-stats.json) as lines for people.

`triage status` and the end of `triage score` print these; a stats file written by an older
scorer lacks the newer keys, which then show nothing rather than fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

OBJECTS_SHOWN = 5  # the newest quarantined objects listed under the count


def scorer_stats_path(state_dir: Path) -> Path:
    """Where the scorer writes its stats after every batch, and everything else reads them."""
    return state_dir.expanduser() / "triage" / "scorer-stats.json"


def totals_line(stats: Mapping[str, Any]) -> str:
    runtime = ""
    if stats.get("engine"):
        runtime = f" ({stats['engine']} on {stats.get('device') or 'cpu'})"
    return (
        f"scorer: {stats['batches']} batch(es), {stats['scored']} scored, "
        f"{stats['flagged']} flagged, {stats['quarantined']} quarantined, model "
        f"{stats['model_version']}{runtime}, last batch {stats['last_batch_at'] or 'none yet'}"
    )


def threshold_line(stats: Mapping[str, Any]) -> str | None:
    """The cut the last batch was flagged with and why; None before the first batch."""
    threshold = stats.get("threshold")
    if threshold is None:
        return None
    own = stats["model_threshold"]
    window = stats.get("live_prior_window")
    if not window:
        return f"scorer threshold: {threshold:.3f} (the model's own)"
    live_prior, scores = stats.get("live_prior"), stats.get("live_prior_scores", 0)
    if live_prior is None:
        return (
            f"scorer threshold: {threshold:.3f}, the model's own while the live share cannot "
            f"be estimated ({scores:,} recent score(s) of a {window:,} window)"
        )
    return (
        f"scorer threshold: {threshold:.3f} for a live share of {live_prior:.1%} needing "
        f"support (from the last {scores:,} scores; the model's own {own:.3f})"
    )


def quarantine_lines(stats: Mapping[str, Any]) -> list[str]:
    """The count of objects Spark could not read, then the newest of them with the reason."""
    count = stats.get("quarantined_objects", 0)
    if not count:
        return []
    recent = list(reversed(stats.get("recent_bad_objects", [])))[:OBJECTS_SHOWN]
    lines = [f"scorer: {count} unreadable object(s) quarantined; newest first:"]
    lines += [f"  {bad['object']}: {bad['reason']}" for bad in recent]
    return lines


def scorer_lines(stats: Mapping[str, Any]) -> list[str]:
    """What `triage status` says of the scorer."""
    threshold = threshold_line(stats)
    return [totals_line(stats), *([threshold] if threshold else []), *quarantine_lines(stats)]
