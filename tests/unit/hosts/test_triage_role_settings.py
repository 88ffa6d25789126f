"""The triage host's X app: its settings reach the host's settings file, its secrets never
reach a play's output, and the outbox worker runs there only when X_CLIENT_ID is set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from cryptography.fernet import Fernet

from tweet_triage.config import PROJECT_ROOT, Settings
from tweet_triage.hosts.role_settings import host_settings

ROLE = PROJECT_ROOT / "playbooks" / "roles" / "triage"
BIN = Path(sys.executable).parent
SECRET = 'client-secret-with-"quotes"'
TOKEN_KEY = Fernet.generate_key().decode()


def _triage_host(**values: object) -> dict[str, str]:
    settings = Settings(  # type: ignore[call-arg]
        **{"deployment": "aws", "aws_region": "eu-west-1", "mission_profile": "demo", **values}
    )
    return host_settings(
        settings,
        aws_credentials="instance-profile",
        host_state_dir="/var/lib/tweet-triage-triage",
        host_profile_path="/etc/tweet-triage/triage-profile.yaml",
        role="triage",
    )


def test_the_x_app_and_the_outbox_settings_reach_the_host() -> None:
    values = _triage_host(
        x_client_id="app-id",
        x_client_secret=SECRET,
        x_token_key=TOKEN_KEY,
        x_redirect_uri="https://inbox.example.org/x/callback",
        triage_reply_window_minutes=15,
        triage_sla_minutes=45,
        triage_outbox_poll_seconds=2,
    )
    assert values["X_CLIENT_ID"] == "app-id"
    assert values["X_CLIENT_SECRET"] == SECRET and values["X_TOKEN_KEY"] == TOKEN_KEY
    assert values["X_REDIRECT_URI"] == "https://inbox.example.org/x/callback"
    assert values["X_API_BASE_URL"] == "https://api.x.com"
    assert values["TRIAGE_REPLY_WINDOW_MINUTES"] == "15.0"
    assert values["TRIAGE_SLA_MINUTES"] == "45.0"
    assert values["TRIAGE_OUTBOX_POLL_SECONDS"] == "2.0"
    assert "X_BEARER_TOKEN" not in values  # the streamer's, not this host's


def test_unset_x_secrets_are_left_out_so_the_host_makes_its_own_key_file() -> None:
    values = _triage_host()
    assert not {"X_CLIENT_ID", "X_CLIENT_SECRET", "X_TOKEN_KEY"} & set(values)
    assert values["X_REDIRECT_URI"] == "http://127.0.0.1:8080/x/callback"


def test_a_local_host_posts_to_the_controllers_x_stand_in() -> None:
    settings = Settings(  # type: ignore[call-arg]
        deployment="local", aws_region="eu-west-1", mission_profile="demo", local_xapi_port=9911
    )
    values = host_settings(
        settings,
        aws_credentials="forward",
        host_state_dir="/var/lib/tweet-triage-triage",
        host_profile_path="/etc/tweet-triage/triage-profile.yaml",
        role="triage",
    )
    # Explicit on the host: its own LOCAL_XAPI_PORT default would name another port.
    assert values["X_API_BASE_URL"] == "http://127.0.0.1:9911"


def _host_settings_cli(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "tweet-triage"), "host", "settings", "--role=triage",
         "--aws-credentials=instance-profile", "--host-state-dir=/var/lib/tt",
         "--host-profile-path=/etc/tt/profile.yaml"],
        capture_output=True, text=True, check=False, env=env, timeout=120,
    )  # fmt: skip


def test_a_refused_settings_run_names_the_setting_never_a_secret() -> None:
    """The play prints `host settings`' stderr when it fails: names only, no value."""
    env = {
        **os.environ,
        "TT_DEPLOYMENT": "aws",
        "MISSION_PROFILE": "demo",
        "X_CLIENT_ID": "app-id",
        "X_CLIENT_SECRET": SECRET,
        "X_TOKEN_KEY": TOKEN_KEY,
    }  # no AWS_REGION
    refused = _host_settings_cli(env)
    assert refused.returncode == 2 and "AWS_REGION" in refused.stderr
    assert SECRET not in refused.stderr + refused.stdout
    assert TOKEN_KEY not in refused.stderr + refused.stdout
    accepted = _host_settings_cli({**env, "AWS_REGION": "eu-west-1"})
    assert accepted.returncode == 0, accepted.stderr
    settings = json.loads(accepted.stdout)["settings"]  # read by a no_log task only
    assert (settings["X_CLIENT_SECRET"], settings["X_TOKEN_KEY"]) == (SECRET, TOKEN_KEY)


def _tasks(path: Path) -> list[dict[str, object]]:
    return list(yaml.safe_load(path.read_text()))


def test_every_task_that_holds_the_settings_is_no_log() -> None:
    """The resolved settings (database password, X secret, token key) and the settings file
    never appear in a play's output or log (the failure message is `host settings`' stderr:
    names only, see above)."""
    holders = [
        task
        for path in (ROLE / "tasks").glob("*.yml")
        for task in _tasks(path)
        if any(
            name in json.dumps(task)
            for name in (
                '"triage_settings_result"',  # registered: its stdout holds the values
                "triage_settings_result.stdout",
                "triage_host_settings",
                "triage.env.j2",
            )
        )
    ]
    assert len(holders) >= 4  # resolve, keep, what is set, write the file
    for task in holders:
        assert task.get("no_log") is True, task["name"]


def _expression(template: str) -> str:
    """The Jinja expression inside a task's `{{ ... }}`."""
    return template.strip().removeprefix("{{").removesuffix("}}").strip()


def _role_services(x_client_id: str, folder: Path) -> dict[str, list[str]]:
    """The role's own expressions, evaluated by Ansible: the services it starts, retires and
    stops (in order) for these settings."""
    stop_loops = [t["loop"] for t in _tasks(ROLE / "tasks" / "stop.yml") if "loop" in t]
    systemd_stop, supervised_stop = (_expression(str(loop)) for loop in stop_loops)
    shown = (
        "{{ {'start': triage_services | map(attribute='name') | list,"
        " 'retire': triage_retired_units | map(attribute='name') | list,"
        f" 'systemd_stop': {systemd_stop},"
        f" 'supervised_stop': ({supervised_stop}) | map(attribute='name') | list}} }}}}"
    )
    play = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars_files": [str(ROLE / "defaults" / "main.yml")],
            "tasks": [
                {
                    "ansible.builtin.set_fact": {
                        "triage_host_settings": {"X_CLIENT_ID": x_client_id}
                    }
                },
                *[t for t in _tasks(ROLE / "tasks" / "settings.yml") if "X app" in t["name"]],
                {"name": "show", "ansible.builtin.debug": {"msg": shown}},
            ],
        }
    ]
    (folder / "play.yml").write_text(yaml.safe_dump(play))
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", str(folder / "play.yml"),
         "-e", f"playbook_dir={PROJECT_ROOT / 'playbooks'}"],
        capture_output=True, text=True, check=False, timeout=120,
        env={**os.environ, "ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_NOCOLOR": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    tasks = json.loads(result.stdout)["plays"][0]["tasks"]
    return dict(tasks[-1]["hosts"]["localhost"]["msg"])


JOBS = ["tweet-triage-retrain", "tweet-triage-drift"]


def test_with_an_x_app_the_outbox_worker_runs_and_stops_after_the_inbox(tmp_path: Path) -> None:
    services = _role_services("app-id", tmp_path)
    assert services["start"] == [
        "tweet-triage-follow",
        "tweet-triage-scorer",
        "tweet-triage-outbox",
        "tweet-triage-inbox",
    ]
    assert services["retire"] == []
    # The inbox first (no new replies), then the worker finishes the reply in hand.
    services_stopped = ["tweet-triage-inbox", "tweet-triage-outbox", "tweet-triage-scorer",
                        "tweet-triage-follow"]  # fmt: skip
    assert services["supervised_stop"] == JOBS + services_stopped
    assert services["systemd_stop"] == [f"{job}.timer" for job in JOBS] + services_stopped


def test_without_an_x_app_the_outbox_worker_is_retired(tmp_path: Path) -> None:
    services = _role_services("", tmp_path)
    assert services["start"] == ["tweet-triage-follow", "tweet-triage-scorer", "tweet-triage-inbox"]
    assert services["retire"] == ["tweet-triage-outbox"]
    assert "tweet-triage-outbox" not in services["supervised_stop"]
