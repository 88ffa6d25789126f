"""Connecting the mission's X account against the stand-in: PKCE through authlib, tokens sealed
at rest, refreshed before they expire, a revoked account reported, keys kept private."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.unit.xapi.test_xapi_writes import APP, CLIENT_ID, REDIRECT, approve, make_server
from tweet_triage.live.replies.x_account import (
    REFRESH_MARGIN_SECONDS,
    ConnectionState,
    XAccount,
    XAccountError,
    XOAuthEndpoints,
    load_or_create_key,
)
from tweet_triage.live.replies.x_poster import HttpXPoster
from tweet_triage_local.xapi.server import XStandInServer


class MemorySlot:
    def __init__(self) -> None:
        self.sealed: bytes | None = None

    def read(self) -> bytes | None:
        return self.sealed

    def write(self, sealed: bytes) -> None:
        self.sealed = sealed

    def clear(self) -> None:
        self.sealed = None


class Clock:
    def __init__(self) -> None:
        self.now = 1_640_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server(tmp_path: Path) -> Iterator[XStandInServer]:
    srv = make_server(tmp_path / "state")
    yield srv
    srv.stop()


def account_for(server: XStandInServer, slot: MemorySlot, key: bytes, clock: Clock) -> XAccount:
    endpoints = XOAuthEndpoints(
        f"{server.url}/2/oauth2/authorize", f"{server.url}/2/oauth2/token", server.url
    )
    return XAccount(endpoints, CLIENT_ID, None, slot, key, clock=clock)


@pytest.fixture
def key(tmp_path: Path) -> bytes:
    return load_or_create_key(tmp_path / "keys" / "x-token.key")


def test_connect_seals_the_tokens_and_posts_as_the_account(
    server: XStandInServer, key: bytes
) -> None:
    slot, clock = MemorySlot(), Clock()
    account = account_for(server, slot, key, clock)
    assert account.state() is ConnectionState.NOT_CONNECTED
    pending = account.begin_connect(REDIRECT)
    assert "code_challenge_method=S256" in pending.authorize_url
    tokens = account.finish_connect(pending, approve(server, pending.authorize_url))
    assert tokens.username == "WebbTriageDemo" and account.state() is ConnectionState.CONNECTED
    assert slot.sealed is not None
    assert tokens.access_token.encode() not in slot.sealed
    assert tokens.refresh_token and tokens.refresh_token.encode() not in slot.sealed

    poster = HttpXPoster(server.url, tokens.account_id, account.access_token)
    assert poster.post_reply("Thanks!", server.standin.corpus.ids[0]).x_post_id


def test_refresh_before_expiry_and_a_revoked_account(server: XStandInServer, key: bytes) -> None:
    slot, clock = MemorySlot(), Clock()
    account = account_for(server, slot, key, clock)
    pending = account.begin_connect(REDIRECT)
    first = account.finish_connect(pending, approve(server, pending.authorize_url))
    assert account.access_token() == first.access_token  # far from expiry: no refresh

    clock.now = first.expires_at - REFRESH_MARGIN_SECONDS + 1
    refreshed = account.access_token()
    assert refreshed and refreshed != first.access_token
    assert requests.get(
        f"{server.url}/2/users/me", headers={"Authorization": f"Bearer {refreshed}"}, timeout=5
    ).ok

    requests.post(f"{server.url}/_standin/oauth", json={"revoke_all": True}, headers=APP, timeout=5)
    clock.now += 7200
    assert account.access_token() is None
    assert account.state() is ConnectionState.REVOKED


def test_a_redirect_from_another_connect_is_refused(server: XStandInServer, key: bytes) -> None:
    account = account_for(server, MemorySlot(), key, Clock())
    first = account.begin_connect(REDIRECT)
    second = account.begin_connect(REDIRECT)
    with pytest.raises(XAccountError, match="does not answer this connect request"):
        account.finish_connect(first, approve(server, second.authorize_url))


def test_a_changed_key_cannot_read_the_tokens(
    server: XStandInServer, key: bytes, tmp_path: Path
) -> None:
    slot = MemorySlot()
    account = account_for(server, slot, key, Clock())
    pending = account.begin_connect(REDIRECT)
    account.finish_connect(pending, approve(server, pending.authorize_url))
    other = account_for(server, slot, load_or_create_key(tmp_path / "other.key"), Clock())
    with pytest.raises(XAccountError, match="cannot be decrypted"):
        other.access_token()


def test_the_key_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "x-token.key"
    key = load_or_create_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(path) == key
    os.chmod(path, 0o644)
    with pytest.raises(XAccountError, match="chmod 600"):
        load_or_create_key(path)


def test_services_creating_the_key_at_once_all_get_the_same_one(tmp_path: Path) -> None:
    for attempt in range(10):  # a check-then-write creation loses about 4 races in 10 here
        path = tmp_path / str(attempt) / "x-token.key"
        start = threading.Barrier(8)

        def create(_: int, path: Path = path, start: threading.Barrier = start) -> bytes:
            start.wait()
            return load_or_create_key(path)

        with ThreadPoolExecutor(8) as pool:
            keys = set(pool.map(create, range(8)))
        assert keys == {path.read_bytes().strip()}
