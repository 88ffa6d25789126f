"""A migrated SQLite triage store per test, and tweets as the streaming scorer writes them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tweet_triage.triage.store import ScoredRecord, TriageStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def scored(
    tweet_id: int | str,
    p: float,
    *,
    tags: tuple[str, ...] = ("jwst",),
    minutes_ago: float = 0.0,
    received: bool = True,
    threshold: float = 0.5,
    text: str | None = None,
    version: str = "1",
) -> ScoredRecord:
    arrived = NOW - timedelta(minutes=minutes_ago)
    return ScoredRecord(
        id=str(tweet_id),
        created_at=arrived - timedelta(seconds=5),
        received_at=arrived if received else None,
        scored_at=arrived + timedelta(seconds=30),
        text=text or f"tweet {tweet_id}: the telescope page does not load",
        rule_tags=list(tags),
        p_needs_support=p,
        flagged=p >= threshold,
        model_version=version,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TriageStore]:
    triage_store = TriageStore(f"sqlite:///{tmp_path / 'triage' / 'triage.db'}")
    triage_store.migrate()
    yield triage_store
    triage_store.close()
