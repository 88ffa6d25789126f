"""The closed loop's state file: which version held the champion alias when and why, and the
last retrain. Readers get a `LoopStatus` without importing training, MLflow or pandas.

The loop writes `<state dir>/triage/loop.json`: the registry's promote and rollback append to
`history` (rollback walks it back), retrain records `last_retrain` and how many tweets had a
decision then (`labels_at_last_retrain`, what "new labels" is measured against). `tweet-triage
model status`, the inbox's dashboard card and its /metrics read it through `read_loop_status`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tweet_triage.atomic_files import write_atomic
from tweet_triage.errors import TriageError

STATE_FILE = "loop.json"
PROMOTED, KEPT = "promoted", "kept champion"


class LoopStateError(TriageError):
    """The loop's state file cannot be read; the message names it and the fix."""


def state_path(state_dir: Path) -> Path:
    return Path(state_dir) / "triage" / STATE_FILE


def now() -> str:
    """A timestamp as the state file and the retrain report keep it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_state(state_dir: Path) -> dict[str, Any]:
    """The state for the loop's writers: an empty one before the first move; bad JSON fails."""
    path = state_path(state_dir)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {"history": [], "last_retrain": None, "labels_at_last_retrain": 0}
    except ValueError as exc:
        raise LoopStateError(f"{path}: not valid JSON ({exc}); delete it to start afresh") from exc


def write_state(state_dir: Path, state: dict[str, Any]) -> None:
    path = state_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(state, indent=2, default=str) + "\n")


def record_champion(state: dict[str, Any], version: str, why: str) -> None:
    """Append a champion to the history (the registry calls this when it moves the alias)."""
    state.setdefault("history", []).append({"version": str(version), "since": now(), "why": why})


@dataclass(frozen=True)
class LastRetrain:
    """What the last `tweet-triage retrain` decided (`decision`: promoted or kept champion)."""

    at: str | None = None
    decision: str | None = None
    why: str | None = None
    challenger_version: str | None = None
    report: str | None = None

    @property
    def promoted(self) -> int:
        """1 promoted, 0 kept the champion, -1 unknown (the /metrics gauge)."""
        return {PROMOTED: 1, KEPT: 0}.get(self.decision or "", -1)


@dataclass(frozen=True)
class LoopStatus:
    """The loop at a glance: the champion, since when, the last retrain, labels gathered since."""

    champion: str | None
    champion_since: str | None
    champion_age_seconds: float | None
    last_retrain: LastRetrain | None
    labels_since_retrain: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_loop_status(
    state_dir: Path, champion: str | None, decided_tweets: int | None = None
) -> LoopStatus:
    """The loop's status for readers; a missing or unreadable state file reads as empty.

    `champion` is the version as the caller resolved it (the registry, or the model an inbox
    serves); `decided_tweets` is how many tweets have a decision now (None: not known here).
    """
    try:
        state = json.loads(state_path(state_dir).read_text())
    except (OSError, ValueError):
        state = {}
    since = next(
        (h["since"] for h in reversed(state.get("history", [])) if h["version"] == champion), None
    )
    age = (datetime.now(UTC) - datetime.fromisoformat(since)).total_seconds() if since else None
    last = state.get("last_retrain")
    known = {f.name for f in fields(LastRetrain)}
    return LoopStatus(
        champion=champion,
        champion_since=since,
        champion_age_seconds=age,
        last_retrain=LastRetrain(**{k: v for k, v in last.items() if k in known}) if last else None,
        labels_since_retrain=(
            None
            if decided_tweets is None
            else decided_tweets - int(state.get("labels_at_last_retrain", 0))
        ),
    )
