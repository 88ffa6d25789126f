"""Where MLflow keeps artifacts: beside the SQLite store, never inside the installed code."""

from __future__ import annotations

from pathlib import Path

from tweet_triage.model.tracking import MLRUNS_DIR, artifact_location


def test_artifacts_live_beside_the_sqlite_store(tmp_path: Path) -> None:
    store = tmp_path / "state" / "mlflow.db"
    assert artifact_location(f"sqlite:///{store}") == (tmp_path / "state" / "artifacts").as_uri()


def test_the_checkouts_default_store_keeps_mlruns_artifacts() -> None:
    uri = f"sqlite:///{MLRUNS_DIR / 'mlflow.db'}"
    assert artifact_location(uri) == (MLRUNS_DIR / "artifacts").as_uri()


def test_a_tracking_server_chooses_its_own_artifact_store() -> None:
    assert artifact_location("http://mlflow.internal:5000") is None
