"""Transitional: the web app's loop card until it reads `model.loop_state` itself.

Retraining is `model.retrain`; promote and rollback are `model.registry`'s; the loop's status
is `model.loop_state.read_loop_status`. Delete this module once `live/web/` calls that.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tweet_triage.live.labels import decided_tweets
from tweet_triage.model.loop_state import read_loop_status

if TYPE_CHECKING:
    from tweet_triage.live.store import TriageStore

DRIFT_GAUGE = {"pass": 1, "fail": 0}


def loop_card(state_dir: Path, champion: str | None, store: TriageStore | None) -> dict[str, Any]:
    """The loop's status as a dict (champion as the caller resolved it)."""
    decided = decided_tweets(store) if store is not None else None
    return read_loop_status(state_dir, champion, decided).as_dict()


def loop_metrics(card: dict[str, Any] | None, drift_state: str) -> str:
    """Prometheus text for the loop (appended to the inbox's /metrics)."""
    card = card or {}
    last = card.get("last_retrain") or {}
    promoted = {"promoted": 1, "kept champion": 0}.get(last.get("decision", ""), -1)
    champion = card.get("champion")
    lines = [
        "# HELP triage_loop_champion_version The champion model version (numeric; -1 unknown).",
        "# TYPE triage_loop_champion_version gauge",
        f"triage_loop_champion_version {champion if champion and champion.isdigit() else -1}",
        "# HELP triage_loop_champion_age_seconds Seconds since the champion took over.",
        "# TYPE triage_loop_champion_age_seconds gauge",
        f"triage_loop_champion_age_seconds {card.get('champion_age_seconds') or -1:.0f}",
        "# HELP triage_loop_labels_since_retrain Tweets decided since the last retrain.",
        "# TYPE triage_loop_labels_since_retrain gauge",
        f"triage_loop_labels_since_retrain {card.get('labels_since_retrain') or 0}",
        "# HELP triage_loop_last_retrain_promoted 1 promoted, 0 kept the champion, -1 none yet.",
        "# TYPE triage_loop_last_retrain_promoted gauge",
        f"triage_loop_last_retrain_promoted {promoted}",
        "# HELP triage_drift_passed 1 the last drift check passed, 0 failed, -1 unknown.",
        "# TYPE triage_drift_passed gauge",
        f"triage_drift_passed {DRIFT_GAUGE.get(drift_state, -1)}",
    ]
    return "\n".join(lines) + "\n"
