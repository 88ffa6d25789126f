"""Where MLflow keeps artifacts: beside the SQLite store, never inside the installed code."""

from __future__ import annotations

from pathlib import Path

from tests.unit.model.conftest import tiny_settings
from tweet_triage.errors import TriageError
from tweet_triage.model.tracking import MLRUNS_DIR, artifact_location


def test_artifacts_live_beside_the_sqlite_store(tmp_path: Path) -> None:
    store = tmp_path / "state" / "mlflow.db"
    assert artifact_location(f"sqlite:///{store}") == (tmp_path / "state" / "artifacts").as_uri()


def test_the_checkouts_default_store_keeps_mlruns_artifacts() -> None:
    uri = f"sqlite:///{MLRUNS_DIR / 'mlflow.db'}"
    assert artifact_location(uri) == (MLRUNS_DIR / "artifacts").as_uri()


def test_a_tracking_server_chooses_its_own_artifact_store() -> None:
    assert artifact_location("http://mlflow.internal:5000") is None


def test_a_model_folder_registers_as_the_first_champion_then_as_a_challenger(
    trained_model: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from tweet_triage.cli import app
    from tweet_triage.model.registry import champion_version, register_folder
    from tweet_triage.model.tracking import tracking_uri

    settings = tiny_settings(tmp_path, tmp_path / "data")
    assert register_folder(settings, trained_model) == ("1", "1")
    assert register_folder(settings, trained_model) == ("2", "1")  # the champion stays
    assert champion_version(settings) == "1"
    assert artifact_location(tracking_uri(settings)) == (tmp_path / "artifacts").as_uri()
    assert any((tmp_path / "artifacts").iterdir())

    env = {"MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri, "TT_IGNORE_DOTENV": "1"}
    done = CliRunner().invoke(app, ["model", "register", str(trained_model)], env=env)
    assert done.exit_code == 0, done.output
    assert "registered version 3; champion: version 1" in done.output
    missing = CliRunner().invoke(app, ["model", "register", str(tmp_path / "none")], env=env)
    assert isinstance(missing.exception, TriageError)  # the CLI's main prints it, exits 2
    assert "does not exist" in str(missing.exception)
