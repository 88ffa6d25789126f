"""The local live half as services: what runs, in which order, and what status says."""

from __future__ import annotations

from pathlib import Path

import pytest

from tweet_triage.config import Settings
from tweet_triage.live import services
from tweet_triage.live.scorer_status import scorer_stats_path
from tweet_triage.model.registry import NoModelError


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        TT_STATE_DIR=tmp_path / "state",
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        triage_score_every=15,
        triage_follow_seconds=3,
    )


def test_follower_then_scorer_then_inbox_with_the_settings_intervals(settings: Settings) -> None:
    parts = services.live_services(settings)
    assert [p.name for p in parts] == [services.FOLLOWER, services.SCORER, services.INBOX]
    assert parts[0].args == ("sync", "--follow", "--every", "3")
    assert parts[1].args == ("triage", "score", "--every", "15s")
    assert parts[2].args == ("triage", "serve")


def test_nothing_starts_without_a_model(settings: Settings) -> None:
    with pytest.raises(NoModelError, match="train one first"):
        services.start_live(settings)
    assert not any((settings.state_dir / "triage").glob("*.pid"))


def test_status_when_nothing_runs_and_after_scorer_batches(settings: Settings) -> None:
    status = services.live_status(settings)
    assert not any(status[p.name]["running"] for p in services.live_services(settings))
    assert status["scorer_stats"] is None
    lines = services.status_lines(status)
    assert lines[0].startswith("triage-follow: not running")
    assert lines[-1] == "inbox: http://127.0.0.1:8080/"

    from tweet_triage.live.batch import ScorerStats

    ScorerStats(batches=3, scored=12, flagged=4, model_version="2").save(
        scorer_stats_path(settings.state_dir)
    )
    lines = services.status_lines(services.live_status(settings))
    assert "scorer: 3 batch(es), 12 scored, 4 flagged, 0 quarantined, model 2" in lines[3]
    assert services.stop_live(settings) == [
        f"{name}: not running" for name in (services.INBOX, services.SCORER, services.FOLLOWER)
    ]
