"""The typed result of an evaluation, and its file `evaluation.json`.

`evaluate` builds it, `report` and the CLI read it; none of them digs through nested dicts
by key. The per-metric tables (`metrics`, `business`, `slices`) keep metrics.py's shapes,
with typed accessors for what the summary line and the report headline need.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tweet_triage.model.data import ModelDataError
from tweet_triage.model.names import EVALUATION_FILE

# The baselines the model's business metrics are compared with (keys of `business`).
BASELINES = {
    "flag_everything": "flag every tweet",
    "flag_nothing": "flag no tweet",
    "naive_same_rate": "random guessing at the model's flag rate (expected)",
    "naive_50": "random guessing at 50% (expected)",
    "naive_draw": "one seeded random draw (reference)",
}


@dataclass(frozen=True)
class Reduction:
    """The model's cut in the team's time against one baseline, in percent."""

    time_missed: float
    time_wasted: float
    total_lost: float


@dataclass
class EvaluationResult:
    """Needs-support metrics with intervals, business metrics and slices on one split."""

    created_at: str
    model_dir: str
    split: str
    rows_skipped: int
    threshold: float
    objective: str
    metrics: dict[str, Any]
    metrics_at_half: dict[str, Any]
    f2_flag_everything: float
    intervals: dict[str, tuple[float, float]]
    n_bootstrap: int
    business: dict[str, Any]
    slices: dict[str, list[dict[str, Any]]]
    capacity: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    threshold_strategy: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    mlflow: dict[str, Any] = field(default_factory=dict)

    def metric(self, name: str) -> float:
        return float(self.metrics[name])

    def interval(self, name: str) -> tuple[float, float]:
        low, high = self.intervals.get(name, (float("nan"), float("nan")))
        return float(low), float(high)

    @property
    def time_missed_min(self) -> float:
        return float(self.business["model"]["time_missed_min"])

    @property
    def time_wasted_min(self) -> float:
        return float(self.business["model"]["time_wasted_min"])

    def reduction(self, baseline: str) -> Reduction:
        """The model's cut against one of `BASELINES`."""
        cut = self.business["pct_reduction"][baseline]
        return Reduction(
            float(cut["time_missed"]), float(cut["time_wasted"]), float(cut["total_lost"])
        )

    @property
    def total_lost_min(self) -> float:
        return float(self.business["model"]["total_lost_min"])

    def save(self, reports_dir: Path) -> Path:
        data = asdict(self)
        data["metrics_at_0.5"] = data.pop("metrics_at_half")
        path = Path(reports_dir) / EVALUATION_FILE
        path.write_text(json.dumps(data, indent=2, default=str))
        return path

    @classmethod
    def load(cls, reports_dir: Path) -> EvaluationResult:
        path = Path(reports_dir) / EVALUATION_FILE
        if not path.is_file():
            raise ModelDataError(
                f"{path} not found; run `tweet-triage evaluate` (make evaluate) first"
            )
        try:
            data = json.loads(path.read_text())
            data["metrics_at_half"] = data.pop("metrics_at_0.5")
            data["intervals"] = {k: tuple(v) for k, v in data["intervals"].items()}
            return cls(**data)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ModelDataError(
                f"{path} is damaged or from another version ({exc}); run `tweet-triage "
                "evaluate` again"
            ) from exc
