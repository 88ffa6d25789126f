"""Security defaults of the stack and what happens on errors no step maps."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tweet_triage.cloud.aws import Aws, CloudError, WouldChange, connect
from tweet_triage.cloud.preflight import preflight
from tweet_triage.cloud.resources import BY_KIND
from tweet_triage.cloud.resources.ec2 import write_private_key
from tweet_triage.cloud.resources.firehose import ensure_delivery_stream
from tweet_triage.cloud.stack import converge, create_stack, stack_status
from tweet_triage.config import Settings


def _instance(aws: Aws, instance_id: str) -> dict[str, Any]:
    reservations = aws.client("ec2").describe_instances(InstanceIds=[instance_id])
    return dict(reservations["Reservations"][0]["Instances"][0])


def test_root_volume_is_encrypted(settings: Settings, aws: Aws) -> None:
    report = create_stack(settings, aws).get("instance")
    instance = _instance(aws, str(report.id))
    (root,) = [
        m for m in instance["BlockDeviceMappings"] if m["DeviceName"] == instance["RootDeviceName"]
    ]
    volume = aws.client("ec2").describe_volumes(VolumeIds=[root["Ebs"]["VolumeId"]])
    assert volume["Volumes"][0]["Encrypted"] is True


def test_an_adopted_instance_gets_imdsv2_enforced(settings: Settings, aws: Aws) -> None:
    plan = preflight(settings, aws)
    for kind in ("bucket", "log_group", "log_stream", "firehose_role", "delivery_stream"):
        converge(aws, plan, kind)
    for kind in ("streamer_role", "instance_profile", "security_group", "key_pair"):
        converge(aws, plan, kind)
    ec2 = aws.client("ec2")
    ami = aws.client("ssm").get_parameter(
        Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    )
    launched = ec2.run_instances(  # made by hand, IMDSv1 allowed, tagged like the streamer
        ImageId=ami["Parameter"]["Value"],
        MinCount=1,
        MaxCount=1,
        MetadataOptions={"HttpTokens": "optional"},
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": plan.tag_list(plan.instance_tags(plan.streamer_host)),
            }
        ],
    )
    instance_id = launched["Instances"][0]["InstanceId"]
    report = converge(aws, plan, "instance")
    assert report.id == instance_id and report.changed
    assert _instance(aws, instance_id)["MetadataOptions"]["HttpTokens"] == "required"
    assert report.details["metadata_tokens"] == "required"
    assert not converge(aws, plan, "instance").changed


def _calls(aws: Aws, service: str) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    aws.client(service).meta.events.register(
        "provide-client-params", lambda params, model, **_: calls.append((model.name, params))
    )
    return calls


def test_firehose_encrypts_at_rest(settings: Settings, aws: Aws) -> None:
    plan = preflight(settings, aws)
    for kind in ("bucket", "log_group", "log_stream", "firehose_role"):
        converge(aws, plan, kind)
    calls = _calls(aws, "firehose")
    ensure_delivery_stream(aws, plan)
    (create,) = [params for name, params in calls if name == "CreateDeliveryStream"]
    assert create["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "AWS_OWNED_CMK"}

    # A stream whose encryption was turned off (AWS reports DISABLED) is turned on again.
    def report_disabled(parsed: dict[str, Any], **_: Any) -> None:
        description = parsed.get("DeliveryStreamDescription", {})
        if not any(name == "StartDeliveryStreamEncryption" for name, _ in calls):
            description["DeliveryStreamEncryptionConfiguration"] = {"Status": "DISABLED"}

    aws.client("firehose").meta.events.register(
        "after-call.firehose.DescribeDeliveryStream", report_disabled
    )
    assert ensure_delivery_stream(aws, plan).changed
    (start,) = [params for name, params in calls if name == "StartDeliveryStreamEncryption"]
    assert start["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "AWS_OWNED_CMK"}
    assert not ensure_delivery_stream(aws, plan).changed


def test_private_key_file_is_created_0600_not_chmodded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    chmods: list[Any] = []
    monkeypatch.setattr(os, "chmod", lambda *args, **kwargs: chmods.append(args))
    key = tmp_path / "keys" / "k.pem"
    write_private_key(key, "-----BEGIN OPENSSH PRIVATE KEY-----\nx")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert chmods == []
    assert [p.name for p in key.parent.iterdir()] == ["k.pem"]


def test_an_unmapped_aws_error_is_one_clear_line(
    settings: Settings, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = preflight(settings, aws)

    def quota(*args: Any, **kwargs: Any) -> Any:
        raise ClientError(
            {
                "Error": {
                    "Code": "LimitExceeded",
                    "Message": "Cannot exceed quota for RolesPerAccount",
                }
            },
            "CreateRole",
        )

    monkeypatch.setattr(aws.client("iam"), "create_role", quota)
    with pytest.raises(CloudError) as raised:
        converge(aws, plan, "firehose_role")
    message = str(raised.value)
    assert "AWS refused CreateRole while trying to create or update firehose_role" in message
    assert "tweet-triage-firehose (LimitExceeded: Cannot exceed quota" in message
    assert "\n" not in message


def test_check_mode_reports_changes_and_changes_nothing(settings: Settings, aws: Aws) -> None:
    checking = connect(settings, check_mode=True)
    plan = preflight(settings, checking)
    with pytest.raises(WouldChange, match="s3:create_bucket"):
        converge(checking, plan, "bucket")
    assert not any(r.exists for r in stack_status(settings, aws).resources)

    create_stack(settings, aws)
    for kind in BY_KIND:  # a converged stack: check mode finds nothing to do
        assert not converge(checking, plan, kind).changed
    aws.client("logs").put_retention_policy(logGroupName=plan.log_group, retentionInDays=1)
    with pytest.raises(WouldChange, match="logs:put_retention_policy"):
        converge(checking, plan, "log_group")
    with pytest.raises(WouldChange, match="ec2:delete_key_pair"):
        converge(checking, plan, "key_pair", present=False)
    assert plan.key_path.is_file()
    assert json.dumps(stack_status(settings, aws).as_dict())  # still all there
    assert all(r.exists for r in stack_status(settings, aws).resources)
