"""The triage role's systemd units, rendered as Ansible renders them, pass systemd's checks.

The loopback host of the integration test has no systemd (the role's supervisor path runs
there), so the systemd path's units are verified here with `systemd-analyze verify`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tweet_triage.config import PROJECT_ROOT

ROLE = PROJECT_ROOT / "playbooks" / "roles" / "triage"
ANSIBLE = Path(sys.executable).parent / "ansible"


def render(template: str, variables: dict[str, object], dest: Path) -> None:
    """One of the role's templates, rendered by Ansible's template module as a play would."""
    (dest.parent / "vars.json").write_text(json.dumps(variables))
    rendered = subprocess.run(
        [str(ANSIBLE), "localhost", "-c", "local", "-m", "ansible.builtin.template",
         "-a", f"src={ROLE / 'templates' / template} dest={dest}",
         "-e", f"@{dest.parent / 'vars.json'}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stdout[-2000:]


def unit_variables(item: dict[str, object], folder: Path) -> dict[str, object]:
    """The play's variables for one unit template: root, an empty env file, /bin/true."""
    (folder / "triage.env").write_text("")
    return {
        "item": item,
        "triage_user": "root",
        "triage_env_file": str(folder / "triage.env"),
        "triage_state_dir": str(folder),
        "triage_cli": "/bin/true",
    }


def verify(analyze: str, *units: Path) -> None:
    result = subprocess.run(
        [analyze, "verify", "--man=no", *map(str, units)], capture_output=True, text=True
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_service_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here, so the units cannot be verified")
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    units = defaults["triage_units"]
    assert [u["name"] for u in units] == [
        "tweet-triage-follow",
        "tweet-triage-scorer",
        "tweet-triage-outbox",
        "tweet-triage-inbox",
    ]
    for unit in units:
        dest = tmp_path / f"{unit['name']}.service"
        render("triage.service.j2", unit_variables(unit, tmp_path), dest)
        verify(analyze, dest)
        text = dest.read_text()
        assert f"ExecStart=/bin/true {' '.join(unit['args'])}" in text
        for line in ("Restart=on-failure", "RestartPreventExitStatus=2", "KillMode=mixed",
                     f"TimeoutStopSec={unit['stop_timeout']}", "EnvironmentFile="):  # fmt: skip
            assert line in text


def test_loop_timer_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """The role's retrain and drift units and their daily timers, rendered as Ansible does."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here, so the units cannot be verified")
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    names = [u["name"] for u in defaults["triage_loop_units"]]
    assert names == ["tweet-triage-retrain", "tweet-triage-drift"]
    assert "--fail-on-drift" in defaults["triage_loop_units"][1]["args"]
    for unit in defaults["triage_loop_units"]:
        item = {**unit, "on_calendar": "daily"}
        item["args"] = [
            str(a).replace("{{ triage_retrain_min_new_labels }}", "50") for a in unit["args"]
        ]
        variables = unit_variables(item, tmp_path)
        for kind in ("service", "timer"):
            render(f"loop.{kind}.j2", variables, tmp_path / f"{unit['name']}.{kind}")
        verify(analyze, tmp_path / f"{unit['name']}.service", tmp_path / f"{unit['name']}.timer")
        assert "OnCalendar=daily" in (tmp_path / f"{unit['name']}.timer").read_text()
        assert "Type=oneshot" in (tmp_path / f"{unit['name']}.service").read_text()
