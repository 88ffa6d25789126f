"""The inbox's pages: queue (and its live fragment), all tweets, dashboard."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from tests.unit.live.conftest import PASSWORD, log_in, scored
from tweet_triage.live.store import TriageStore
from tweet_triage.live.web import charts
from tweet_triage.live.web.app import InboxConfig
from tweet_triage.live.web.routes.tweets import PAGE_SIZE


def test_queue_page_and_fragment_show_open_flagged_tweets(
    client: TestClient, store: TriageStore
) -> None:
    store.upsert_scored(
        [
            scored(1, 0.91, tags=("nasa",), text="<b>the page is broken</b>"),
            scored(2, 0.7),
            scored(3, 0.2),
        ]
    )
    log_in(client)
    page = client.get("/").text
    assert 'id="tweet-1"' in page and 'id="tweet-2"' in page and 'id="tweet-3"' not in page
    assert "&lt;b&gt;the page is broken&lt;/b&gt;" in page  # tweet text is escaped
    assert "https://x.com/i/web/status/1" in page and ">nasa<" in page and ">91<" in page
    fragment = client.get("/fragments/queue", params={"tag": "nasa"}).text
    assert 'data-queue-size="2"' in fragment
    assert 'id="tweet-1"' in fragment and 'id="tweet-2"' not in fragment
    assert "<html" not in fragment


def test_all_tweets_view_offers_needed_us_on_unflagged_tweets(
    client: TestClient, store: TriageStore, alice
) -> None:
    store.upsert_scored([scored(1, 0.9), scored(2, 0.1), scored(3, 0.2)])
    store.decide("3", alice.id, "needed_us")
    log_in(client)
    page = client.get("/tweets", params={"window": "all"}).text
    tweet_2 = page.split('id="tweet-2"')[1].split("</article>")[0]
    assert 'value="needed_us"' in tweet_2 and 'value="handled"' not in tweet_2
    tweet_3 = page.split('id="tweet-3"')[1].split("</article>")[0]
    assert "needed us" in tweet_3 and 'action="/decisions"' not in tweet_3  # decided
    flagged_only = client.get("/tweets", params={"window": "all", "flagged": "yes"}).text
    assert 'id="tweet-1"' in flagged_only and 'id="tweet-2"' not in flagged_only


def test_dashboard_shows_figures_plots_and_drift(
    client: TestClient, store: TriageStore, inbox_config: InboxConfig
) -> None:
    store.upsert_scored([scored(1, 0.9, tags=("nasa",)), scored(2, 0.1), scored(3, 0.8)])
    log_in(client)
    page = client.get("/dashboard", params={"window": "all"}).text
    assert 'id="stat-scored">3<' in page and 'id="stat-queue">2<' in page
    assert page.count('<svg class="chart"') == 4 and "<rect" in page
    assert 'id="stat-drift">UNKNOWN<' in page

    assert inbox_config.reports_dir is not None
    inbox_config.reports_dir.mkdir(parents=True)
    checks = [{"name": "flag_rate", "passed": False}, {"name": "mean_p", "passed": True}]
    (inbox_config.reports_dir / "trends.json").write_text(
        json.dumps({"drift": {"passed": False, "tolerance": 0.15, "checks": checks}})
    )
    page = client.get("/dashboard", params={"window": "all"}).text
    assert 'id="stat-drift">FAIL<' in page and "failed: flag_rate" in page


def test_the_dashboards_charts_are_drawn_once_per_count_of_its_figures(
    store: TriageStore,
) -> None:
    from datetime import timedelta

    from tests.unit.live.conftest import NOW

    store.upsert_scored([scored(i, i / 10, minutes_ago=30 * i) for i in range(1, 9)])
    drawn = charts.DashboardCharts()
    counted = store.dashboard(NOW - timedelta(hours=24), now=NOW)
    first = drawn.of("24h", counted)
    assert "<svg" in first["volume_svg"] and set(first) == {
        "volume_svg",
        "share_svg",
        "tags_svg",
        "answering_svg",
    }
    assert drawn.of("24h", counted) is first  # the same count: not drawn again
    assert drawn.of("30d", counted) is not first  # each window its own
    recounted = store.dashboard(NOW - timedelta(hours=24), now=NOW)  # a new count
    assert drawn.of("24h", recounted) is not first and drawn.of("24h", recounted) == first


def test_charts_say_when_there_is_nothing_to_plot() -> None:
    assert "no tweets in this window" in charts.hourly_volume([])
    assert "no tweets in this window" in charts.hourly_share([])
    assert "no tagged tweets" in charts.by_tag([])


def _expire(client: TestClient, store: TriageStore) -> None:
    """End the browser's session on the server, as its expiry does."""
    from tweet_triage.live.web.security import token_digest

    store.delete_session(token_digest(client.cookies["tt_session"]))


@pytest.mark.parametrize(
    ("path", "form", "page"),
    [
        ("/decisions", {"tweet_id": "1", "decision": "handled"}, "/tweets?window=all"),
        ("/label", {"tweet_id": "1", "answer": "yes", "skip": "5"}, "/label?skip=5"),
    ],
)
def test_a_form_sent_after_the_session_expired_returns_to_its_page_unsaved(
    client: TestClient, store: TriageStore, path: str, form: dict, page: str
) -> None:
    store.upsert_scored([scored(1, 0.9)])
    csrf = log_in(client)
    _expire(client, store)
    sent = client.post(
        path,
        data={**form, "csrf_token": csrf},
        headers={"Referer": f"http://testserver{page}"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    login_page = sent.headers["location"]
    assert login_page == "/login?" + urlencode({"next": page, "unsaved": "1"})
    shown = client.get(login_page).text
    assert "was not saved" in shown
    token = re.search(r'name="csrf_token" value="([^"]+)"', shown).group(1)
    back = client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": token, "next": page},
        follow_redirects=False,
    )
    assert back.headers["location"] == page
    assert store.decisions() == []


def test_a_script_decision_after_expiry_is_401_and_logging_out_needs_no_session(
    client: TestClient, store: TriageStore
) -> None:
    store.upsert_scored([scored(1, 0.9)])
    csrf = log_in(client)
    _expire(client, store)
    fetched = client.post(
        "/decisions",
        data={"tweet_id": "1", "decision": "handled", "csrf_token": csrf},
        headers={"Accept": "application/json"},
    )
    assert fetched.status_code == 401 and "expired" in fetched.json()["detail"]
    out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.headers["location"] == "/login"


def test_all_tweets_pages_back_and_forth_by_key(client: TestClient, store: TriageStore) -> None:
    size = PAGE_SIZE
    store.upsert_scored([scored(i, 0.1, minutes_ago=i) for i in range(1, 2 * size + 51)])
    log_in(client)

    def link(page: str, which: str) -> str:
        return re.search(rf'href="([^"]+)" id="{which}"', page).group(1).replace("&amp;", "&")

    def shown(page: str) -> list[int]:
        return [int(i) for i in re.findall(r'id="tweet-(\d+)"', page)]

    first = client.get("/tweets", params={"window": "all"}).text
    assert shown(first) == list(range(1, size + 1))
    assert 'id="newer"' not in first
    second = client.get(link(first, "older")).text
    assert shown(second) == list(range(size + 1, 2 * size + 1))
    last = client.get(link(second, "older")).text
    assert shown(last) == list(range(2 * size + 1, 2 * size + 51)) and 'id="older"' not in last
    back = client.get(link(second, "newer")).text
    assert shown(back) == list(range(1, size + 1))
    assert 'id="newer"' not in back
    gone = client.get("/tweets", params={"window": "all", "before": "999999"})
    assert gone.status_code == 404 and "newest" in gone.text


def test_a_long_tweet_is_collapsed_and_the_label_page_styled(
    client: TestClient, store: TriageStore
) -> None:
    long_text = "the launch stream froze " * 400
    store.upsert_scored([scored(1, 0.9, text=long_text)])
    log_in(client)
    page = client.get("/").text
    tweet = page.split('id="tweet-1"')[1].split("</article>")[0]
    assert '<details class="long">' in tweet and f"show all {len(long_text)} characters" in tweet
    label = client.get("/label").text
    assert '<details class="long">' in label
    assert "button.handled {" in label  # the answer buttons are coloured outside .decide too


def test_the_loop_card_names_the_model_scoring_the_stream_before_the_api_loads_one(
    store: TriageStore, alice, scorer, tmp_path
) -> None:
    from tweet_triage.live.web.app import create_app
    from tweet_triage.live.web.scoring import ModelProvider

    store.upsert_scored([scored(1, 0.9, version="3")])
    model = ModelProvider(resolve=lambda: ("3", None), load=lambda _source: scorer)
    app = create_app(store, model, InboxConfig(state_dir=tmp_path / "state"))
    with TestClient(app) as client:
        log_in(client)
        page = client.get("/dashboard", params={"window": "all"}).text
    assert model.version is None  # the API has not scored yet
    assert "champion 3" in page and "champion none" not in page
