"""The stand-in over real HTTP on a free loopback port (in-thread), with a small corpus."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tweet_triage_local.corpus.tweets import tweet_object
from tweet_triage_local.xapi.faults import parse_fault_spec
from tweet_triage_local.xapi.server import XStandInServer
from tweet_triage_local.xapi.standin import StandIn
from tweet_triage_local.xapi.state import StandInError

TOKEN = "test-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BASE_ID = 640436841431347200
# 12 tweets a few ms apart: even ones mention webb, odd ones do not.
CORPUS = [
    tweet_object(BASE_ID + (i << 22), f"tweet {i} about {'webb' if i % 2 == 0 else 'hubble'}")
    for i in range(12)
]
WEBB_IDS = [t["id"] for t in CORPUS if "webb" in t["text"]]


def make_server(tmp_path: Path, **kwargs: Any) -> XStandInServer:
    options: dict[str, Any] = {
        "token": TOKEN,
        "rate": 0,
        "keepalive_seconds": 0.2,
        "state_dir": tmp_path / "state",
    }
    options.update(kwargs)
    return XStandInServer(StandIn(CORPUS, **options)).start()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[XStandInServer]:
    srv = make_server(tmp_path)
    yield srv
    srv.stop()


def post_rules(server: XStandInServer, body: Any, params: str = "") -> requests.Response:
    return requests.post(
        f"{server.url}/2/tweets/search/stream/rules{params}", json=body, headers=AUTH, timeout=5
    )


def add_webb_rule(server: XStandInServer) -> str:
    response = post_rules(server, {"add": [{"value": "webb", "tag": "telescope"}]})
    return str(response.json()["data"][0]["id"])


def open_stream(server: XStandInServer, query: str = "", read_timeout: float = 5) -> Any:
    return requests.get(
        f"{server.url}/2/tweets/search/stream{query}",
        headers=AUTH,
        stream=True,
        timeout=(5, read_timeout),
    )


def lines(response: requests.Response) -> Iterator[bytes]:
    """Stream lines without their \\r\\n; a keep-alive is b""."""
    buffer = b""
    for data in response.iter_content(chunk_size=None):
        buffer += data
        while b"\r\n" in buffer:
            line, buffer = buffer.split(b"\r\n", 1)
            yield line


def take_tweets(response: requests.Response, count: int) -> list[dict[str, Any]]:
    """The next `count` tweets; fails after 20 keep-alives in a row (nothing more to come)."""
    received: list[dict[str, Any]] = []
    idle = 0
    for line in lines(response):
        if not line:
            idle += 1
            assert idle < 20, f"only {len(received)} of {count} tweets before going idle"
            continue
        idle = 0
        received.append(json.loads(line))
        if len(received) == count:
            break
    return received


def stats(server: XStandInServer) -> dict[str, Any]:
    return requests.get(f"{server.url}/_standin/stats", headers=AUTH, timeout=5).json()


# --- auth and bad requests -------------------------------------------------------------------
def test_wrong_or_missing_token_gets_x_401(server: XStandInServer) -> None:
    for headers in ({"Authorization": "Bearer nope"}, {}):
        response = requests.get(
            f"{server.url}/2/tweets/search/stream/rules", headers=headers, timeout=5
        )
        assert response.status_code == 401
        assert response.json() == {
            "title": "Unauthorized",
            "type": "about:blank",
            "status": 401,
            "detail": "Unauthorized",
        }


def test_unknown_stream_parameters_get_x_400(server: XStandInServer) -> None:
    add_webb_rule(server)
    response = open_stream(server, "?tweet.fields=created_at,colour")
    assert response.status_code == 400
    body = response.json()
    assert body["title"] == "Invalid Request"
    assert body["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert body["errors"][0]["parameters"] == {"tweet.fields": ["colour"]}
    response = open_stream(server, "?max_results=10")
    assert response.status_code == 400
    assert "query parameter [max_results]" in response.json()["errors"][0]["message"]


def test_stream_without_rules_gets_409(server: XStandInServer) -> None:
    response = open_stream(server)
    assert response.status_code == 409
    assert response.json()["connection_issue"] == "RuleConfigurationIssue"


# --- rules ------------------------------------------------------------------------------------
def test_add_get_and_delete_rules(server: XStandInServer) -> None:
    added = post_rules(server, {"add": [{"value": "webb", "tag": "t"}, {"value": "hubble"}]})
    assert added.status_code == 200
    body = added.json()
    assert body["meta"]["summary"] == {"created": 2, "not_created": 0, "valid": 2, "invalid": 0}
    ids = [rule["id"] for rule in body["data"]]
    assert body["data"][1] == {"id": ids[1], "value": "hubble"}
    listed = requests.get(f"{server.url}/2/tweets/search/stream/rules", headers=AUTH, timeout=5)
    assert listed.json()["meta"]["result_count"] == 2
    only = requests.get(
        f"{server.url}/2/tweets/search/stream/rules?ids={ids[0]}", headers=AUTH, timeout=5
    ).json()
    assert only["data"] == [{"id": ids[0], "value": "webb", "tag": "t"}]
    by_value = post_rules(server, {"delete": {"values": ["hubble"]}}).json()
    assert by_value["meta"]["summary"] == {"deleted": 1, "not_deleted": 0}
    by_id = post_rules(server, {"delete": {"ids": [ids[0], "123"]}}).json()
    assert by_id["meta"]["summary"] == {"deleted": 1, "not_deleted": 1}
    assert by_id["errors"][0]["errors"][0]["message"] == "Rule does not exist"
    empty = requests.get(f"{server.url}/2/tweets/search/stream/rules", headers=AUTH, timeout=5)
    assert empty.json()["meta"]["result_count"] == 0
    assert "data" not in empty.json()


def test_dry_run_creates_nothing(server: XStandInServer) -> None:
    body = post_rules(server, {"add": [{"value": "webb"}]}, "?dry_run=true").json()
    assert body["meta"]["summary"]["created"] == 1
    assert stats(server)["rules"] == 0


def test_duplicate_rule_gets_duplicate_rule_error(server: XStandInServer) -> None:
    rule_id = add_webb_rule(server)
    body = post_rules(server, {"add": [{"value": "webb", "tag": "again"}]}).json()
    assert body["errors"] == [
        {
            "value": "webb",
            "id": rule_id,
            "title": "DuplicateRule",
            "type": "https://api.twitter.com/2/problems/duplicate-rules",
        }
    ]
    assert body["meta"]["summary"] == {"created": 0, "not_created": 1, "valid": 0, "invalid": 1}


def test_one_invalid_rule_and_none_is_created(server: XStandInServer) -> None:
    body = post_rules(server, {"add": [{"value": "webb"}, {"value": "(hubble"}]}).json()
    assert body["meta"]["summary"] == {"created": 0, "not_created": 2, "valid": 1, "invalid": 1}
    error = body["errors"][0]
    assert error["title"] == "UnprocessableEntity"
    assert error["type"] == "https://api.twitter.com/2/problems/invalid-rules"
    assert error["value"] == "(hubble" and "missing ')'" in error["details"][0]
    assert stats(server)["rules"] == 0


@pytest.mark.parametrize(
    "body",
    [None, {}, {"add": []}, {"add": [{"tag": "no value"}]}, {"delete": {"ids": "1"}}, [1]],
)
def test_malformed_rules_body_gets_400(server: XStandInServer, body: Any) -> None:
    response = post_rules(server, body)
    assert response.status_code == 400
    assert response.json()["title"] == "Invalid Request"


def test_rules_survive_a_restart(tmp_path: Path) -> None:
    first = make_server(tmp_path)
    rule_id = add_webb_rule(first)
    first.stop()
    second = make_server(tmp_path)
    try:
        assert stats(second)["rules"] == 1
        listed = requests.get(f"{second.url}/2/tweets/search/stream/rules", headers=AUTH, timeout=5)
        assert listed.json()["data"][0]["id"] == rule_id
    finally:
        second.stop()


# --- stream -----------------------------------------------------------------------------------
def test_stream_sends_exactly_the_matching_tweets_in_x_shape(server: XStandInServer) -> None:
    rule_id = add_webb_rule(server)
    with open_stream(server) as response:
        assert response.status_code == 200
        assert response.headers["Transfer-Encoding"] == "chunked"
        received = take_tweets(response, len(WEBB_IDS))
    assert [r["data"]["id"] for r in received] == WEBB_IDS
    first = received[0]
    assert set(first) == {"data", "matching_rules"}
    assert set(first["data"]) == {"id", "text", "edit_history_tweet_ids"}  # X's default fields
    assert first["matching_rules"] == [{"id": rule_id, "tag": "telescope"}]
    assert stats(server)["ids_sent"] == WEBB_IDS


def test_tweet_fields_select_fields(server: XStandInServer) -> None:
    add_webb_rule(server)
    with open_stream(server, "?tweet.fields=created_at,lang&expansions=author_id") as response:
        tweet = take_tweets(response, 1)[0]["data"]
    assert set(tweet) == {"id", "text", "edit_history_tweet_ids", "created_at", "lang"}
    assert tweet["created_at"] == CORPUS[0]["created_at"]


def test_keep_alive_when_nothing_matches_and_after_the_end(server: XStandInServer) -> None:
    add_webb_rule(server)
    with open_stream(server) as response:
        stream = lines(response)
        tweets = [next(stream) for _ in WEBB_IDS]
        assert all(tweets)
        assert next(stream) == b""  # exhausted: the connection stays open with keep-alives
        assert next(stream) == b""
    assert stats(server)["exhausted"] is True


def test_a_stand_in_started_after_the_end_replays_from_the_start(tmp_path: Path) -> None:
    state = tmp_path / "state"
    finished = StandIn(CORPUS, token=TOKEN, state_dir=state, start=len(CORPUS))
    finished.save_position()
    resumed_midway = StandIn(CORPUS, token=TOKEN, state_dir=state, start=5)
    resumed_midway.save_position()
    assert StandIn(CORPUS, token=TOKEN, state_dir=state).position == 5
    finished.save_position()
    assert StandIn(CORPUS, token=TOKEN, state_dir=state).position == 0


def test_second_connection_gets_too_many_connections(server: XStandInServer) -> None:
    add_webb_rule(server)
    with open_stream(server) as first:
        assert first.status_code == 200
        second = open_stream(server)
        assert second.status_code == 429
        assert second.json() == {
            "title": "ConnectionException",
            "detail": "This stream is currently at the maximum allowed connection limit.",
            "connection_issue": "TooManyConnections",
            "type": "https://api.twitter.com/2/problems/streaming-connection",
        }


def test_reconnect_continues_where_the_last_connection_stopped(tmp_path: Path) -> None:
    server = make_server(tmp_path, faults={"drop_every": 2})
    try:
        add_webb_rule(server)
        received: list[str] = []
        for _ in range(3):
            with open_stream(server) as response:
                stream = lines(response)
                received += [json.loads(next(stream))["data"]["id"] for _ in range(2)]
                # the stand-in closes the connection abruptly, without a final chunk
                with pytest.raises(requests.exceptions.ChunkedEncodingError):
                    next(stream)
        assert received == WEBB_IDS
        assert stats(server)["drops"] == 3
    finally:
        server.stop()


def test_position_is_remembered_across_restarts(tmp_path: Path) -> None:
    first = make_server(tmp_path, faults={"drop_every": 2})
    add_webb_rule(first)
    with open_stream(first) as response:
        take_tweets(response, 2)
    first.stop()
    saved = json.loads((tmp_path / "state" / "xapi-position.json").read_text())
    assert saved == {"position": 3, "corpus_size": 12, "next_id": CORPUS[3]["id"]}
    second = make_server(tmp_path)
    try:
        with open_stream(second) as response:
            assert take_tweets(response, 1)[0]["data"]["id"] == WEBB_IDS[2]
    finally:
        second.stop()


def test_start_by_index_and_by_time(tmp_path: Path) -> None:
    by_index = StandIn(CORPUS, token=TOKEN, start="4")
    assert by_index.position == 4
    by_time = StandIn(CORPUS, token=TOKEN, start=CORPUS[6]["created_at"])
    assert by_time.position == 6
    naive_utc = CORPUS[6]["created_at"].removesuffix("Z")  # no zone: read as UTC, like X's times
    assert StandIn(CORPUS, token=TOKEN, start=naive_utc).position == 6
    assert StandIn(CORPUS, token=TOKEN, start="2000-01-01").position == 0
    assert StandIn(CORPUS, token=TOKEN, start="2030-01-01").position == len(CORPUS)
    with pytest.raises(StandInError, match="corpus has 12 tweets"):
        StandIn(CORPUS, token=TOKEN, start="99")
    with pytest.raises(StandInError, match="neither a tweet index nor an ISO time"):
        StandIn(CORPUS, token=TOKEN, start="yesterday")


# --- faults -----------------------------------------------------------------------------------
def test_fail_faults_answer_503_then_429_then_connect(tmp_path: Path) -> None:
    server = make_server(tmp_path, faults={"fail_status": 503, "fail_count": 2})
    try:
        add_webb_rule(server)
        for _ in range(2):
            response = open_stream(server)
            assert response.status_code == 503
            assert response.json()["title"] == "Service Unavailable"
        requests.post(
            f"{server.url}/_standin/faults",
            json={"fail_status": 429, "fail_count": 1},
            headers=AUTH,
            timeout=5,
        ).raise_for_status()
        response = open_stream(server)
        assert response.status_code == 429
        assert response.json()["title"] == "Too Many Requests"
        assert response.headers["x-rate-limit-remaining"] == "0"
        with open_stream(server) as ok:
            assert ok.status_code == 200
        assert stats(server)["refused"] == {"fault_503": 2, "fault_429": 1}
    finally:
        server.stop()


def test_stall_sends_nothing_not_even_keep_alives(tmp_path: Path) -> None:
    server = make_server(tmp_path, faults={"stall_after": 2, "stall_seconds": 4})
    try:
        add_webb_rule(server)
        with open_stream(server, read_timeout=1.0) as response:
            stream = lines(response)
            assert [json.loads(next(stream))["data"]["id"] for _ in range(2)] == WEBB_IDS[:2]
            # keep-alives are due every 0.2 s, yet nothing comes for a whole second
            with pytest.raises(requests.exceptions.ConnectionError):
                next(stream)
        with open_stream(server, read_timeout=10) as response:  # after the stall: tweets again
            assert take_tweets(response, 1)[0]["data"]["id"] == WEBB_IDS[2]
        assert stats(server)["stalls"] == 1
    finally:
        server.stop()


def test_malformed_line_once_then_normal_tweets(tmp_path: Path) -> None:
    server = make_server(tmp_path, faults={"malformed_after": 1})
    try:
        add_webb_rule(server)
        with open_stream(server) as response:
            stream = (line for line in lines(response) if line)
            assert json.loads(next(stream))["data"]["id"] == WEBB_IDS[0]
            with pytest.raises(json.JSONDecodeError):
                json.loads(next(stream))
            assert json.loads(next(stream))["data"]["id"] == WEBB_IDS[1]
        assert stats(server)["malformed_lines"] == 1
        assert stats(server)["faults"]["malformed_after"] is None
    finally:
        server.stop()


def test_bad_fault_settings_are_refused(server: XStandInServer) -> None:
    response = requests.post(
        f"{server.url}/_standin/faults", json={"fail_status": 500}, headers=AUTH, timeout=5
    )
    assert response.status_code == 400
    assert "use 503 or 429" in response.json()["errors"][0]["message"]
    with pytest.raises(StandInError, match="unknown fault"):
        StandIn(CORPUS, token=TOKEN, faults={"explode": 1})


def test_cli_fault_syntax() -> None:
    assert parse_fault_spec("drop-every=100") == {"drop_every": 100}
    assert parse_fault_spec("fail=503:2") == {"fail_status": 503, "fail_count": 2}
    assert parse_fault_spec("fail=429") == {"fail_status": 429, "fail_count": 1}
    assert parse_fault_spec("stall=50:2.5") == {"stall_after": 50, "stall_seconds": 2.5}
    assert parse_fault_spec("malformed-after=7") == {"malformed_after": 7}
    with pytest.raises(StandInError, match="is not a fault"):
        parse_fault_spec("explode=1")


def _non_loopback_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))
        address = str(probe.getsockname()[0])
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


def test_listens_on_loopback_only(server: XStandInServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=2):
        pass
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to try")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, server.port), timeout=2).close()
