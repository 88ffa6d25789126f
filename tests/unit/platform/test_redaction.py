"""Secrets never reach a log line: message, structured fields, tracebacks, database URLs."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from tweet_triage.config import load_settings
from tweet_triage.logs import configure_logging

TOKEN = "bearer-token-4f9c2a"
DB_PASSWORD = "pg-pass-8e1d"


@pytest.fixture
def secret_settings(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
    monkeypatch.setenv("TRIAGE_DATABASE_URL", f"postgresql://triage:{DB_PASSWORD}@127.0.0.1/t")
    load_settings.cache_clear()
    return load_settings()


def test_structured_fields_and_tracebacks_are_redacted(secret_settings, tmp_path: Path) -> None:
    log_file = tmp_path / "log.jsonl"
    configure_logging(secret_settings, "INFO", json_file=log_file)
    log = logging.getLogger("tweet_triage.test")
    log.info("connected", extra={"fields": {"auth": f"Bearer {TOKEN}", "urls": [DB_PASSWORD]}})
    try:
        raise RuntimeError(f"refused Authorization: Bearer {TOKEN}")
    except RuntimeError:
        log.exception("call failed")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_file.read_text()
    assert TOKEN not in text and DB_PASSWORD not in text
    entries = [json.loads(line) for line in text.splitlines()]
    assert entries[0]["auth"] == "Bearer ***" and entries[0]["urls"] == ["***"]
    logging.getLogger().handlers.clear()


def test_an_unexpected_error_prints_a_redacted_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    code = (
        "import sys\n"
        "import tweet_triage.cli as cli\n"
        "def boom(*a, **k):\n"
        f"    raise RuntimeError('token {TOKEN} in an error')\n"
        "cli.app = boom\n"
        "cli.main()\n"
    )
    env = {"X_BEARER_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"}
    env.update({k: v for k, v in __import__("os").environ.items() if k.startswith("TT_")})
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 1
    assert "RuntimeError: token *** in an error" in result.stderr
    assert TOKEN not in result.stderr
