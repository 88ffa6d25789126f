"""The runtime's CLI finds the stand-ins through entry points, and does without them."""

from __future__ import annotations

import re
from importlib.metadata import EntryPoint
from typing import Any

import pytest
import typer

from tweet_triage import cli


def fake_entry_points(*points: EntryPoint) -> Any:
    return lambda group: [p for p in points if p.group == group]


def test_installed_plugins_register_the_stand_in_commands() -> None:
    names = set(typer.main.get_command(cli.app).commands)  # type: ignore[attr-defined]
    assert {"local", "xapi", "corpus", "demo"} <= names
    assert cli._plugins("tweet_triage.rule_counters")


def test_a_plugin_whose_package_is_not_installed_is_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = EntryPoint("gone", "not_installed_pkg.cli:register", "tweet_triage.commands")
    monkeypatch.setattr(cli, "entry_points", fake_entry_points(missing))
    assert cli._plugins("tweet_triage.commands") == []


def test_a_plugin_that_breaks_on_import_is_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = EntryPoint(
        "broken", "tests.unit.platform.broken_plugin:register", "tweet_triage.commands"
    )
    monkeypatch.setattr(cli, "entry_points", fake_entry_points(broken))
    with pytest.raises(ModuleNotFoundError, match=re.escape("tests.unit.platform.broken_plugin")):
        cli._plugins("tweet_triage.commands")
