"""The registry owns the champion alias: promote and rollback on a real (SQLite) MLflow
registry, the champion never unset, and the loop's state file as readers see it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tweet_triage.config import Settings
from tweet_triage.model.loop_state import LoopStateError, read_loop_status, read_state, state_path
from tweet_triage.model.registry import (
    REGISTERED_MODEL,
    NoModelError,
    NothingToRollBackError,
    champion_version,
    promote,
    rollback,
)


def loop_settings(tmp_path: Path) -> Settings:
    """Settings whose data, reports, state and MLflow registry all live under tmp_path."""
    return Settings(
        data_dir=tmp_path / "data",
        model_dir=tmp_path / "model",
        reports_dir=tmp_path / "reports",
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        TT_STATE_DIR=tmp_path / "state",
    )


def _register(settings: Settings, n: int, tmp_path: Path) -> list[str]:
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    client = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    client.create_registered_model(REGISTERED_MODEL)
    versions = []
    for i in range(n):
        source = tmp_path / f"artifact-{i}"
        source.mkdir()
        versions.append(str(client.create_model_version(REGISTERED_MODEL, str(source)).version))
    return versions


def test_promote_and_rollback_move_the_champion_and_never_unset_it(tmp_path: Path) -> None:
    settings = loop_settings(tmp_path)
    one, two, three = _register(settings, 3, tmp_path)
    promote(settings, one)
    promote(settings, two)
    promote(settings, three)
    assert champion_version(settings) == three
    assert rollback(settings)["champion"] == two
    assert champion_version(settings) == two
    assert rollback(settings)["champion"] == one
    with pytest.raises(NothingToRollBackError, match="nothing to roll back to"):
        rollback(settings)
    assert champion_version(settings) == one
    with pytest.raises(NoModelError, match=r"version 42 of .* does not exist"):
        promote(settings, "42")
    assert champion_version(settings) == one
    status = read_loop_status(settings.state_dir, champion_version(settings))
    assert status.champion == one and "rollback from 2" in json.dumps(
        json.loads(state_path(settings.state_dir).read_text())["history"][-1]
    )
    assert status.champion_age_seconds is not None and status.champion_age_seconds >= 0


def test_loop_status_reads_the_state_file_and_counts_labels_since(tmp_path: Path) -> None:
    path = state_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            {
                "history": [{"version": "7", "since": "2026-01-01T00:00:00+00:00", "why": "x"}],
                "labels_at_last_retrain": 5,
                "last_retrain": {"at": "2026-01-02T00:00:00+00:00", "decision": "promoted"},
            }
        )
    )
    status = read_loop_status(tmp_path, "7", decided_tweets=8)
    assert status.champion_since == "2026-01-01T00:00:00+00:00"
    assert status.labels_since_retrain == 3
    assert status.last_retrain is not None and status.last_retrain.promoted == 1
    assert status.as_dict()["last_retrain"]["decision"] == "promoted"
    other = read_loop_status(tmp_path, "8")  # a champion the history does not know
    assert other.champion_since is None and other.labels_since_retrain is None


def test_a_missing_or_damaged_state_file_reads_as_no_loop_yet(tmp_path: Path) -> None:
    assert read_loop_status(tmp_path, None, 4).labels_since_retrain == 4
    state_path(tmp_path).parent.mkdir(parents=True)
    state_path(tmp_path).write_text("{not json")
    status = read_loop_status(tmp_path, "1", 0)
    assert status.last_retrain is None and status.champion_since is None
    with pytest.raises(LoopStateError, match=r"not valid JSON.*delete it"):
        read_state(tmp_path)  # what promote, rollback and retrain read before writing


def test_describe_model_names_the_model_and_its_test_figures(
    tmp_path: Path, trained_model: Path
) -> None:
    import shutil

    import mlflow

    from tweet_triage.model.folder import ModelMeta
    from tweet_triage.model.registry import describe_model

    settings = loop_settings(tmp_path)
    folder = Path(shutil.copytree(trained_model, tmp_path / "copy"))
    meta = ModelMeta.load(folder)
    line = describe_model(settings, folder)
    assert f"threshold {meta.threshold:.3f}" in line and str(folder) in line
    assert "not evaluated on a test split yet" in line

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    with mlflow.start_run() as run:
        mlflow.log_metrics({"test.roc_auc": 0.912, "test.pr_auc": 0.871})
    meta.mlflow = {"run_id": run.info.run_id}
    meta.save(folder)
    assert "test ROC AUC 0.912, PR AUC 0.871" in describe_model(settings, folder)
