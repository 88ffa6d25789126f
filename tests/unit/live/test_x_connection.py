"""The X account and poster as the inbox, the CLI and the worker build them from settings:
X's or the stand-in's endpoints, the token key, the connection described, disconnecting, and the
stand-in's account connected by script (make live, the demo)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet
from pydantic import SecretStr

from tests.unit.live.test_x_account import MemorySlot
from tests.unit.xapi.test_xapi_writes import APP, CLIENT_ID, CORPUS, make_server
from tweet_triage.config import Settings, SettingsError
from tweet_triage.live.replies.x_account import ConnectionState
from tweet_triage.live.replies.x_connection import (
    describe_connection,
    disconnect,
    oauth_endpoints,
    token_key,
    x_account,
    x_poster,
)
from tweet_triage_local.x_connect import (
    ScriptedConnectError,
    approve_on_standin,
    connect_standin_account,
)
from tweet_triage_local.xapi.server import XStandInServer

REDIRECT = "http://127.0.0.1:8000/x/callback"


class TokenStore:
    def __init__(self) -> None:
        self.slot = MemorySlot()

    def x_token_slot(self) -> MemorySlot:
        return self.slot


@pytest.fixture
def server(tmp_path: Path) -> Iterator[XStandInServer]:
    srv = make_server(tmp_path / "xapi")
    yield srv
    srv.stop()


def settings_for(server: XStandInServer, **values: object) -> Settings:
    return Settings(x_api_base_url=server.url, x_client_id=CLIENT_ID, **values)


def test_endpoints_are_xs_on_aws_and_the_stand_ins_locally() -> None:
    x = oauth_endpoints(Settings(TT_DEPLOYMENT="aws"))
    assert x.authorize_url == "https://x.com/i/oauth2/authorize"
    assert x.token_url == "https://api.x.com/2/oauth2/token"
    local = oauth_endpoints(Settings(x_api_base_url="http://127.0.0.1:9999"))
    assert local.authorize_url == "http://127.0.0.1:9999/2/oauth2/authorize"
    assert local.api_base_url == "http://127.0.0.1:9999"


def test_the_key_is_the_setting_or_a_private_file() -> None:
    settings = Settings()
    key = token_key(settings)
    assert settings.x_token_key_path.stat().st_mode & 0o777 == 0o600
    assert token_key(settings) == key  # the same file next time
    given = Fernet.generate_key()
    assert token_key(Settings(x_token_key=SecretStr(given.decode()))) == given
    with pytest.raises(SettingsError, match="X_TOKEN_KEY is not a Fernet key"):
        token_key(Settings(x_token_key=SecretStr("not-a-key")))


def test_no_client_id_names_the_setting_and_the_fix() -> None:
    with pytest.raises(SettingsError, match="X_CLIENT_ID is not set: start the X stand-in"):
        x_account(Settings(), TokenStore())
    with pytest.raises(SettingsError, match="developer portal"):
        x_account(Settings(TT_DEPLOYMENT="aws"), TokenStore())


def test_connect_by_script_post_describe_and_disconnect(server: XStandInServer) -> None:
    settings = settings_for(server)
    store = TokenStore()
    account = x_account(settings, store)
    assert describe_connection(account).startswith("not connected")
    poster = x_poster(settings, account)
    assert poster.post_reply("too early", CORPUS[0]["id"]).outcome == "unauthorized"

    tokens = connect_standin_account(account, REDIRECT)
    assert describe_connection(account) == "connected as @WebbTriageDemo"
    assert tokens.access_token not in describe_connection(account)
    assert poster.post_reply("Thanks, we are on it", CORPUS[0]["id"]).x_post_id
    assert [p.text for p in poster.recent_posts()] == ["Thanks, we are on it"]

    assert "disconnected: tokens revoked at X" in disconnect(account)
    assert store.slot.sealed is None and account.state() is ConnectionState.NOT_CONNECTED
    me = requests.get(
        f"{server.url}/2/users/me",
        headers={"Authorization": f"Bearer {tokens.access_token}"},
        timeout=5,
    )
    assert me.status_code == 401  # revoked at the stand-in, not only forgotten here
    assert disconnect(account) == "no X account was connected; nothing stored"


def test_a_revoked_account_is_described_as_such(server: XStandInServer) -> None:
    account = x_account(settings_for(server), TokenStore())
    connect_standin_account(account, REDIRECT)
    requests.post(f"{server.url}/_standin/oauth", json={"revoke_all": True}, headers=APP, timeout=5)
    requests.post(
        f"{server.url}/_standin/oauth", json={"expire_access_tokens": True}, headers=APP, timeout=5
    )
    account.clock = lambda: 4_000_000_000.0  # past the access token's expiry: a refresh is due
    assert account.access_token() is None
    assert describe_connection(account) == (
        "@WebbTriageDemo: X refused the tokens (revoked); connect again"
    )


def test_the_scripted_approval_needs_the_stand_ins_page(server: XStandInServer) -> None:
    with pytest.raises(ScriptedConnectError, match="did not show the X stand-in's approve page"):
        approve_on_standin(f"{server.url}/2/oauth2/authorize?client_id=someone-else")


def test_config_never_prints_the_app_secret_or_the_token_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from tweet_triage.cli import app

    key = Fernet.generate_key().decode()
    monkeypatch.setenv("X_CLIENT_SECRET", "the-app-secret")
    monkeypatch.setenv("X_TOKEN_KEY", key)
    shown = CliRunner().invoke(app, ["config", "show"])
    assert shown.exit_code == 0
    assert "the-app-secret" not in shown.output and key not in shown.output
    assert any(
        line.startswith("X_TOKEN_KEY") and "***" in line for line in shown.output.splitlines()
    )
    refused = CliRunner().invoke(app, ["config", "get", "X_TOKEN_KEY"])
    assert refused.exit_code != 0 and key not in refused.output
