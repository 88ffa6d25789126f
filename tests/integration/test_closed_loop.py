"""The closed loop as a user runs it: decisions in the inbox -> export -> retrain -> compare ->
promote or keep -> rollback; the registry's champion is never left unset.

Real MLflow registry (SQLite), the real training code on a tiny backbone, the inbox app over a
real SQLite store; the CLI commands run in-process through Typer's runner.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.unit.live.conftest import KeywordScorer, log_in, scored
from tests.unit.model.conftest import build_tiny_backbone, write_splits
from tweet_triage.cli import app as cli
from tweet_triage.config import load_settings
from tweet_triage.live.store import TriageStore
from tweet_triage.live.web.app import InboxConfig, create_app
from tweet_triage.live.web.scoring import ModelProvider
from tweet_triage.live.web.security import hash_password
from tweet_triage.model.registry import NothingToRollBackError, champion_version
from tweet_triage.model.retrain import NotEnoughLabelsError

pytestmark = pytest.mark.integration


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "DATA_DIR": str(tmp_path / "data"),
        "MODEL_DIR": str(tmp_path / "model"),
        "REPORTS_DIR": str(tmp_path / "reports"),
        "TT_STATE_DIR": str(tmp_path / "state"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path / 'triage.db'}",
        "MODEL_NAME_OR_PATH": str(build_tiny_backbone(tmp_path / "tiny-bert")),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    write_splits(tmp_path / "data")
    return values


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


TRAIN = ("--max-steps", "4", "--bootstrap", "50")


def test_decisions_retrain_promote_rollback(env: dict[str, str], tmp_path: Path) -> None:
    settings = load_settings()
    store = TriageStore(env["TRIAGE_DATABASE_URL"])
    store.migrate()
    store.add_user("alice", hash_password("correct horse battery"))
    ids = [str(2 * 10**18 + i) for i in range(60)]
    texts = ["why is my app broken again", "love the app !"]
    store.upsert_scored([scored(i, 0.6, text=texts[n % 2]) for n, i in enumerate(ids)])

    # The team answers on the label page, as in the browser.
    model = ModelProvider(resolve=lambda: ("1", None), load=lambda _s: KeywordScorer())
    with TestClient(create_app(store, model, InboxConfig(state_dir=tmp_path / "state"))) as web:
        log_in(web)
        for _ in range(60):
            page = web.get("/label").text
            tweet_id = page.split('data-id="')[1].split('"')[0]
            csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
            answer = "yes" if "broken" in page.split('class="text">')[1][:60] else "no"
            web.post("/label", data={"csrf_token": csrf, "tweet_id": tweet_id, "answer": answer})
        assert "Nothing left to label" in web.get("/label").text
    assert len(store.decisions()) == 60

    _run("triage", "export-decisions")
    exported = pd.read_csv(Path(env["DATA_DIR"]) / "labels" / "decisions.csv", dtype={"id": str})
    assert set(exported["id"]) == set(ids) and set(exported["decided_by"]) == {"alice"}

    # No champion yet: the first challenger becomes champion.
    out = _run("retrain", "--min-new-labels", "50", *TRAIN)
    assert "promoted" in out and champion_version(settings) == "1"
    report = json.loads((Path(env["REPORTS_DIR"]) / "retrain" / "latest.json").read_text())
    assert report["labels"]["decisions"] == 60 and report["data"]["train_recent_labels"] > 0
    assert report["data"]["train"] == 48 + report["data"]["train_recent_labels"]

    # No new labels: refused, and says so.
    with pytest.raises(NotEnoughLabelsError, match="only 0 new label"):
        _run("retrain", "--min-new-labels", "1", *TRAIN)

    # A challenger that must beat the champion by an impossible margin is refused.
    out = _run("retrain", "--force", "--margin", "2", *TRAIN)
    assert "kept champion" in out and champion_version(settings) == "1"
    report = json.loads((Path(env["REPORTS_DIR"]) / "retrain" / "latest.json").read_text())
    assert report["challenger_version"] == "2" and report["champion"] is not None
    assert "does not beat" in report["why"]
    assert "# Retrain" in (Path(env["REPORTS_DIR"]) / "retrain" / "latest.md").read_text()

    # A challenger given a negative margin (and no more time missed) is promoted ...
    out = _run("retrain", "--force", "--margin", "-2", *TRAIN)
    report = json.loads((Path(env["REPORTS_DIR"]) / "retrain" / "latest.json").read_text())
    if report["decision"] == "promoted":
        assert champion_version(settings) == "3"
    else:  # ... unless it would miss more of the team's time: the other half of the gate.
        assert "time missed" in report["why"]
        _run("model", "promote", "--version", "3")
    assert champion_version(settings) == "3"

    # ... and rollback restores the one before it.
    assert "rolled back from 3" in _run("model", "rollback")
    assert champion_version(settings) == "1"
    status = json.loads(_run("model", "status"))
    assert status["champion"] == "1" and status["labels_since_retrain"] == 0
    with pytest.raises(NothingToRollBackError, match="nothing to roll back to"):
        _run("model", "rollback")
    assert champion_version(settings) == "1"
