"""A newcomer's first hour (issue 14): the example settings, the demo, doctor, config show,
profile validate, --version/-h on every command, logs fit for pipes."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from dotenv import dotenv_values
from typer.testing import CliRunner

from tweet_triage import __version__
from tweet_triage.cli import app
from tweet_triage.config import PROJECT_ROOT, load_settings
from tweet_triage.hosts.processes import free_port
from tweet_triage.logs import configure_logging
from tweet_triage.profile import load_profile
from tweet_triage_local.demo import Step, _run_step
from tweet_triage_local.profile_check import count_matches

runner = CliRunner()


def test_the_example_settings_stream_the_bundled_corpus() -> None:
    # Issue 14.3: .env.example named jwst, which matches none of the bundled tweets, so
    # stream-check waited forever for 100.
    example = dotenv_values(PROJECT_ROOT / ".env.example")
    assert example["TT_DEPLOYMENT"] == "local"
    profile = load_profile(str(example["MISSION_PROFILE"]))
    matches = count_matches(profile)
    assert matches.any_rule >= 100, "stream-check needs 100 matching tweets"
    assert all(rule.matched > 0 for rule in matches.rules)


def test_stream_check_has_a_time_limit() -> None:
    result = subprocess.run(
        ["make", "-n", "-f", "Makefile-stream", "stream-check", "STREAM_CHECK_SECONDS=7"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    (command,) = [line for line in result.stdout.splitlines() if " stream run " in line]
    assert "--max-tweets 100 --max-seconds 7" in command


def test_the_demo_pins_its_profile_and_the_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISSION_PROFILE", "jwst")
    monkeypatch.setenv("TT_DEPLOYMENT", "aws")
    probe = "import os, sys; sys.exit(os.environ['MISSION_PROFILE'] + os.environ['TT_DEPLOYMENT'])"
    assert _run_step(Step("probe", [sys.executable, "-c", probe])) is False  # exits non-zero
    check = (
        "import os, sys; "
        "sys.exit(0 if (os.environ['MISSION_PROFILE'], os.environ['TT_DEPLOYMENT']) == "
        "('demo', 'local') else 1)"
    )
    assert _run_step(Step("check", [sys.executable, "-c", check])) is True


def test_doctor_names_each_failure_with_its_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ports nothing listens on: a stand-in running on the default ports must not pass the check.
    monkeypatch.setenv("LOCAL_AWS_PORT", str(free_port()))
    monkeypatch.setenv("LOCAL_XAPI_PORT", str(free_port()))
    load_settings.cache_clear()
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "FAIL  AWS stand-in: moto at http://127.0.0.1:" in result.output
    assert "fix: make -f Makefile-stream local-aws-up" in result.output
    assert "PASS  profile: demo:" in result.output
    checks = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)
    assert {c["name"] for c in checks} >= {"java", "extra data", "deployment", "X stand-in"}


def test_config_show_says_where_each_setting_came_from_and_masks_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = Path(os.environ["TT_STATE_DIR"])
    state.mkdir(parents=True)
    (state / "local-aws.env").write_text("AWS_ENDPOINT_URL=http://127.0.0.1:5999\n")
    monkeypatch.setenv("STACK_NAME", "from-the-env")
    monkeypatch.setenv("X_BEARER_TOKEN", "very-secret-token")
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    assert "very-secret-token" not in result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["STACK_NAME"] == {
        "name": "STACK_NAME",
        "value": "from-the-env",
        "origin": "environment",
    }
    assert rows["AWS_ENDPOINT_URL"]["origin"] == "running stand-in (local-aws.env)"
    assert rows["X_BEARER_TOKEN"]["value"] == "***"
    assert rows["RAW_PREFIX"]["origin"] == "default"


def test_profile_validate_counts_the_bundled_tweets_each_rule_matches() -> None:
    result = runner.invoke(app, ["profile", "validate", "jwst", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["corpus_tweets"] == 49_570 and report["any_rule"] == 0
    assert report["rules"][0] == {"tag": "jwst-name", "matched": 0}
    assert report["patterns"] == 1


def test_profile_validate_names_an_invalid_profile(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nstream:\n  rules:\n    - {tag: t, value: 'word'}\n"
        "filter:\n  keep_patterns: ['(?P<w>x)']\n"
    )
    result = runner.invoke(app, ["profile", "validate", str(bad)])
    assert result.exit_code == 1 and "not a Java regular expression" in str(result.exception)


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    if hasattr(command, "commands"):  # a group
        for name, sub in command.commands.items():
            found += _commands(sub, (*path, name))
    return found


def test_every_command_has_h_and_version() -> None:
    root = typer.main.get_command(app)
    commands = _commands(root)
    assert len(commands) > 30
    for path in commands:
        result = runner.invoke(app, [*path, "-h"])
        assert result.exit_code == 0 and "usage" in result.output.lower(), (path, result.output)
    for path in (("aws", "status"), ("stream", "run"), ("predict",), ()):
        version = subprocess.run(
            [sys.executable, "-m", "tweet_triage", *path, "--version"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert (version.returncode, version.stdout.strip()) == (0, __version__), path


def test_logs_are_plain_iso_lines_when_not_on_a_terminal(
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure_logging(load_settings())
    logging.getLogger("tweet_triage.probe").info("hello %s", "pipes")
    line = capfd.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} INFO tweet_triage\.probe: hello pipes", line
    ), line


def test_the_global_log_level_applies_to_every_command() -> None:
    result = runner.invoke(app, ["--log-level", "WARNING", "version"])
    assert result.exit_code == 0
    configure_logging(load_settings())
    assert logging.getLogger().level == logging.WARNING
    runner.invoke(app, ["--log-level", "INFO", "version"])


def test_version_flag_without_a_value_is_the_projects_and_with_one_the_commands() -> None:
    from tweet_triage.cli import _asks_for_version

    assert _asks_for_version(["--version"])
    assert _asks_for_version(["stream", "run", "--version"])
    assert _asks_for_version(["aws", "status", "--version", "--json"])
    assert not _asks_for_version(["model", "promote", "--version", "3"])
    assert not _asks_for_version(["model", "status"])
