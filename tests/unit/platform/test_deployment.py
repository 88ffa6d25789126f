"""The deployment is chosen, never guessed: one setting, TT_DEPLOYMENT."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tweet_triage import settings_sources
from tweet_triage.config import PROJECT_ROOT, SettingsError, load_settings

STAND_IN_ENDPOINT = "http://127.0.0.1:5999"


def _run(args: list[str], cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in env and v is not None}
    environment.update(env)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={k: v for k, v in environment.items() if v != ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _stand_ins(state_dir: Path) -> None:
    """The files `local aws-up` and `local xapi-up` write while the stand-ins run."""
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "local-aws.env").write_text(
        f"AWS_ENDPOINT_URL={STAND_IN_ENDPOINT}\nAWS_REGION=us-east-1\n"
        "AWS_ACCESS_KEY_ID=testing\nAWS_SECRET_ACCESS_KEY=testing\n"
    )
    (state_dir / "local-xapi.env").write_text(
        "X_API_BASE_URL=http://127.0.0.1:5998\nX_BEARER_TOKEN=stand-in-token\n"
    )


@pytest.fixture
def state_dir() -> Path:
    return Path(os.environ["TT_STATE_DIR"])


@pytest.fixture
def dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / ".env"
    path.write_text(
        "AWS_REGION=eu-west-1\nAWS_ACCESS_KEY_ID=AKIAREALKEY\nX_API_BASE_URL=https://api.x.com\n"
    )
    monkeypatch.setattr(settings_sources, "dotenv_files", lambda: [path])
    return path


def test_the_state_folder_is_the_projects_whatever_the_working_directory(tmp_path: Path) -> None:
    # From a sub-folder too: else the stand-ins' settings go unfound and commands go to AWS.
    result = _run(
        ["-c", "from tweet_triage.config import load_settings; print(load_settings().state_dir)"],
        cwd=tmp_path,
        TT_STATE_DIR="",
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == PROJECT_ROOT / ".run"


def test_local_reads_the_running_stand_ins_over_dotenv_under_the_environment(
    state_dir: Path, dotenv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stand_ins(state_dir)
    settings = load_settings()
    assert settings.deployment == "local"
    assert settings.aws_endpoint_url == STAND_IN_ENDPOINT
    assert settings.x_api_base_url == "http://127.0.0.1:5998"
    assert settings.aws_client_kwargs()["aws_access_key_id"] == "testing"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:7777")
    load_settings.cache_clear()
    assert load_settings().aws_endpoint_url == "http://127.0.0.1:7777"


def test_aws_never_reads_the_stand_ins_files(
    state_dir: Path, dotenv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stand_ins(state_dir)
    monkeypatch.setenv("TT_DEPLOYMENT", "aws")
    settings = load_settings()
    assert settings.aws_endpoint_url is None
    assert settings.x_api_base_url == "https://api.x.com"
    assert settings.aws_client_kwargs() == {
        "region_name": "eu-west-1",
        "aws_access_key_id": "AKIAREALKEY",
    }


def test_the_deployment_may_be_chosen_in_dotenv(
    state_dir: Path, dotenv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stand_ins(state_dir)
    dotenv.write_text(dotenv.read_text() + "TT_DEPLOYMENT=aws\n")
    assert load_settings().aws_endpoint_url is None


def test_aws_with_an_endpoint_override_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TT_DEPLOYMENT", "aws")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    with pytest.raises(SettingsError, match="TT_DEPLOYMENT=aws never uses an endpoint override"):
        load_settings()


def test_local_without_stand_ins_never_points_at_aws_or_x() -> None:
    settings = load_settings()
    assert settings.aws_endpoint_url == f"http://127.0.0.1:{settings.local_aws_port}"
    assert settings.x_api_base_url == f"http://127.0.0.1:{settings.local_xapi_port}"
    with pytest.raises(SettingsError, match="local-aws-up"):
        settings.require_stand_ins("aws")


def test_loading_settings_leaves_the_environment_alone(state_dir: Path, dotenv: Path) -> None:
    _stand_ins(state_dir)
    before = dict(os.environ)
    load_settings()
    assert dict(os.environ) == before


def test_a_service_command_names_the_deployment_and_refuses_to_guess(state_dir: Path) -> None:
    result = _run(["-m", "tweet_triage", "aws", "status"])
    assert result.returncode == 2
    deployment, error = result.stderr.strip().splitlines()
    assert deployment.startswith("deployment: local (moto at http://127.0.0.1:")
    assert error.startswith("error: TT_DEPLOYMENT=local but the AWS stand-in (moto) is not")
    assert "make -f Makefile-stream local-aws-up" in error and "TT_DEPLOYMENT=aws" in error


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("AWS_ENDPOINT_URL", "not-a-url", "AWS_ENDPOINT_URL='not-a-url' is not an http(s) URL"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:70000", "with a valid port"),
        ("SPARK_CONF", "{not json", """SPARK_CONF='{"spark.executor.memory": "4g"}'"""),
        ("TT_DEPLOYMENT", "staging", "TT_DEPLOYMENT"),
    ],
)
def test_bad_settings_are_one_line_not_a_traceback(name: str, value: str, expected: str) -> None:
    result = _run(["-m", "tweet_triage", "aws", "status"], **{name: value})
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and expected in line, line
    assert "EnvSettingsSource" not in line


def test_envrun_builds_the_childs_environment_from_the_settings(state_dir: Path) -> None:
    _stand_ins(state_dir)
    local = _run(["-m", "tweet_triage.envrun", "env"], ANSIBLE_INVENTORY="")
    assert local.returncode == 0, local.stderr
    assert local.stderr.startswith("deployment: local (moto at http://127.0.0.1:5999")
    child = dict(line.split("=", 1) for line in local.stdout.splitlines() if "=" in line)
    assert child["AWS_ENDPOINT_URL"] == STAND_IN_ENDPOINT
    assert child["AWS_ACCESS_KEY_ID"] == "testing"
    assert child["TT_DEPLOYMENT"] == "local"
    assert child["ANSIBLE_INVENTORY"] == str(PROJECT_ROOT / "inventories" / "local")
    (state_dir / "local-host.env").write_text("ANSIBLE_INVENTORY=static,generated.yml\n")
    with_host = _run(["-m", "tweet_triage.envrun", "env"], ANSIBLE_INVENTORY="")
    assert "ANSIBLE_INVENTORY=static,generated.yml" in with_host.stdout.splitlines()

    aws = _run(["-m", "tweet_triage.envrun", "env"], ANSIBLE_INVENTORY="", TT_DEPLOYMENT="aws")
    assert aws.returncode == 0, aws.stderr
    child = dict(line.split("=", 1) for line in aws.stdout.splitlines() if "=" in line)
    assert "AWS_ENDPOINT_URL" not in child
    assert child["ANSIBLE_INVENTORY"] == str(PROJECT_ROOT / "inventories" / "production")
