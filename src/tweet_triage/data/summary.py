"""The small JSON summary each stage writes, read by the notebooks, the report and the docs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tweet_triage.data.paths import DataPaths


@dataclass
class StageSummary:
    """Rows in and out of one stage and why the difference: every row is accounted for."""

    stage: str
    rows_in: int
    rows_out: int
    reasons: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    finished_at: str = ""
    notes: list[str] = field(default_factory=list)

    def as_text(self) -> str:
        """One line per reason, then the notes (what a reader must not miss), for the console."""
        lines = [
            f"{self.stage}: {self.rows_in:,} in -> {self.rows_out:,} out ({self.seconds:.1f} s)"
        ]
        lines += [f"  {reason}: {count:,}" for reason, count in sorted(self.reasons.items())]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def summary_path(paths: DataPaths, stage: str) -> Path:
    return paths.summaries / f"{stage}.json"


def write_summary(paths: DataPaths, summary: StageSummary) -> Path:
    """Write `summaries/<stage>.json`, replacing the previous run's."""
    summary.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    path = summary_path(paths, summary.stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(summary), indent=2, default=str) + "\n")
    return path


def read_summary(paths: DataPaths, stage: str) -> StageSummary:
    return StageSummary(**json.loads(summary_path(paths, stage).read_text()))
