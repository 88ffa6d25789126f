"""Parameters and option choices of the model stage, importable without numpy or torch.

The CLI builds `train`'s and `evaluate`'s options from these at start-up, and the streamer host
loads that CLI with the core dependencies only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tweet_triage.errors import TriageError

OBJECTIVES = ("weighted", "three_class")
CALIBRATIONS = ("auto", "temperature", "isotonic", "none")
STRATEGIES = ("f-beta", "cost", "capacity")
CAPACITY_UNITS = ("tweets", "minutes")
# What runs the network (model.inference): auto, torch, ONNX Runtime int8 or fp32.
ENGINES = ("auto", "torch", "onnx", "onnx-fp32")


@dataclass(frozen=True)
class BusinessParams:
    """Parameters of the business metrics; defaults are the original's (135 and 40 wpm)."""

    reading_wpm: float = 135.0
    typing_wpm: float = 40.0
    reply_length_ratio: float = 1.0  # reply words per tweet word
    response_fraction: float = 1.0  # share of needs-support tweets that get a typed reply
    false_positive_reply_fraction: float = 0.0  # typing charged to a wrongly flagged tweet

    def __post_init__(self) -> None:
        if self.reading_wpm <= 0 or self.typing_wpm <= 0:
            raise ValueError("reading and typing speeds must be positive words per minute")
        for name in ("reply_length_ratio", "response_fraction", "false_positive_reply_fraction"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class CapacityError(TriageError):
    """A capacity setting the simulation cannot use."""


@dataclass(frozen=True)
class Capacity:
    """The team's reading capacity per hour, in tweets or in minutes of work."""

    per_hour: float
    unit: str = "tweets"

    def __post_init__(self) -> None:
        if not self.per_hour > 0:
            raise CapacityError(
                f"--capacity must be above 0 (got {self.per_hour:g}); give the tweets (or, "
                "with --capacity-unit minutes, the minutes of work) the team can read per hour"
            )
        if self.unit not in CAPACITY_UNITS:
            raise CapacityError(f"--capacity-unit must be one of {', '.join(CAPACITY_UNITS)}")

    def label(self) -> str:
        return f"{self.per_hour:g} {self.unit}/hour"
