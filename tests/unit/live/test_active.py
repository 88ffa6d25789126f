"""Active labelling: the strategies, the held-out random share, the label page."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.unit.live.conftest import log_in, scored
from tweet_triage.live.active import next_from_store
from tweet_triage.live.store import TriageStore
from tweet_triage.model.active import (
    EVALUATION,
    TRAINING,
    ActiveLabellingError,
    select_for_labelling,
)
from tweet_triage.model.evaluation_pool import in_evaluation_pool


def candidates(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"id": [str(5 * 10**17 + i) for i in range(n)], "p_needs_support": rng.random(n)}
    )


def test_uncertain_comes_closest_to_the_threshold_first_and_is_all_trainable() -> None:
    picks = select_for_labelling(candidates(), threshold=0.3, size=20, strategy="uncertain")
    distance = (picks["p_needs_support"] - 0.3).abs()
    assert distance.is_monotonic_increasing and distance.max() < 0.1
    assert (picks["pool"] == TRAINING).all()
    assert not any(in_evaluation_pool(i) for i in picks["id"])


def test_mixed_keeps_a_random_share_apart_for_evaluation() -> None:
    frame = candidates()
    picks = select_for_labelling(
        frame, threshold=0.5, size=50, strategy="mixed", random_share=0.2, seed=3
    )
    held = picks[picks["pool"] == EVALUATION]
    assert len(picks) == 50 and len(held) == 10
    assert all(in_evaluation_pool(i) for i in held["id"])
    # Random picks are not the uncertain ones: their distances spread over the whole range.
    assert (held["p_needs_support"] - 0.5).abs().max() > 0.2
    again = select_for_labelling(
        frame, threshold=0.5, size=50, strategy="mixed", random_share=0.2, seed=3
    )
    assert again["id"].tolist() == picks["id"].tolist()


def test_random_is_seeded_and_flags_the_evaluation_pool() -> None:
    one = select_for_labelling(candidates(), threshold=0.5, size=30, strategy="random", seed=1)
    two = select_for_labelling(candidates(), threshold=0.5, size=30, strategy="random", seed=2)
    assert one["id"].tolist() != two["id"].tolist()
    assert (one["pool"] == EVALUATION).tolist() == [in_evaluation_pool(i) for i in one["id"]]


def test_unknown_strategy_and_bad_share_are_clear_errors() -> None:
    with pytest.raises(ActiveLabellingError, match="not one of uncertain, random, mixed"):
        select_for_labelling(candidates(), threshold=0.5, size=3, strategy="smart")
    with pytest.raises(ActiveLabellingError, match="between 0 and 1"):
        select_for_labelling(candidates(), threshold=0.5, size=3, random_share=2)


def test_store_picks_the_most_uncertain_undecided_tweet(store: TriageStore, alice) -> None:
    ids = [i for i in range(100, 200) if not in_evaluation_pool(str(i))][:4]
    store.upsert_scored([scored(ids[0], 0.8), scored(ids[1], 0.55), scored(ids[2], 0.1)])
    store.upsert_scored([scored(ids[3], 0.5)])
    store.decide(str(ids[3]), alice.id, "handled")
    tweet, pool = next_from_store(store, random_share=0.0)  # type: ignore[misc]
    assert (tweet.id, pool) == (str(ids[1]), TRAINING)  # threshold = lowest flagged = 0.5
    tweet, _ = next_from_store(store, random_share=0.0, skip={str(ids[1])})  # type: ignore[misc]
    assert tweet.id == str(ids[0])


def test_the_store_is_read_a_little_first_and_all_of_the_window_only_when_needed(
    store: TriageStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    training = [i for i in range(1000, 2000) if not in_evaluation_pool(str(i))]
    evaluation = [i for i in range(1000, 2000) if in_evaluation_pool(str(i))]
    # closest to the threshold (0.5, the lowest flagged score): 30 evaluation tweets, then 60
    # trainable ones
    store.upsert_scored([scored(i, 0.5 + n / 1000) for n, i in enumerate(evaluation[:30])])
    store.upsert_scored([scored(i, 0.6 + n / 1000) for n, i in enumerate(training[:60])])
    limits: list[int] = []
    read = store.undecided

    def counted(**kwargs: Any) -> Any:
        limits.append(kwargs["limit"])
        return read(**kwargs)

    monkeypatch.setattr(store, "undecided", counted)
    tweet, pool = next_from_store(store, random_share=0.0, window=200)  # type: ignore[misc]
    assert (tweet.id, pool) == (str(training[0]), TRAINING)
    assert limits == [20, 200]  # the first 20 were all evaluation tweets
    limits.clear()
    skip = {str(i) for i in evaluation[:30]}
    tweet, pool = next_from_store(store, random_share=0.0, skip=skip, window=230)  # type: ignore[misc]
    assert tweet.id == str(training[0]) and limits == [50]  # a short read past the skipped


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match
    return match.group(1)


def test_label_page_answers_skips_and_undoes(client: TestClient, store: TriageStore, alice) -> None:
    ids = [i for i in range(300, 400) if not in_evaluation_pool(str(i))][:2]
    store.upsert_scored([scored(ids[0], 0.52), scored(ids[1], 0.9)])
    log_in(client)
    page = client.get("/label").text
    assert f'data-id="{ids[0]}"' in page and "<kbd>y</kbd>" in page
    csrf = _csrf(page)
    form = {"csrf_token": csrf, "tweet_id": str(ids[0]), "skip": ""}
    answered = client.post("/label", data={**form, "answer": "yes"}, follow_redirects=False)
    assert answered.status_code == 303 and f"last={ids[0]}" in answered.headers["location"]
    decisions = store.decisions()
    assert [(d.tweet_id, d.user_name, d.decision) for d in decisions] == [
        (str(ids[0]), "alice", "needed_us")
    ]
    page = client.get(answered.headers["location"]).text
    assert f'data-id="{ids[1]}"' in page and "Undo" in page
    skipped = client.post(
        "/label",
        data={"csrf_token": csrf, "tweet_id": str(ids[1]), "skip": "", "answer": "skip"},
    )
    assert "Nothing left to label" in skipped.text
    undone = client.post("/label/undo", data={"csrf_token": csrf, "last": str(ids[0])})
    assert undone.status_code == 200 and store.decisions() == []
    assert f'data-id="{ids[0]}"' in undone.text
    refused = client.post("/label", data={**form, "answer": "yes", "csrf_token": "forged"})
    assert refused.status_code == 403 and store.decisions() == []
    unknown = client.post("/label", data={**form, "tweet_id": "404", "answer": "no"})
    assert unknown.status_code == 404


def test_label_page_needs_a_login(client: TestClient) -> None:
    response = client.get("/label", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_export_ranks_unlabelled_tweets_with_the_model(tmp_path) -> None:
    from tests.unit.model.conftest import build_learned_scorer, random_tweets
    from tweet_triage.config import Settings
    from tweet_triage.model.active import export_for_labelling

    model = build_learned_scorer(tmp_path / "model")
    texts, _ = random_tweets(120, seed=5)
    labelled = tmp_path / "data" / "labelled"
    labelled.mkdir(parents=True)
    pd.DataFrame(
        {
            "id": [str(7 * 10**17 + i) for i in range(120)],
            "created_at": pd.date_range("2026-01-01", periods=120, freq="h", tz="UTC"),
            "text": texts,
            "labelled": [i % 4 == 0 for i in range(120)],
        }
    ).to_parquet(labelled / "part-0.parquet", index=False)
    settings = Settings(data_dir=tmp_path / "data", TT_STATE_DIR=tmp_path / "state")
    found = export_for_labelling(
        settings,
        strategy="mixed",
        size=20,
        seed=1,
        random_share=0.25,
        candidates=1000,
        output=None,
        model=str(model),
    )
    assert found["rows"] == 20 and found["candidates_scored"] == 90
    written = pd.read_csv(found["output"], dtype={"id": str})
    assert list(written.columns) == [
        "id",
        "created_at",
        "text",
        "sentiment",
        "pool",
        "p_needs_support",
    ]
    assert written["sentiment"].isna().all() and (written["pool"] == EVALUATION).sum() == 5
    assert not set(written["id"]) & {str(7 * 10**17 + i) for i in range(0, 120, 4)}
