"""The stand-in's setting errors, counters and the state files that outlive a restart."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tweet_triage.atomic_files import write_atomic
from tweet_triage.errors import TriageError

log = logging.getLogger(__name__)


class StandInError(TriageError):
    """A stand-in setting is invalid (bad start, fault spec, rate); the message says which."""


@dataclass
class Stats:
    tweets_sent: int = 0
    connections: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    drops: int = 0
    stalls: int = 0
    malformed_lines: int = 0
    keepalives: int = 0
    ids_sent: list[str] = field(default_factory=list)

    def refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1


@dataclass(frozen=True)
class StateFiles:
    """JSON files in the state folder, replaced atomically; none at all without a folder."""

    folder: Path | None

    def read(self, name: str) -> Any:
        if self.folder is None:
            return None
        path = self.folder / name
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("ignoring unreadable %s (%s)", path, exc)
            return None

    def write(self, name: str, payload: Any) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.folder / name, json.dumps(payload), mode=0o600)  # may hold tokens
