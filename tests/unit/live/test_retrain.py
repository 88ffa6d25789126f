"""Retrain, compare, promote: the gate both ways, promote/rollback on a real registry, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.unit.model.conftest import write_splits
from tests.unit.live.conftest import scored
from tweet_triage.config import Settings
from tweet_triage.model.registry import NoModelError, champion_version
from tweet_triage.model.tracking import REGISTERED_MODEL
from tweet_triage.live.retrain import (
    NotEnoughLabelsError,
    RetrainError,
    RetrainOptions,
    assemble_data,
    decision_labels,
    gate,
    loop_status,
    promote,
    retrain,
    rollback,
)
from tweet_triage.live.store import TriageStore


def result(pr_auc: float, missed: float) -> dict[str, Any]:
    return {"metrics": {"pr_auc": pr_auc}, "business": {"time_missed_min": missed}}


def test_gate_refuses_a_worse_or_barely_better_challenger_and_promotes_a_better_one() -> None:
    champion = result(0.80, 10.0)
    refused, why = gate(champion, result(0.78, 9.0), "pr_auc", 0.005)
    assert not refused and "does not beat" in why
    refused, _ = gate(champion, result(0.803, 9.0), "pr_auc", 0.005)
    assert not refused
    promoted, why = gate(champion, result(0.82, 10.0), "pr_auc", 0.005)
    assert promoted and "beats" in why
    refused, why = gate(champion, result(0.90, 10.5), "pr_auc", 0.005)
    assert not refused and "time missed" in why
    first, why = gate(None, result(0.5, 99.0), "pr_auc", 0.005)
    assert first and "no champion" in why


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
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


def test_promote_and_rollback_move_the_champion_and_never_unset_it(
    settings: Settings, tmp_path: Path
) -> None:
    one, two, three = _register(settings, 3, tmp_path)
    promote(settings, one)
    promote(settings, two)
    promote(settings, three)
    assert champion_version(settings) == three
    assert rollback(settings)["champion"] == two
    assert champion_version(settings) == two
    assert rollback(settings)["champion"] == one
    with pytest.raises(RetrainError, match="nothing to roll back to"):
        rollback(settings)
    assert champion_version(settings) == one
    with pytest.raises(NoModelError, match=r"version 42 of .* does not exist"):
        promote(settings, "42")
    assert champion_version(settings) == one
    assert loop_status(settings)["champion"] == one


def _decide(store: TriageStore, ids: list[int], decision: str) -> None:
    user = store.user_by_name("alice") or store.add_user("alice", "x")
    store.upsert_scored([scored(i, 0.6, text=f"why is my app broken {i}") for i in ids])
    for i in ids:
        store.decide(str(i), user.id, decision)


def test_retrain_refuses_with_too_few_new_labels(
    settings: Settings, store: TriageStore, tmp_path: Path
) -> None:
    write_splits(settings.data_dir)
    _decide(store, [1, 2, 3], "handled")
    with pytest.raises(NotEnoughLabelsError, match=r"only 3 new label.* at least 50"):
        retrain(settings, store, RetrainOptions(min_new_labels=50))


def test_decisions_round_trip_into_the_challengers_data(
    settings: Settings, store: TriageStore, tmp_path: Path
) -> None:
    write_splits(settings.data_dir)
    ids = list(range(10**6, 10**6 + 40))
    _decide(store, ids[:30], "handled")
    _decide(store, ids[30:], "not_for_us")
    decisions, counts = decision_labels(store, annotated_ids={str(ids[0])})
    assert counts["conflicts"] == {"decision_outranked_by_annotation": 1}
    assert len(decisions) == 39 and decisions["sentiment"].isna().all()
    sizes = assemble_data(settings.data_dir, decisions, tmp_path / "assembled", 0.2)
    train = pd.read_parquet(tmp_path / "assembled" / "splits" / "train")
    test = pd.read_parquet(tmp_path / "assembled" / "splits" / "test")
    assert sizes["train_recent_labels"] + sizes["test_recent_labels"] == 39
    assert not set(train["id"]) & set(test["id"])
    assert (
        sizes["test"] == 24 + sizes["test_recent_labels"]
        and sizes["train"] == 48 + sizes["train_recent_labels"]
    )


def test_one_class_retrain_is_one_clear_error(
    settings: Settings, store: TriageStore, tmp_path: Path
) -> None:
    from tweet_triage.model.data import ModelDataError

    write_splits(settings.data_dir)
    train = settings.data_dir / "splits" / "train" / "part-00000.parquet"
    frame = pd.read_parquet(train)
    frame[frame["needs_support"] == 1].to_parquet(train, index=False)
    _decide(store, list(range(500, 560)), "handled")
    with pytest.raises(ModelDataError, match="one class only"):
        retrain(settings, store, RetrainOptions(min_new_labels=10, eval_share=0.0))


def test_dashboard_and_metrics_show_the_loop(
    store: TriageStore, alice, scorer, password_hash, tmp_path: Path
) -> None:
    import json

    from fastapi.testclient import TestClient

    from tests.unit.live.conftest import log_in
    from tweet_triage.live.web.app import InboxConfig, create_app
    from tweet_triage.live.web.scoring import ModelProvider
    from tweet_triage.live.web.security import new_api_token, token_digest

    state = tmp_path / "state" / "triage" / "loop.json"
    state.parent.mkdir(parents=True)
    state.write_text(
        json.dumps(
            {
                "history": [{"version": "7", "since": "2026-01-01T00:00:00+00:00", "why": "x"}],
                "labels_at_last_retrain": 0,
                "last_retrain": {
                    "at": "2026-01-02T00:00:00+00:00",
                    "decision": "kept champion",
                    "why": "the challenger's pr_auc does not beat",
                },
            }
        )
    )
    _decide(store, [11], "handled")
    model = ModelProvider(resolve=lambda: ("7", None), load=lambda _source: scorer)
    app = create_app(store, model, InboxConfig(state_dir=tmp_path / "state"))
    with TestClient(app) as client:
        log_in(client)
        page = client.get("/dashboard").text
        assert "Learning loop" in page and "kept champion" in page
        assert "1 label(s) since the last retrain" in page
        token = new_api_token()
        store.add_token("alice", "t", token_digest(token))
        metrics = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    assert "triage_loop_labels_since_retrain 1" in metrics
    assert "triage_loop_last_retrain_promoted 0" in metrics
    assert "triage_drift_passed -1" in metrics
