"""What the controller ships to a host: its wheelhouse, its settings file, the systemd unit."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from dotenv import dotenv_values

from tweet_triage.config import PROJECT_ROOT, Settings, SettingsError
from tweet_triage.hosts import wheelhouse
from tweet_triage.hosts.role_settings import HostRoleError, host_settings
from tweet_triage.hosts.wheelhouse import (
    WheelhouseError,
    _source_files,
    _write_archive,
    build_wheelhouse,
    dependency_lock,
    pack_folder,
    pip_platforms,
)
from tweet_triage.profile import ProfileError

HEAVY = ("torch", "pyspark", "transformers", "mlflow", "pandas", "moto", "ansible", "numpy")
TEMPLATES = PROJECT_ROOT / "playbooks" / "roles" / "streamer" / "templates"
ANSIBLE = Path(sys.executable).parent / "ansible"


def test_core_lock_is_the_streamer_closure_without_heavy_stages() -> None:
    lock = dependency_lock()
    assert {"boto3", "botocore", "tweepy", "pydantic", "pydantic-core", "typer"} <= set(lock)
    assert not set(lock) & set(HEAVY)


def test_the_triage_lock_adds_its_extras_and_the_extras_of_their_dependencies() -> None:
    lock = dependency_lock(("data", "model", "triage"))
    assert set(dependency_lock()) < set(lock)
    assert {"pyspark", "torch", "onnxruntime", "mlflow", "fastapi", "alembic"} <= set(lock)
    assert "psycopg-binary" in lock  # psycopg[binary]: an extra of a dependency
    assert not {"moto", "ansible", "pytest", "papermill", "tweet-triage"} & set(lock)
    with pytest.raises(WheelhouseError, match="unknown extra"):
        dependency_lock(("no-such-extra",))


def test_the_cli_loads_with_core_dependencies_only() -> None:
    """The host installs core dependencies only: importing the CLI must not need the rest."""
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {HEAVY!r}:\n"
        "            raise ImportError('heavy module ' + name)\n"
        "        if name == 'tweet_triage_local':  # the host wheel has no stand-ins\n"
        "            raise ModuleNotFoundError('no stand-ins', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "sys.argv = ['tweet-triage', 'host', '--help']\n"
        "from tweet_triage.cli import main\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocker], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "status" in result.stdout


def test_the_host_wheel_holds_the_runtime_package_only() -> None:
    packages = {
        p.relative_to(PROJECT_ROOT / "src").parts[0]
        for p in _source_files(PROJECT_ROOT)
        if PROJECT_ROOT / "src" in p.parents
    }
    assert packages == {"tweet_triage"}


def test_pip_platforms_cover_older_manylinux_tags() -> None:
    platforms = pip_platforms("aarch64", "2.34")
    assert platforms[0] == "manylinux_2_34_aarch64"
    assert "manylinux_2_17_aarch64" in platforms and "manylinux2014_aarch64" in platforms
    with pytest.raises(WheelhouseError, match="glibc"):
        pip_platforms("x86_64", "musl")


def test_the_archive_is_byte_for_byte_reproducible(tmp_path: Path) -> None:
    (tmp_path / "a.whl").write_bytes(b"wheel a")
    (tmp_path / "requirements.txt").write_text("a==1\n")
    _write_archive(tmp_path, ["requirements.txt", "a.whl"], tmp_path / "one.tar")
    (tmp_path / "a.whl").touch()  # a new mtime must not matter
    _write_archive(tmp_path, ["a.whl", "requirements.txt"], tmp_path / "two.tar")
    assert (tmp_path / "one.tar").read_bytes() == (tmp_path / "two.tar").read_bytes()


def test_a_packed_folder_is_named_by_its_content(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sub" / "weights.bin").write_bytes(b"\0" * 10)
    first = pack_folder(folder, cache=tmp_path / "cache")
    (folder / "config.json").touch()  # a new mtime alone changes nothing
    assert pack_folder(folder, cache=tmp_path / "cache") == first
    with tarfile.open(first) as tar:
        assert sorted(tar.getnames()) == ["config.json", "sub/weights.bin"]
    (folder / "config.json").write_text('{"changed": true}')
    assert pack_folder(folder, cache=tmp_path / "cache") != first


def test_the_wheelhouse_refuses_a_folder_that_is_not_a_checkout(tmp_path: Path) -> None:
    with pytest.raises(WheelhouseError, match="not a tweet-triage checkout"):
        build_wheelhouse("3.11", "x86_64", "2.36", source=tmp_path, cache=tmp_path / "cache")


def test_the_project_wheel_ships_apart_from_the_dependency_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One install path for every host: the dependency set's tar and the project wheel, each
    wheel with the SHA-256 the host's pip checks; a second build reuses the same files."""
    cache = tmp_path / "cache"
    deps = cache / "deps" / "a-set"
    deps.mkdir(parents=True)
    (deps / "dep_a-1.0-py3-none-any.whl").write_bytes(b"wheel a")
    (deps / "dep_b-2.0-py3-none-any.whl").write_bytes(b"wheel b")
    monkeypatch.setattr(wheelhouse, "dependency_wheels", lambda *args: deps)  # no PyPI here
    snapshot = tmp_path / "checkout"
    for path in _source_files(PROJECT_ROOT):
        target = snapshot / path.relative_to(PROJECT_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)

    first = build_wheelhouse("3.11", "x86_64", "2.36", source=snapshot, cache=cache)
    assert first.project_wheel.name.startswith("tweet_triage-")
    assert first.deps_id == "a-set" and first.deps_archive == deps / "deps.tar"
    with tarfile.open(first.deps_archive) as tar:
        assert tar.getnames() == ["dep_a-1.0-py3-none-any.whl", "dep_b-2.0-py3-none-any.whl"]
    shipped = [first.project_wheel, *deps.glob("*.whl")]
    assert first.sha256 == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in shipped}
    assert build_wheelhouse("3.11", "x86_64", "2.36", source=snapshot, cache=cache) == first


def _settings(**values: str) -> Settings:
    base = {
        "deployment": "aws",
        "aws_region": "eu-west-1",
        "x_bearer_token": 'token-with-"quotes"-and-\\backslash',
        "mission_profile": "demo",
    }
    return Settings(**{**base, **values})  # type: ignore[arg-type]


def _host(settings: Settings, credentials: str, role: str = "streamer") -> dict[str, str]:
    return host_settings(
        settings,
        aws_credentials=credentials,  # type: ignore[arg-type]
        host_state_dir="/var/lib/tweet-triage",
        host_profile_path="/etc/tweet-triage/profile.yaml",
        role=role,
    )


def test_instance_profile_hosts_get_no_aws_keys() -> None:
    settings = _settings(aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="secret")
    values = _host(settings, "instance-profile")
    assert values["TT_DEPLOYMENT"] == "aws" and "AWS_ENDPOINT_URL" not in values
    assert "AWS_ACCESS_KEY_ID" not in values and "AWS_SECRET_ACCESS_KEY" not in values
    assert values["AWS_REGION"] == values["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert values["MISSION_PROFILE"] == "/etc/tweet-triage/profile.yaml"
    assert values["TT_STATE_DIR"] == "/var/lib/tweet-triage"
    assert "STREAM_QUEUE_SIZE" in values and "STREAM_SPOOL_DIR" not in values
    assert not {"DATA_DIR", "MODEL_DIR", "LOCAL_AWS_PORT"} & set(values)


def test_forward_passes_the_stand_in_endpoint_and_keys() -> None:
    settings = _settings(
        deployment="local",
        aws_endpoint_url="http://127.0.0.1:5000",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    values = _host(settings, "forward")
    assert values["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert values["AWS_SECRET_ACCESS_KEY"] == "testing"
    with pytest.raises(HostRoleError, match="instance profile"):
        _host(settings, "instance-profile")


def test_the_triage_host_keeps_its_files_in_its_state_folder() -> None:
    settings = _settings(
        x_bearer_token="",  # the streamer's: the triage host reads no stream
        triage_database_url="sqlite:////home/me/triage.db",  # a controller file: not passed on
        mlflow_tracking_uri="http://mlflow.internal:5000",  # a server: passed on
        triage_port="9999",
    )
    settings.spark_conf = {"spark.ui.enabled": "false"}
    values = _host(settings, "instance-profile", role="triage")
    assert values["DATA_DIR"] == "/var/lib/tweet-triage/data"
    assert values["MODEL_DIR"] == "/var/lib/tweet-triage/model"
    assert values["REPORTS_DIR"] == "/var/lib/tweet-triage/reports"
    assert "TRIAGE_DATABASE_URL" not in values and "X_BEARER_TOKEN" not in values
    assert values["MLFLOW_TRACKING_URI"] == "http://mlflow.internal:5000"
    assert json.loads(values["SPARK_CONF"]) == {"spark.ui.enabled": "false"}
    assert "TRIAGE_SCORE_EVERY" in values
    assert not {"TRIAGE_PORT", "TRIAGE_MODEL", "TRIAGE_RAW_DIR", "STREAM_QUEUE_SIZE"} & set(values)
    local_db = _host(_settings(), "instance-profile", role="triage")
    assert local_db["MLFLOW_TRACKING_URI"] == "sqlite:////var/lib/tweet-triage/mlflow.db"
    postgres = _settings(triage_database_url="postgresql+psycopg://u:p@db:5432/triage")
    assert "TRIAGE_DATABASE_URL" in _host(postgres, "instance-profile", role="triage")
    with pytest.raises(HostRoleError, match="unknown host role"):
        _host(settings, "instance-profile", role="nope")


def test_missing_token_and_unknown_profile_are_named() -> None:
    with pytest.raises(SettingsError, match="X_BEARER_TOKEN"):
        _host(_settings(x_bearer_token=""), "instance-profile")
    with pytest.raises(ProfileError, match="unknown mission profile 'nope'"):
        _host(_settings(mission_profile="nope"), "instance-profile")


def _render(template: str, variables: dict[str, object], dest: Path) -> None:
    """Render with Ansible's own template module, as the playbook does."""
    (dest.parent / "vars.json").write_text(json.dumps(variables))
    result = subprocess.run(
        [str(ANSIBLE), "localhost", "-c", "local", "-m", "ansible.builtin.template",
         "-a", f"src={TEMPLATES / template} dest={dest}", "-e", f"@{dest.parent / 'vars.json'}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]


def test_settings_file_round_trips_quotes_and_backslashes(tmp_path: Path) -> None:
    values = _host(_settings(), "instance-profile")
    _render("streamer.env.j2", {"streamer_host_settings": values}, tmp_path / "streamer.env")
    read_back = dotenv_values(tmp_path / "streamer.env", interpolate=False)
    assert read_back == values


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here, so the unit cannot be verified")
    (tmp_path / "streamer.env").write_text("")
    variables = {
        "streamer_user": "root",
        "streamer_opt_dir": "/opt/tweet-triage",
        "streamer_env_file": str(tmp_path / "streamer.env"),
        "streamer_state_dir": str(tmp_path),
        "streamer_command": ["/bin/true", "stream", "run", "--sink", "firehose"],
        "streamer_stop_timeout": 180,
    }
    unit = tmp_path / "tweet-triage-streamer.service"
    _render("streamer.service.j2", variables, unit)
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    text = unit.read_text()
    for line in ("Restart=on-failure", "KillSignal=SIGTERM", "TimeoutStopSec=180",
                 "RestartPreventExitStatus=2", "EnvironmentFile="):  # fmt: skip
        assert line in text
