"""The loop seen from the live half: the store's decisions exported with their texts for
retrain, and the inbox's dashboard card and /metrics reading the loop's state."""

from __future__ import annotations

from pathlib import Path

from tests.unit.live.conftest import scored
from tweet_triage.data.decisions import DECISION_COLUMNS
from tweet_triage.live.labels import decisions_with_text
from tweet_triage.live.store import TriageStore
from tweet_triage.model.retrain import RETRAIN_COLUMNS


def _decide(store: TriageStore, ids: list[int], decision: str) -> None:
    user = store.user_by_name("alice") or store.add_user("alice", "x")
    store.upsert_scored([scored(i, 0.6, text=f"why is my app broken {i}") for i in ids])
    for i in ids:
        store.decide(str(i), user.id, decision)


def test_decisions_leave_the_store_with_their_texts(store: TriageStore) -> None:
    _decide(store, [1, 2], "handled")
    _decide(store, [2, 3], "not_for_us")  # tweet 2 decided twice: both rows, one tweet
    frame = decisions_with_text(store)
    assert list(frame.columns) == [*DECISION_COLUMNS, "text"] == list(RETRAIN_COLUMNS)
    assert len(frame) == 4 and store.count_decided_tweets() == 3
    rows = frame.set_index(["id", "decision"])
    assert rows.loc[("3", "not_for_us"), "needs_support"] == 0
    assert rows.loc[("1", "handled"), "text"] == "why is my app broken 1"


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
