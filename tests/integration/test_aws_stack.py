"""The real playbooks against a real moto server: create, create again, status, destroy, again.

ansible-playbook runs exactly as `make -f Makefile-stream aws-create` runs it (through
`python -m tweet_triage.envrun`), with the stand-in's settings in the environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from tests.unit.cloud.conftest import STACK_SETTINGS
from tweet_triage.config import PROJECT_ROOT, Settings

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
RECAP = re.compile(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (*STACK_SETTINGS, "OPERATOR_CIDR")}
    env.update(SSH_KEY_PATH=str(tmp_path / "streamer.pem"), **extra)
    inventory = tmp_path / "localhost.ini"  # the playbooks only use localhost
    inventory.write_text("localhost ansible_connection=local\n")
    env["ANSIBLE_INVENTORY"] = str(inventory)
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


CHANGED_ITEM = re.compile(r"^changed: \[localhost\] => \(item=(\w+)\)", re.MULTILINE)


def _changed_items(output: str) -> list[str]:
    """The resources a converge loop changed, in order."""
    return CHANGED_ITEM.findall(output)


def _playbook(name: str, env: dict[str, str], *args: str) -> tuple[int, int, str]:
    """Run a playbook; return (changed, failed) from PLAY RECAP and the output."""
    if name.endswith("aws-destroy.yml") and "--check" not in args and "confirm" not in str(args):
        args = (*args, "-e", "confirm_destroy=true")  # as make aws-destroy passes it
    result = subprocess.run(
        [sys.executable, "-m", "tweet_triage.envrun", str(BIN / "ansible-playbook"), name, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    recap = RECAP.search(output)
    assert recap, f"no PLAY RECAP in output:\n{output}"
    changed, failed = int(recap.group(2)), int(recap.group(4))
    assert (result.returncode == 0) == (failed == 0), output
    return changed, failed, output


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "tweet-triage"), *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _status(env: dict[str, str]) -> dict[str, dict[str, object]]:
    result = _cli(["aws", "status", "--json"], env)
    assert result.returncode == 0, result.stderr
    return {r["kind"]: r for r in json.loads(result.stdout)["resources"]}


@pytest.mark.slow
def test_playbooks_create_idempotently_and_destroy_everything(
    local_aws: Settings, tmp_path: Path
) -> None:
    env = _env(tmp_path)
    changed, failed, output = _playbook("playbooks/aws-create.yml", env, "--check")
    assert failed == 0 and _changed_items(output)[0] == "bucket", output  # would create it
    assert all(resource["state"] == "absent" for resource in _status(env).values())

    changed, failed, output = _playbook("playbooks/aws-create.yml", env)
    assert failed == 0 and len(_changed_items(output)) == 14, output
    key = tmp_path / "streamer.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    assert "PRIVATE KEY" not in output  # the key never reaches Ansible's output

    changed, failed, output = _playbook("playbooks/aws-create.yml", env)
    assert (changed, failed) == (0, 0), output
    changed, failed, output = _playbook("playbooks/aws-create.yml", env, "--check")
    assert (changed, failed) == (0, 0), output

    status = _status(env)
    assert all(resource["state"] != "absent" for resource in status.values()), status
    assert status["delivery_stream"]["state"] == "ACTIVE"
    assert status["instance"]["state"] == "running"
    assert status["instance"]["details"]["public_dns"]
    assert status["bucket"]["details"] == {
        "region": "us-east-1",
        "public_access_blocked": True,
        "encryption": "AES256",
        "tls_only": True,
    }
    assert status["security_group"]["details"]["ssh_from"] == ["127.0.0.1/32"]
    assert status["triage_instance"]["state"] == "running"
    assert status["triage_instance"]["details"]["instance_type"] == "m7i.large"
    assert status["triage_security_group"]["details"]["ssh_from"] == ["127.0.0.1/32"]
    assert status["triage_role"]["details"] == {"inline_policies": ["read-raw"]}
    assert status["firehose_role"]["details"] == {"inline_policies": ["firehose-delivery"]}

    # A record sent to the stream lands under raw/YYYY/MM/DD/HH/ and can be read back.
    bucket = status["bucket"]["name"]
    firehose = boto3.client("firehose", endpoint_url=local_aws.aws_endpoint_url)
    firehose.put_record(
        DeliveryStreamName=str(status["delivery_stream"]["name"]),
        Record={"Data": b'{"id": "1"}\n'},
    )
    s3 = boto3.client("s3", endpoint_url=local_aws.aws_endpoint_url)
    (obj,) = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert re.fullmatch(r"raw/\d{4}/\d{2}/\d{2}/\d{2}/.+", obj["Key"]), obj["Key"]
    assert s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()

    # Without the confirmation: the dry run is shown and nothing is deleted.
    changed, failed, output = _playbook("playbooks/aws-destroy.yml", env, "-e", "confirm=no")
    assert (changed, failed) == (0, 1), output
    assert f"bucket {bucket}" in output and "-e confirm_destroy=true" in output
    assert all(resource["state"] != "absent" for resource in _status(env).values())

    changed, failed, output = _playbook("playbooks/aws-destroy.yml", env)
    assert failed == 0 and len(_changed_items(output)) == 13, output
    assert all(resource["state"] == "absent" for resource in _status(env).values())
    assert not key.exists()
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    changed, failed, output = _playbook("playbooks/aws-destroy.yml", env)
    assert (changed, failed) == (0, 0), output


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        (
            "OPERATOR_CIDR",
            "0.0.0.0/0",
            "OPERATOR_CIDR=0.0.0.0/0 would open SSH to the whole internet",
        ),
        ("S3_BUCKET", "Not_A_Bucket", "S3_BUCKET='Not_A_Bucket' is not a valid S3 bucket name"),
    ],
)
def test_bad_input_stops_before_any_resource_exists(
    local_aws: Settings, tmp_path: Path, setting: str, value: str, message: str
) -> None:
    env = _env(tmp_path, **{setting: value})
    changed, failed, output = _playbook("playbooks/aws-create.yml", env)
    assert (changed, failed) == (0, 1)
    assert message in output
    cli = _cli(["aws", "create"], env)
    assert cli.returncode == 2
    deployment, line = cli.stderr.strip().splitlines()  # one clear line, no traceback
    assert deployment.startswith("deployment: local (moto at http://127.0.0.1:")
    assert line.startswith("error: ") and message in line
    # Nothing was created by either.
    s3 = boto3.client("s3", endpoint_url=local_aws.aws_endpoint_url)
    iam = boto3.client("iam", endpoint_url=local_aws.aws_endpoint_url)
    assert s3.list_buckets()["Buckets"] == []
    assert iam.list_roles()["Roles"] == []
    assert not (tmp_path / "streamer.pem").exists()
