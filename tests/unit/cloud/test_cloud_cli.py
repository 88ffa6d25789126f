"""`tweet-triage aws ...` prints every resource, as a table or JSON, and maps options through."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tweet_triage.cloud.aws import Aws
from tweet_triage.cloud.cli import app


def test_create_status_destroy_through_the_cli(aws: Aws) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["create", "--json"])
    assert created.exit_code == 0, created.output
    report = json.loads(created.stdout)
    assert report["changed"] and len(report["resources"]) == 10

    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    lines = status.stdout.splitlines()
    assert lines[0] == "stack tweet-triage · region us-east-1 · account 123456789012"
    rows = {line.split()[0]: line.split()[2] for line in lines[2:]}
    assert rows["delivery_stream"] == "ACTIVE" and rows["instance"] == "running"
    assert "ssh_from=198.51.100.7/32" in status.stdout

    destroyed = runner.invoke(app, ["destroy", "--keep-bucket", "--json"])
    assert destroyed.exit_code == 0, destroyed.output
    states = {r["kind"]: r["state"] for r in json.loads(destroyed.stdout)["resources"]}
    assert states.pop("bucket") == "present"
    assert set(states.values()) == {"absent"}
