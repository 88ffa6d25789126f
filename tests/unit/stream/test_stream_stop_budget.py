"""The streamer's stop fits in the time its service manager gives it before SIGKILL."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
import yaml

from tweet_triage.config import PROJECT_ROOT, Settings
from tweet_triage.stream.streamer import stop_budget_seconds

PLAYBOOKS = PROJECT_ROOT / "playbooks"


def _one(name: str) -> Path:
    """The playbooks' file of that name, wherever the layout keeps it (a role or top level)."""
    [path] = [p for p in PLAYBOOKS.rglob(name) if "streamer" in str(p)]
    return path


def test_default_stop_budget_is_inside_the_units_stop_timeout() -> None:
    files = PLAYBOOKS.rglob("*.yml")
    [defaults] = [p for p in files if "\nstreamer_stop_timeout:" in p.read_text()]
    variables = yaml.safe_load(defaults.read_text())
    budget = stop_budget_seconds(Settings(x_bearer_token="t"))
    assert budget == 5 + 120 + 10 + 1
    assert budget < float(variables["streamer_stop_timeout"])


@pytest.mark.parametrize(("version", "grows"), [(252, False), (254, True)])
def test_the_unit_grows_its_restart_delay_where_systemd_can(version: int, grows: bool) -> None:
    template = jinja2.Template(_one("streamer.service.j2").read_text())
    unit = template.render(ansible_facts={"systemd": {"version": version}}, ansible_managed="")
    settings = dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and line[0] != "#"
    )
    assert ("RestartSteps" in settings) is grows
    if grows:
        assert float(settings["RestartMaxDelaySec"]) > float(settings["RestartSec"])
