"""The inbox's JSON API (the contract scripts rely on), /healthz and /metrics."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from tests.unit.live.conftest import KeywordScorer, scored
from tweet_triage.live.store import TriageStore
from tweet_triage.live.web.scoring import ModelProvider, ModelUnavailableError
from tweet_triage.model.folder import ModelFolderError


def test_score_answers_one_result_per_text_in_order(api: TestClient) -> None:
    texts = ["the stream is broken", "lovely launch", "help, no video"]
    response = api.post("/api/score", json={"texts": texts})
    assert response.status_code == 200
    results = response.json()
    assert [r["needs_support"] for r in results] == [True, False, True]
    assert [r["p_needs_support"] for r in results] == [0.9, 0.1, 0.9]
    assert {r["model_version"] for r in results} == {"7"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, ["body", "texts"]),
        ({"texts": []}, ["body", "texts"]),
        ({"texts": "one text"}, ["body", "texts"]),
        ({"texts": ["fine", 3]}, ["body", "texts", 1]),
        ({"texts": ["fine", None]}, ["body", "texts", 1]),
        ({"texts": ["fine", ""]}, ["body", "texts", 1]),
        ({"texts": ["fine", "   "]}, ["body", "texts", 1]),
        ({"texts": ["x"] * 9}, ["body", "texts"]),  # the cap is 8 in these tests
        ({"texts": ["x"], "extra": 1}, ["body", "extra"]),
    ],
)
def test_score_refuses_bad_bodies_naming_the_field(
    api: TestClient, scorer: KeywordScorer, body: dict, field: list
) -> None:
    response = api.post("/api/score", json=body)
    assert response.status_code == 422
    assert field in [error["loc"] for error in response.json()["detail"]]
    assert scorer.calls == []  # nothing reached the model


def test_score_without_a_model_is_503_saying_to_train_first(
    store: TriageStore, inbox_config, api_token: str
) -> None:
    from tweet_triage.live.web.app import create_app

    def no_model() -> tuple[str, object]:
        raise ModelUnavailableError(
            "no champion model in the MLflow registry: train one first (make train)"
        )

    app = create_app(store, ModelProvider(no_model, lambda _: KeywordScorer()), inbox_config)
    with TestClient(app, headers={"Authorization": f"Bearer {api_token}"}) as client:
        response = client.post("/api/score", json={"texts": ["hello"]})
    assert response.status_code == 503
    assert response.json()["detail"].lower().count("train one first") == 1  # said once


def test_the_model_is_loaded_once_and_lazily(store: TriageStore, inbox_config) -> None:
    loads: list[object] = []

    def load(source: object) -> KeywordScorer:
        loads.append(source)
        return KeywordScorer()

    provider = ModelProvider(lambda: ("3", "folder"), load, recheck_seconds=3600)
    assert loads == [] and provider.version is None
    provider.score(["a"])
    provider.score(["b"])
    assert loads == ["folder"] and provider.version == "3"


def test_a_registry_outage_keeps_the_loaded_model() -> None:
    answers: list[object] = ["1", ModelFolderError("models:/needs-support/2: cannot fetch")]

    def resolve() -> tuple[str, None]:
        answer = answers.pop(0) if answers else "1"
        if isinstance(answer, Exception):
            raise answer
        return str(answer), None

    provider = ModelProvider(resolve, lambda _: KeywordScorer(), recheck_seconds=0)
    assert provider.score(["x"]).version == "1"
    assert provider.score(["help"]).probabilities == [0.9]  # resolving failed: same model


def test_a_model_that_cannot_be_resolved_at_first_is_503(
    api_token: str, store, inbox_config
) -> None:
    from tweet_triage.live.web.app import create_app

    def broken() -> tuple[str, None]:
        raise ModelFolderError("models/x: weights cannot be loaded")

    app = create_app(store, ModelProvider(broken, lambda _: KeywordScorer()), inbox_config)
    with TestClient(app, headers={"Authorization": f"Bearer {api_token}"}) as client:
        response = client.post("/api/score", json={"texts": ["hello"]})
    assert response.status_code == 503 and "weights cannot be loaded" in response.text


def test_a_new_champion_is_picked_up_without_a_restart() -> None:
    versions = iter(["1", "1", "2"])
    provider = ModelProvider(lambda: (next(versions), None), lambda _: KeywordScorer(), 0)
    assert [provider.score(["x"]).version for _ in range(3)] == ["1", "1", "2"]


def test_queue_lists_open_flagged_tweets(api: TestClient, store: TriageStore) -> None:
    store.upsert_scored([scored(1, 0.6), scored(2, 0.9, tags=("nasa",)), scored(3, 0.1)])
    queue = api.get("/api/queue").json()
    assert [t["id"] for t in queue] == ["2", "1"]
    assert {"id", "text", "created_at", "p_needs_support"} <= set(queue[0])
    assert [t["id"] for t in api.get("/api/queue", params={"tag": "nasa"}).json()] == ["2"]
    assert api.get("/api/queue", params={"limit": 0}).status_code == 422


def test_decisions_record_who_and_leave_the_queue(api: TestClient, store: TriageStore) -> None:
    store.upsert_scored([scored(1, 0.6), scored(2, 0.9)])
    response = api.post("/api/decisions", json={"id": "2", "decision": "handled"})
    assert response.status_code == 201
    assert response.json()["user"] == "alice"
    assert [t["id"] for t in api.get("/api/queue").json()] == ["1"]
    (decision,) = store.decisions()
    assert (decision.tweet_id, decision.user_name, decision.decision) == ("2", "alice", "handled")


def test_decision_on_an_unknown_tweet_is_404_naming_it(api: TestClient) -> None:
    response = api.post("/api/decisions", json={"id": "4242", "decision": "handled"})
    assert response.status_code == 404
    assert "4242" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "1", "decision": "maybe"}, ["body", "decision"]),
        ({"decision": "handled"}, ["body", "id"]),
        ({"id": 1, "decision": "handled"}, ["body", "id"]),
    ],
)
def test_decision_bodies_are_checked(api: TestClient, body: dict, field: list) -> None:
    response = api.post("/api/decisions", json=body)
    assert response.status_code == 422
    assert field in [error["loc"] for error in response.json()["detail"]]


def test_healthz_answers_without_login(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_metrics_export_store_counts_and_latencies(api: TestClient, store: TriageStore) -> None:
    store.upsert_scored([scored(1, 0.6), scored(2, 0.9), scored(3, 0.1)])
    api.post("/api/decisions", json={"id": "2", "decision": "handled"})
    api.post("/api/score", json={"texts": ["a", "b"]})
    text = api.get("/metrics").text
    assert "triage_scored_tweets_total 3.0" in text
    assert "triage_flagged_tweets_total 2.0" in text
    assert "triage_queue_size 1.0" in text
    assert "triage_decision_latency_seconds_count 1.0" in text
    assert "triage_score_request_seconds_count 1.0" in text
    assert "triage_api_scored_texts_total 2.0" in text
    assert 'triage_api_model_info{version="7"} 1.0' in text
    assert "triage_api_model_passes_total 1.0" in text


def test_concurrent_requests_share_one_forward_pass() -> None:
    gate, busy = threading.Event(), threading.Event()

    class SlowScorer(KeywordScorer):
        def score(self, texts: list[str]) -> list[float]:
            busy.set()
            assert gate.wait(10)
            return super().score(texts)

    scorer = SlowScorer()
    provider = ModelProvider(lambda: ("1", None), lambda _: scorer)
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(provider.score, ["help"])
        assert busy.wait(10)
        rest = [pool.submit(provider.score, [f"fine {i}", "broken"]) for i in range(5)]
        deadline = time.monotonic() + 10
        while len(provider._waiting) < 5 and time.monotonic() < deadline:  # all queued
            time.sleep(0.01)
        gate.set()
        results = [future.result(10) for future in [first, *rest]]
    assert [len(call) for call in scorer.calls] == [1, 10]  # 5 requests, one pass
    assert [r.probabilities for r in results] == [[0.9]] + [[0.1, 0.9]] * 5


def test_a_failing_pass_fails_every_request_in_it() -> None:
    broken = threading.Event()
    broken.set()

    class FlakyScorer(KeywordScorer):
        def score(self, texts: list[str]) -> list[float]:
            if broken.is_set():
                raise RuntimeError("out of memory")
            return super().score(texts)

    provider = ModelProvider(lambda: ("1", None), lambda _: FlakyScorer())
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(provider.score, ["x"]) for _ in range(4)]
        for future in futures:
            with pytest.raises(RuntimeError, match="out of memory"):
                future.result(10)
    broken.clear()
    assert provider.score(["help"]).probabilities == [0.9]  # nothing stays stuck


def test_score_with_a_real_model_folder(
    tmp_path_factory: pytest.TempPathFactory, store: TriageStore, api_token: str, inbox_config
) -> None:
    """The inbox loads a model folder through the registry and inference APIs the scorer uses."""
    from tests.unit.live.scorer_model import build_scorer_model
    from tweet_triage.config import load_settings
    from tweet_triage.live.web.app import create_app
    from tweet_triage.model.inference import load_scorer

    folder = build_scorer_model(tmp_path_factory.mktemp("inbox-model"), threshold=0.5)
    provider = ModelProvider.from_settings(load_settings(), str(folder))
    app = create_app(store, provider, inbox_config)
    past_the_token_limit = "it broke again " * 600
    texts = ["my order never arrived", "what a lovely launch", past_the_token_limit]
    with TestClient(app, headers={"Authorization": f"Bearer {api_token}"}) as client:
        results = client.post("/api/score", json={"texts": texts}).json()
    expected = load_scorer(folder).score(texts)
    assert [r["p_needs_support"] for r in results] == pytest.approx(expected, abs=1e-5)
    assert [r["needs_support"] for r in results] == [p >= 0.5 for p in expected]
    assert {r["model_version"] for r in results} == {provider.version}
    assert provider.version.startswith("sha256:")


def test_metrics_export_the_learning_loop_through_the_registry(
    store: TriageStore, alice, scorer: KeywordScorer, api_token: str, tmp_path
) -> None:
    import json

    from prometheus_client.parser import text_string_to_metric_families

    from tweet_triage.live.web.app import InboxConfig, create_app

    state = tmp_path / "state" / "triage" / "loop.json"
    state.parent.mkdir(parents=True)
    state.write_text(
        json.dumps(
            {
                "history": [{"version": "7", "since": "2026-01-01T00:00:00+00:00", "why": "x"}],
                "labels_at_last_retrain": 0,
                "last_retrain": {"at": "2026-01-02T00:00:00+00:00", "decision": "promoted"},
            }
        )
    )
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "trends.json").write_text(json.dumps({"drift": {"passed": True, "checks": []}}))
    store.upsert_scored([scored(1, 0.9), scored(2, 0.8)])
    store.decide("1", alice.id, "handled")
    model = ModelProvider(resolve=lambda: ("7", None), load=lambda _source: scorer)
    config = InboxConfig(state_dir=tmp_path / "state", reports_dir=reports)
    with TestClient(create_app(store, model, config)) as client:
        client.headers["Authorization"] = f"Bearer {api_token}"
        client.post("/api/score", json={"texts": ["a"]})  # the API loads champion 7
        text = client.get("/metrics").text
    gauges = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        if family.type == "gauge"
        for sample in family.samples
    }
    assert gauges["triage_loop_champion_version"] == 7
    assert gauges["triage_loop_champion_age_seconds"] > 0
    assert gauges["triage_loop_labels_since_retrain"] == 1
    assert gauges["triage_loop_last_retrain_promoted"] == 1
    assert gauges["triage_drift_passed"] == 1
    assert text.count("# TYPE triage_loop_champion_version gauge") == 1


def test_texts_are_cut_at_the_token_limit_between_words() -> None:
    from tweet_triage.live.web.scoring import ClippedScorer, clip_to_tokens

    assert clip_to_tokens("one  two\nthree four", 3) == "one  two\nthree"
    assert clip_to_tokens("  one two ", 5) == "  one two "
    assert clip_to_tokens("x" * 5_000, 2) == "x" * 5_000  # a word is never cut
    scorer = KeywordScorer()
    ClippedScorer(scorer, 2).score(["help me now please", "fine"])
    assert scorer.calls == [["help me", "fine"]]


def test_a_single_text_is_not_held_up_behind_large_requests() -> None:
    """Two 64-text requests and a 1-text one: the single text is in the next pass."""
    started, go = threading.Event(), threading.Event()

    class GatedScorer(KeywordScorer):
        def score(self, texts: list[str]) -> list[float]:
            started.set()
            assert go.wait(10)
            return super().score(texts)

    scorer = GatedScorer()
    provider = ModelProvider(
        lambda: ("1", None), lambda _: scorer, max_batch_texts=8, chunk_texts=4
    )
    big = [f"fine {i}" for i in range(64)]
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(provider.score, big)
        assert started.wait(10)  # the first pass runs, holding the model
        second = pool.submit(provider.score, big)
        single = pool.submit(provider.score, ["help"])
        deadline = time.monotonic() + 10
        while len(provider._waiting) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        go.set()
        assert single.result(10).probabilities == [0.9]
        assert [r.probabilities for r in (first.result(10), second.result(10))] == [[0.1] * 64] * 2
    passes_until_single = next(i for i, call in enumerate(scorer.calls) if "help" in call)
    assert passes_until_single == 1
    assert max(len(call) for call in scorer.calls) <= 8


def test_a_full_queue_is_429_with_retry_after(
    store: TriageStore, inbox_config, api_token: str
) -> None:
    from tweet_triage.live.web.app import create_app

    started, go = threading.Event(), threading.Event()

    class GatedScorer(KeywordScorer):
        def score(self, texts: list[str]) -> list[float]:
            started.set()
            assert go.wait(10)
            return super().score(texts)

    provider = ModelProvider(lambda: ("1", None), lambda _: GatedScorer(), max_waiting_texts=8)
    app = create_app(store, provider, inbox_config)
    headers = {"Authorization": f"Bearer {api_token}"}
    with TestClient(app, headers=headers) as client, ThreadPoolExecutor(2) as pool:
        running = pool.submit(client.post, "/api/score", json={"texts": ["a"]})
        assert started.wait(10)
        waiting = pool.submit(client.post, "/api/score", json={"texts": ["b"] * 8})
        deadline = time.monotonic() + 10
        while not provider._waiting and time.monotonic() < deadline:
            time.sleep(0.01)
        refused = client.post("/api/score", json={"texts": ["c"]})
        go.set()
        assert running.result(10).status_code == 200
        assert waiting.result(10).status_code == 200
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "waiting to be scored" in refused.json()["detail"]


class BlockingScorer(KeywordScorer):
    """Scores only once `release` is set: requests pile up waiting on the model."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def score(self, texts: list[str]) -> list[float]:
        assert self.release.wait(30), "the test never released the model"
        return super().score(texts)


def test_requests_waiting_on_the_model_never_hold_up_the_pages(
    store: TriageStore, alice, api_token: str, tmp_path
) -> None:
    from tests.unit.live.conftest import log_in
    from tweet_triage.live.web.app import InboxConfig, create_app

    scorer = BlockingScorer()
    model = ModelProvider(resolve=lambda: ("7", None), load=lambda _source: scorer)
    config = InboxConfig(request_threads=2, score_threads=8, reports_dir=tmp_path)
    store.upsert_scored([scored(1, 0.9)])
    with TestClient(create_app(store, model, config)) as client, ThreadPoolExecutor(6) as pool:

        async def request_threads() -> int:
            from anyio import to_thread

            return int(to_thread.current_default_thread_limiter().total_tokens)

        assert client.portal.call(request_threads) == 2
        log_in(client)
        headers = {"Authorization": f"Bearer {api_token}"}
        waiting = [
            pool.submit(client.post, "/api/score", json={"texts": [f"help {i}"]}, headers=headers)
            for i in range(4)  # more than the pages' two threads
        ]
        time.sleep(0.5)
        page = client.get("/", headers={})
        assert page.status_code == 200 and 'id="tweet-1"' in page.text
        assert not any(future.done() for future in waiting)
        scorer.release.set()
        assert [f.result(timeout=30).status_code for f in waiting] == [200] * 4
