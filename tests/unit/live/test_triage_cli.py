"""`tweet-triage triage ...`: migrate, accounts and API tokens, as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tweet_triage.live.cli import app
from tweet_triage.live.store import (
    DuplicateUserError,
    InvalidUserNameError,
    StoreError,
    TriageStore,
    UnknownUserError,
)
from tweet_triage.live.web.security import WeakPasswordError, token_digest, verify_password

runner = CliRunner()
PW = "a long password\n"


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TRIAGE_DATABASE_URL", raising=False)
    return Path(os.environ["TT_STATE_DIR"])  # the per-test state folder (tests/conftest.py)


def test_accounts_and_tokens(state: Path) -> None:
    from alembic.script import ScriptDirectory

    from tweet_triage.live.store import MIGRATIONS_DIR

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    migrated = runner.invoke(app, ["migrate"])
    assert migrated.exit_code == 0 and f"schema revision {head}" in migrated.output

    add = ["users", "add", "maria", "--password-stdin"]
    assert runner.invoke(app, add, input="a long password\n").exit_code == 0
    again = runner.invoke(app, add, input="a long password\n")
    assert isinstance(again.exception, DuplicateUserError)
    short = runner.invoke(app, ["users", "add", "bob", "--password-stdin"], input="short\n")
    assert isinstance(short.exception, WeakPasswordError)

    created = runner.invoke(app, ["tokens", "create", "maria", "--name", "scripts"])
    assert created.exit_code == 0
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("tt_")
    assert isinstance(
        runner.invoke(app, ["tokens", "create", "nobody"]).exception, UnknownUserError
    )

    store = TriageStore(f"sqlite:///{state / 'triage' / 'triage.db'}")
    user = store.user_for_token(token_digest(token))
    assert user is not None and user.name == "maria"
    assert verify_password(user.password_hash, "a long password")
    listed = runner.invoke(app, ["tokens", "list"]).output
    assert "maria\tscripts" in listed and token not in listed
    (row,) = store.tokens()
    assert runner.invoke(app, ["tokens", "revoke", str(row.id)]).exit_code == 0
    assert store.user_for_token(token_digest(token)) is None
    store.close()


def test_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "TT_STATE_DIR": str(tmp_path / "state"), "TT_IGNORE_DOTENV": "1"}
    env.pop("TRIAGE_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "tweet_triage", "triage", "tokens", "create", "nobody"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: no user 'nobody' in the triage store; create it with "
        "`tweet-triage triage users add nobody`"
    )


def test_user_names_roles_and_account_states(state: Path) -> None:
    def add(*args: str) -> Result:
        return runner.invoke(app, ["users", "add", *args, "--password-stdin"], input=PW)

    first = add(" maria ")
    assert first.exit_code == 0 and "user maria created (admin)" in first.output
    for bad, why in (("", "cannot be empty"), ("two words", "letters A-Z, digits")):
        refused = add(bad)
        assert isinstance(refused.exception, InvalidUserNameError)
        assert why in str(refused.exception)
    assert "user bob created (agent)" in add("bob").output
    assert "user carol created (admin)" in add("carol", "--role", "admin").output
    assert isinstance(add("dave", "--role", "owner").exception, StoreError)
    listed = runner.invoke(app, ["users", "list"]).output
    assert "maria\tadmin\tactive" in listed and "bob\tagent\tactive" in listed

    assert "bob is now admin" in runner.invoke(app, ["users", "role", "bob", "admin"]).output
    assert runner.invoke(app, ["users", "disable", "bob"]).exit_code == 0
    assert "bob\tadmin\tdisabled" in runner.invoke(app, ["users", "list"]).output
    assert runner.invoke(app, ["users", "enable", "bob"]).exit_code == 0
    assert runner.invoke(app, ["users", "remove", "carol"]).exit_code == 0
    assert "carol" not in runner.invoke(app, ["users", "list"]).output

    created = runner.invoke(app, ["tokens", "create", "maria", "--days", "7"])
    assert created.exit_code == 0
    token = created.stdout.strip().splitlines()[-1]
    store = TriageStore(f"sqlite:///{state / 'triage' / 'triage.db'}")
    (row,) = store.tokens()
    assert row.expires_at - row.created_at == pytest.approx(
        timedelta(days=7), abs=timedelta(seconds=5)
    )
    assert "expires " in runner.invoke(app, ["tokens", "list"]).output
    assert store.user_for_token(token_digest(token)) is not None
    replaced = runner.invoke(
        app, ["users", "add", "maria", "--replace", "--password-stdin"], input="another password\n"
    )
    assert replaced.exit_code == 0 and "sessions and API tokens are ended" in replaced.output
    assert store.user_for_token(token_digest(token)) is None
    store.close()
