"""The Ansible side: pinned collections, playbooks that parse, modules with check mode, and the
streamer role's security choices (root-owned settings, quoted shell, hash-checked wheels from
the host_install role it shares with the triage role)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tweet_triage.config import PROJECT_ROOT

PLAYBOOKS = PROJECT_ROOT / "playbooks"
ROLE = PLAYBOOKS / "roles" / "streamer"
INSTALL = PLAYBOOKS / "roles" / "host_install"
BIN = Path(sys.executable).parent


def test_pinned_collections_are_the_installed_ones() -> None:
    import ansible_collections

    pinned = yaml.safe_load((PROJECT_ROOT / "collections" / "requirements.yml").read_text())
    for collection in pinned["collections"]:
        namespace, name = collection["name"].split(".")
        manifest = Path(ansible_collections.__path__[0]) / namespace / name / "MANIFEST.json"
        installed = json.loads(manifest.read_text())["collection_info"]["version"]
        assert installed == collection["version"], collection["name"]


@pytest.mark.parametrize(
    "playbook", ["aws-create.yml", "aws-destroy.yml", "provision.yml", "stream.yml"]
)
def test_playbooks_parse(playbook: str, tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[streamer]\nhost ansible_connection=local\n")
    result = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "--syntax-check",
            "-i",
            str(inventory),
            str(PLAYBOOKS / playbook),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "module", sorted((PLAYBOOKS / "library").glob("*.py")), ids=lambda p: p.name
)
def test_project_modules_support_check_mode(module: Path) -> None:
    assert "supports_check_mode=True" in module.read_text()


def _role_tasks() -> list[dict[str, object]]:
    tasks: list[dict[str, object]] = []
    paths = [*(ROLE / "tasks").glob("*.yml"), ROLE / "handlers" / "main.yml"]
    for path in sorted([*paths, *(INSTALL / "tasks").glob("*.yml")]):
        tasks += yaml.safe_load(path.read_text()) or []
    return tasks


def test_settings_file_is_root_owned_and_group_readable() -> None:
    (task,) = [
        t
        for t in _role_tasks()
        if "ansible.builtin.template" in t and "settings file" in str(t.get("name"))
    ]
    template = task["ansible.builtin.template"]
    assert isinstance(template, dict)
    assert (template["owner"], template["group"], template["mode"]) == (
        "root",
        "{{ streamer_user }}",
        "0640",
    )
    assert task["no_log"] is True


def test_root_shell_tasks_never_splice_unquoted_values() -> None:
    shells = [t for t in _role_tasks() if "ansible.builtin.shell" in t]
    assert shells
    for task in shells:
        script = str(task["ansible.builtin.shell"])
        for expression in re.findall(r"{{(.*?)}}", script):
            assert re.search(r"\|\s*quote\s*$|map\('quote'\)", expression), (
                task["name"],
                expression,
            )


def test_wheels_are_installed_hash_checked() -> None:
    """The dependency set and the project wheel: each installed offline against its hashes."""
    scripts = [
        str(t["ansible.builtin.shell"]) for t in _role_tasks() if "ansible.builtin.shell" in t
    ]
    pip_lines = [line for s in scripts for line in s.splitlines() if 'pip" install' in line]
    assert len(pip_lines) == 2
    assert all("--no-index --require-hashes" in line for line in pip_lines)
