"""`tweet-triage local xapi-posts`: what went out on the X stand-in, read with its app bearer."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.unit.live.test_x_connection import TokenStore, settings_for
from tests.unit.xapi.test_xapi_writes import CLIENT_ID, CORPUS, TOKEN, make_server
from tweet_triage.config import load_settings
from tweet_triage.live.replies.x_connection import x_account, x_poster
from tweet_triage_local.cli import app
from tweet_triage_local.x_connect import connect_standin_account


def test_lists_the_newest_posts_with_the_tweet_each_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_server(tmp_path / "xapi")
    try:
        settings = settings_for(server)
        account = x_account(settings, TokenStore())
        connect_standin_account(account, "http://127.0.0.1:8000/x/callback")
        poster = x_poster(settings, account)
        for index in range(3):
            assert poster.post_reply(f"answer {index}", CORPUS[index]["id"]).x_post_id
        monkeypatch.setenv("X_API_BASE_URL", server.url)
        monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
        monkeypatch.setenv("X_CLIENT_ID", CLIENT_ID)
        load_settings.cache_clear()
        listed = CliRunner().invoke(app, ["xapi-posts", "--last", "2"])
    finally:
        server.stop()
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert [line.split("  ")[-1] for line in lines[:-1]] == ["answer 1", "answer 2"]
    assert f"to {CORPUS[2]['id']}" in lines[1] and "@WebbTriageDemo" in lines[1]
    assert lines[-1] == "3 post(s) in all"
