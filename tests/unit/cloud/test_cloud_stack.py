"""Whole-stack behaviour: idempotent create, completion after a failure, verified destroy."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tweet_triage.cloud import policies
from tweet_triage.cloud.aws import Aws, CloudError
from tweet_triage.cloud.preflight import preflight
from tweet_triage.cloud.resources import BY_KIND
from tweet_triage.cloud.resources.s3 import ensure_bucket
from tweet_triage.cloud.stack import (
    create_stack,
    destroy_stack,
    stack_status,
    verify_destroyed,
)
from tweet_triage.config import Settings

KINDS = [
    "bucket",
    "log_group",
    "log_stream",
    "firehose_role",
    "delivery_stream",
    "streamer_role",
    "instance_profile",
    "security_group",
    "key_pair",
    "instance",
    "triage_role",
    "triage_instance_profile",
    "triage_security_group",
    "triage_instance",
]  # creation order


def test_second_create_changes_nothing(settings: Settings, aws: Aws) -> None:
    first = create_stack(settings, aws)
    assert [res.kind for res in first.resources] == KINDS
    assert all(res.changed for res in first.resources)
    second = create_stack(settings, aws)
    assert [res.kind for res in second.resources if res.changed] == []
    assert second.get("instance").id == first.get("instance").id
    assert second.get("triage_instance").id == first.get("triage_instance").id


def test_a_create_that_failed_halfway_is_completed_by_a_rerun(
    settings: Settings, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise CloudError("simulated failure while creating the security group")

    monkeypatch.setitem(
        BY_KIND, "security_group", replace(BY_KIND["security_group"], ensure=broken)
    )
    with pytest.raises(CloudError, match="simulated"):
        create_stack(settings, aws)
    monkeypatch.undo()
    report = create_stack(settings, aws)
    changed = [res.kind for res in report.resources if res.changed]
    assert changed == ["security_group", "key_pair", "instance", *KINDS[-4:]]
    assert all(res.exists for res in stack_status(settings, aws).resources)


def _record_calls(aws: Aws) -> list[str]:
    calls: list[str] = []
    for service in ("ec2", "iam", "firehose", "logs", "s3"):
        aws.client(service).meta.events.register(
            "before-parameter-build",
            lambda model, params, **_: calls.append(
                model.name
                + (f":{params['RoleName']}" if model.name == "DeleteRole" else "")
                + (
                    f":{params['InstanceProfileName']}"
                    if model.name == "DeleteInstanceProfile"
                    else ""
                )
            ),
        )
    return calls


def test_destroy_runs_in_dependency_order_and_leaves_nothing(settings: Settings, aws: Aws) -> None:
    plan = preflight(settings, aws)
    create_stack(settings, aws)
    calls = _record_calls(aws)
    report = destroy_stack(settings, aws)
    assert all(res.changed and not res.exists for res in report.resources)
    triage = plan.triage_host
    order = [  # the triage host first (created last), then the streamer's resources
        "TerminateInstances",
        "DeleteSecurityGroup",
        f"DeleteInstanceProfile:{triage.instance_profile}",
        f"DeleteRole:{triage.iam_role}",
        "TerminateInstances",
        "DeleteKeyPair",
        "DeleteSecurityGroup",
        f"DeleteInstanceProfile:{plan.instance_profile}",
        f"DeleteRole:{plan.streamer_role}",
        "DeleteDeliveryStream",
        f"DeleteRole:{plan.firehose_role}",
        "DeleteLogGroup",
        "DeleteBucket",
    ]
    position = -1
    for call in order:  # each call after the one before it
        position = calls.index(call, position + 1)
    assert not plan.key_path.exists()
    assert not any(res.exists for res in stack_status(settings, aws).resources)


def test_destroy_of_a_destroyed_stack_succeeds_and_changes_nothing(
    settings: Settings, aws: Aws
) -> None:
    create_stack(settings, aws)
    destroy_stack(settings, aws)
    again = destroy_stack(settings, aws)
    assert not again.changed


def test_destroy_empties_a_versioned_bucket(settings: Settings, aws: Aws) -> None:
    plan = preflight(settings, aws)
    create_stack(settings, aws)
    s3 = aws.client("s3")
    s3.put_bucket_versioning(Bucket=plan.bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"one", b"two"):
        s3.put_object(Bucket=plan.bucket, Key="raw/2024/01/01/00/a", Body=body)
    s3.delete_object(Bucket=plan.bucket, Key="raw/2024/01/01/00/a")  # leaves a delete marker
    report = destroy_stack(settings, aws)
    assert report.get("bucket").details == {"deleted": 3}
    assert plan.bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_keep_bucket_keeps_the_data_and_still_verifies(settings: Settings, aws: Aws) -> None:
    plan = preflight(settings, aws)
    create_stack(settings, aws)
    aws.client("s3").put_object(Bucket=plan.bucket, Key="raw/x", Body=b"keep me")
    report = destroy_stack(settings, aws, keep_bucket=True)
    assert report.get("bucket").exists
    body = aws.client("s3").get_object(Bucket=plan.bucket, Key="raw/x")["Body"].read()
    assert body == b"keep me"
    status = {res.kind: res.exists for res in stack_status(settings, aws).resources}
    assert status == {kind: kind == "bucket" for kind in KINDS}


def test_verification_fails_on_anything_left_with_the_stack_tag(
    settings: Settings, aws: Aws
) -> None:
    plan = preflight(settings, aws)
    ec2 = aws.client("ec2")
    stray = ec2.create_security_group(
        GroupName="made-by-hand",
        Description="x",
        TagSpecifications=[{"ResourceType": "security-group", "Tags": plan.tag_list()}],
    )
    with pytest.raises(CloudError, match=f"still present: security group {stray['GroupId']}"):
        verify_destroyed(aws, plan)
    ec2.delete_security_group(GroupId=stray["GroupId"])
    verify_destroyed(aws, plan)


def test_tls_only_policy_lets_tls_clients_use_the_bucket(settings: Settings, aws: Aws) -> None:
    """The stand-in treats its clients as TLS ones; other policy statements still apply."""
    plan = preflight(settings, aws)
    ensure_bucket(aws, plan)
    s3 = aws.client("s3")
    s3.put_object(Bucket=plan.bucket, Key="raw/a", Body=b"x")
    assert s3.get_object(Bucket=plan.bucket, Key="raw/a")["Body"].read() == b"x"
    policy = policies.bucket_policy(plan)
    policy["Statement"].append(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"{plan.bucket_arn}/secret/*",
        }
    )
    s3.put_bucket_policy(Bucket=plan.bucket, Policy=json.dumps(policy))
    s3.put_object(Bucket=plan.bucket, Key="secret/b", Body=b"y")
    with pytest.raises(ClientError):
        s3.get_object(Bucket=plan.bucket, Key="secret/b")
