"""`tweet-triage aws ...` prints every resource, as a table or JSON, and maps options through."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tweet_triage.cloud.aws import Aws
from tweet_triage.cloud.cli import app
from tweet_triage.cloud.stack import stack_status
from tweet_triage.config import Settings


def test_create_status_destroy_through_the_cli(aws: Aws) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["create", "--json"])
    assert created.exit_code == 0, created.output
    report = json.loads(created.stdout)
    assert report["changed"] and len(report["resources"]) == 14

    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    lines = status.stdout.splitlines()
    assert lines[0] == "stack tweet-triage · region us-east-1 · account 123456789012"
    rows = {cells[0]: cells[2] for cells in map(str.split, lines[1:]) if len(cells) > 2}
    assert rows["RESOURCE"] == "STATE"
    assert rows["delivery_stream"] == "ACTIVE" and rows["instance"] == "running"
    assert "ssh_from=198.51.100.7/32" in status.stdout  # long details are never cut off

    destroyed = runner.invoke(app, ["destroy", "--keep-bucket", "--yes", "--json"])
    assert destroyed.exit_code == 0, destroyed.output
    states = {r["kind"]: r["state"] for r in json.loads(destroyed.stdout)["resources"]}
    assert states.pop("bucket") == "present"
    assert set(states.values()) == {"absent"}


def test_destroy_shows_the_dry_run_and_deletes_nothing_without_yes(
    settings: Settings, aws: Aws
) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["create", "--json"]).exit_code == 0
    dry = runner.invoke(app, ["destroy", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "aws destroy would delete (15):" in dry.stdout  # 13 resources, log stream, key file
    assert "  - bucket tweet-triage-123456789012-us-east-1" in dry.stdout

    refused = runner.invoke(app, ["destroy"])  # not a terminal: no way to confirm
    assert refused.exit_code != 0
    assert "re-run with --yes to confirm" in str(refused.exception)
    assert all(r.exists for r in stack_status(settings, aws).resources)

    typed_no = runner.invoke(app, ["destroy"], input="n\n")
    assert all(r.exists for r in stack_status(settings, aws).resources), typed_no.output


@pytest.mark.parametrize("command", ["status", "create", "destroy"])
def test_missing_aws_profile_is_one_line_naming_it(tmp_path: Path, command: str) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "TT_DEPLOYMENT": "aws",
        "AWS_PROFILE": "no-such-profile",
        "AWS_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "TT_IGNORE_DOTENV": "1",
        "TT_STATE_DIR": str(tmp_path / "state"),
        "OPERATOR_CIDR": "198.51.100.7/32",
    }
    result = subprocess.run(
        [sys.executable, "-m", "tweet_triage", "aws", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    deployment, line = result.stderr.strip().splitlines()
    assert deployment == "deployment: aws (region eu-west-1, X at https://api.x.com)"
    assert line.startswith("error: AWS_PROFILE=no-such-profile names no profile")
    assert "unset it" in line
