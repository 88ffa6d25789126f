"""The learning loop as the inbox shows it: the last drift check and the retrain loop's state.

The one place the web app reads the loop's state; the dashboard's card and /metrics both go
through `read_loop_state`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tweet_triage.live.store import TriageStore
from tweet_triage.model.loop_state import LoopStatus, read_loop_status


@dataclass(frozen=True)
class LoopState:
    """What the inbox shows of the loop: the retrain loop's status (None without a state
    folder) and the drift check's verdict."""

    status: LoopStatus | None
    drift: dict[str, Any]


def read_drift_status(reports_dir: Path | None) -> dict[str, Any]:
    """The last drift check's verdict (reports/trends.json written by the trends report)."""
    if reports_dir is None:  # never the working directory's reports/
        return {"state": "unknown", "detail": "no reports folder configured (REPORTS_DIR)"}
    path = reports_dir / "trends.json"
    try:
        report = json.loads(path.read_text())
        drift = report["drift"]
    except (OSError, ValueError, KeyError, TypeError):
        return {
            "state": "unknown",
            "detail": f"no drift check yet: `tweet-triage trends` writes {path.name}",
        }
    failed = [c["name"] for c in drift.get("checks", []) if not c.get("passed")]
    checked = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return {
        "state": "pass" if drift.get("passed") else "fail",
        "detail": ("failed: " + ", ".join(failed)) if failed else "every check within tolerance",
        "checked": checked,
        "tolerance": drift.get("tolerance"),
    }


def read_loop_state(
    state_dir: Path | None, reports_dir: Path | None, champion: str | None, store: TriageStore
) -> LoopState:
    """The loop's status (champion and its age, last retrain, labels since) and the drift check.

    `champion` is the version the inbox serves.
    """
    drift = read_drift_status(reports_dir)
    if state_dir is None:
        return LoopState(None, drift)
    return LoopState(read_loop_status(state_dir, champion, store.totals().decided_tweets), drift)
