"""Injected faults: what can go wrong on X's side, set per run or at run time.

Drop the connection after every N tweets, answer 503 or 429 to the next K connection
attempts, stall (no bytes at all, not even keep-alives) for S seconds after N more tweets,
send one malformed line after N more tweets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tweet_triage_local.xapi.state import StandInError, Stats


@dataclass
class Faults:
    """Injected faults. `None` / 0 means off."""

    drop_every: int | None = None  # close each connection after N tweets sent on it
    fail_status: int | None = None  # 503 or 429 ...
    fail_count: int = 0  # ... for the next K connection attempts
    stall_after: int | None = None  # once: after N more tweets, send nothing ...
    stall_seconds: float = 0.0  # ... for S seconds
    malformed_after: int | None = None  # once: after N more tweets, one malformed line

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial change (JSON from the control endpoint or CLI), validating it."""
        unknown = set(changes) - set(asdict(self))
        if unknown:
            raise StandInError(f"unknown fault setting(s) {sorted(unknown)}; use {_FAULT_KEYS}")
        merged = {**asdict(self), **changes}
        for key in ("drop_every", "stall_after", "malformed_after"):
            merged[key] = _optional_count(key, merged[key])
        merged["fail_count"] = _optional_count("fail_count", merged["fail_count"]) or 0
        if merged["fail_status"] not in (None, 429, 503):
            raise StandInError(f"fail_status={merged['fail_status']!r}: use 503 or 429")
        if merged["fail_count"] and merged["fail_status"] is None:
            raise StandInError("fail_count needs fail_status (503 or 429)")
        try:
            merged["stall_seconds"] = float(merged["stall_seconds"])
        except (TypeError, ValueError) as exc:
            raise StandInError(f"stall_seconds={merged['stall_seconds']!r}: not a number") from exc
        if merged["stall_seconds"] < 0:
            raise StandInError("stall_seconds must be >= 0")
        if merged["stall_after"] is not None and merged["stall_seconds"] == 0:
            raise StandInError("stall_after needs stall_seconds > 0")
        for key, value in merged.items():
            setattr(self, key, value)


_FAULT_KEYS = ", ".join(Faults.__dataclass_fields__)


def _optional_count(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise StandInError(f"{name}={value!r}: use a whole number >= 0 (or null to turn it off)")
    return value


def parse_fault_spec(spec: str) -> dict[str, Any]:
    """CLI fault syntax -> Faults fields.

    `drop-every=N`, `fail=503:K` (or `fail=429:K`; K defaults to 1), `stall=N:S` (after N tweets,
    S seconds), `malformed-after=N`.
    """
    name, _, value = spec.partition("=")
    try:
        if name == "drop-every":
            return {"drop_every": int(value)}
        if name == "fail":
            status, _, count = value.partition(":")
            return {"fail_status": int(status), "fail_count": int(count or 1)}
        if name == "stall":
            after, _, seconds = value.partition(":")
            return {"stall_after": int(after), "stall_seconds": float(seconds)}
        if name == "malformed-after":
            return {"malformed_after": int(value)}
    except ValueError as exc:
        raise StandInError(f"--fault {spec!r}: {exc}; see tweet-triage xapi serve --help") from exc
    raise StandInError(
        f"--fault {spec!r} is not a fault; use drop-every=N, fail=503:K, fail=429:K, "
        "stall=N:SECONDS or malformed-after=N"
    )


class FaultPlan:
    """The faults in force and the tweets left before each one-shot fault fires."""

    def __init__(self, faults: dict[str, Any] | None = None) -> None:
        self.faults = Faults()
        self.faults.update(faults or {})
        self.stall_left: int | None = self.faults.stall_after
        self.malformed_left: int | None = self.faults.malformed_after

    def update(self, changes: dict[str, Any]) -> None:
        self.faults.update(changes)
        if "stall_after" in changes:
            self.stall_left = self.faults.stall_after
        if "malformed_after" in changes:
            self.malformed_left = self.faults.malformed_after

    def refusal(self) -> int | None:
        """The status (503/429) the next connection attempt gets, counting it down."""
        if self.faults.fail_count > 0 and self.faults.fail_status is not None:
            self.faults.fail_count -= 1
            return self.faults.fail_status
        return None

    def budget(self, sent_here: int) -> int | None:
        """How many more tweets may go out before a fault is due (None: no limit)."""
        limits = [
            limit
            for limit in (
                None if self.faults.drop_every is None else self.faults.drop_every - sent_here,
                self.stall_left,
                self.malformed_left,
            )
            if limit is not None
        ]
        return max(0, min(limits)) if limits else None

    def sent(self, count: int) -> None:
        if self.stall_left is not None:
            self.stall_left -= count
        if self.malformed_left is not None:
            self.malformed_left -= count

    def due(self, sent_here: int, stats: Stats) -> str | None:
        """Which fault fires now ('drop', 'stall', 'malformed' or None), counted in `stats`."""
        if self.faults.drop_every is not None and sent_here >= self.faults.drop_every:
            stats.drops += 1
            return "drop"
        if self.stall_left is not None and self.stall_left <= 0:
            self.stall_left = None
            self.faults.stall_after = None
            stats.stalls += 1
            return "stall"
        if self.malformed_left is not None and self.malformed_left <= 0:
            self.malformed_left = None
            self.faults.malformed_after = None
            stats.malformed_lines += 1
            return "malformed"
        return None
