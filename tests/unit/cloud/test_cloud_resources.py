"""Each resource is created as specified, converges on re-runs and reports changes honestly."""

from __future__ import annotations

import json
import stat
from dataclasses import replace

import pytest

from tweet_triage.cloud.aws import Aws, CloudError, connect
from tweet_triage.cloud.plan import AMI_PARAMETER
from tweet_triage.cloud.preflight import preflight
from tweet_triage.cloud.resources.ec2 import ensure_key_pair, ensure_security_group
from tweet_triage.cloud.resources.firehose import ensure_delivery_stream
from tweet_triage.cloud.resources.iam import ensure_streamer_role
from tweet_triage.cloud.resources.logs import describe_log_group, ensure_log_group
from tweet_triage.cloud.resources.s3 import (
    ensure_bucket,
)
from tweet_triage.cloud.stack import create_stack
from tweet_triage.config import Settings, load_settings


def test_bucket_is_locked_down_encrypted_tls_only_and_tagged(settings: Settings, aws: Aws) -> None:
    plan = preflight(settings, aws)
    report = ensure_bucket(aws, plan)
    s3 = aws.client("s3")
    assert report.changed
    assert s3.get_public_access_block(Bucket=plan.bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    rules = s3.get_bucket_encryption(Bucket=plan.bucket)["ServerSideEncryptionConfiguration"]
    assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    policy = json.loads(s3.get_bucket_policy(Bucket=plan.bucket)["Policy"])
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=plan.bucket)["TagSet"]}
    assert tags == {"Stack": "tweet-triage", "Project": "tweet-triage"}
    assert report.details == {
        "region": "us-east-1",
        "public_access_blocked": True,
        "encryption": "AES256",
        "tls_only": True,
    }


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_bucket_is_created_in_the_configured_region(
    settings: Settings, region: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto import mock_aws

    with mock_aws():
        aws = connect(settings.model_copy(update={"aws_region": region}))
        plan = preflight(settings.model_copy(update={"aws_region": region}), aws)
        ensure_bucket(aws, plan)
        location = aws.client("s3").get_bucket_location(Bucket=plan.bucket)
        # us-east-1 is reported as no constraint; every other region by name.
        assert location.get("LocationConstraint") == (None if region == "us-east-1" else region)
        assert plan.bucket.endswith(region)


def test_bucket_in_another_region_is_refused(settings: Settings, aws: Aws) -> None:
    plan = preflight(settings, aws)
    aws.client("s3").create_bucket(
        Bucket=plan.bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    with pytest.raises(CloudError, match=r"already exists in eu-west-1.*S3_BUCKET"):
        ensure_bucket(aws, plan)


def test_bucket_protections_removed_by_hand_are_restored(settings: Settings, aws: Aws) -> None:
    plan = preflight(settings, aws)
    ensure_bucket(aws, plan)
    s3 = aws.client("s3")
    s3.delete_public_access_block(Bucket=plan.bucket)
    s3.delete_bucket_policy(Bucket=plan.bucket)
    report = ensure_bucket(aws, plan)
    assert report.changed
    assert report.details["public_access_blocked"] and report.details["tls_only"]
    assert not ensure_bucket(aws, plan).changed


def test_delivery_stream_destination_follows_the_settings(settings: Settings, aws: Aws) -> None:
    plan = preflight(settings, aws)
    create_stack(settings, aws)
    description = aws.client("firehose").describe_delivery_stream(
        DeliveryStreamName=plan.delivery_stream
    )["DeliveryStreamDescription"]
    assert description["DeliveryStreamType"] == "DirectPut"
    destination = description["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert destination["RoleARN"] == f"arn:aws:iam::{plan.account_id}:role/tweet-triage-firehose"
    assert destination["Prefix"] == "raw/"
    assert destination["ErrorOutputPrefix"] == "errors/"
    assert destination["BufferingHints"] == {"SizeInMBs": 5, "IntervalInSeconds": 60}
    assert destination["CompressionFormat"] == "GZIP"
    assert destination["CloudWatchLoggingOptions"] == {
        "Enabled": True,
        "LogGroupName": "/aws/kinesisfirehose/tweet-triage-tweets",
        "LogStreamName": "DestinationDelivery",
    }
    # Firehose's default time path after the raw prefix: raw/YYYY/MM/DD/HH/<object>.
    aws.client("firehose").put_record(
        DeliveryStreamName=plan.delivery_stream, Record={"Data": b'{"id": "1"}\n'}
    )
    keys = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=plan.bucket)["Contents"]]
    assert len(keys) == 1
    assert keys[0].split("/")[0] == "raw"
    assert [len(part) for part in keys[0].split("/")[1:5]] == [4, 2, 2, 2]


def test_changed_buffering_updates_the_existing_stream(settings: Settings, aws: Aws) -> None:
    plan = preflight(settings, aws)
    create_stack(settings, aws)
    faster = replace(plan, buffer_seconds=30, compression="UNCOMPRESSED")
    report = ensure_delivery_stream(aws, faster)
    assert report.changed
    assert report.details["buffering"] == {"SizeInMBs": 5, "IntervalInSeconds": 30}
    assert report.details["compression"] == "UNCOMPRESSED"
    assert not ensure_delivery_stream(aws, faster).changed


def test_log_group_has_retention_and_tags(settings: Settings, aws: Aws) -> None:
    plan = preflight(settings, aws)
    assert ensure_log_group(aws, plan).details == {"retention_days": 14}
    logs = aws.client("logs")
    assert logs.list_tags_for_resource(resourceArn=plan.log_group_arn)["tags"] == plan.tags
    longer = replace(plan, log_retention_days=30)
    assert ensure_log_group(aws, longer).changed
    assert describe_log_group(aws, longer).details == {"retention_days": 30}


def test_roles_keep_exactly_their_own_policy(settings: Settings, aws: Aws) -> None:
    plan = preflight(settings, aws)
    ensure_streamer_role(aws, plan)
    iam = aws.client("iam")
    iam.put_role_policy(
        RoleName=plan.streamer_role,
        PolicyName="added-by-hand",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    )
    report = ensure_streamer_role(aws, plan)
    assert report.changed
    assert report.details == {"inline_policies": ["put-records"]}
    assert iam.list_attached_role_policies(RoleName=plan.streamer_role)["AttachedPolicies"] == []


def test_security_group_allows_ssh_only_from_the_operator(settings: Settings, aws: Aws) -> None:
    plan = preflight(settings, aws)
    report = ensure_security_group(aws, plan)
    group = aws.client("ec2").describe_security_groups(GroupIds=[report.id])["SecurityGroups"][0]
    (rule,) = group["IpPermissions"]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 22, 22)
    assert [ip["CidrIp"] for ip in rule["IpRanges"]] == ["198.51.100.7/32"]
    default_vpc = aws.client("ec2").describe_vpcs(
        Filters=[{"Name": "isDefault", "Values": ["true"]}]
    )["Vpcs"][0]
    assert group["VpcId"] == default_vpc["VpcId"]
    # A new operator address replaces the old one; it does not add to it.
    moved = replace(plan, operator_cidr="203.0.113.0/28")
    assert ensure_security_group(aws, moved).details["ssh_from"] == ["203.0.113.0/28"]
    assert not ensure_security_group(aws, moved).changed


def test_private_key_is_written_0600_and_a_lost_one_is_replaced(
    settings: Settings, aws: Aws
) -> None:
    plan = preflight(settings, aws)
    first = ensure_key_pair(aws, plan)
    assert first.changed
    assert stat.S_IMODE(plan.key_path.stat().st_mode) == 0o600
    assert plan.key_path.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert not ensure_key_pair(aws, plan).changed
    plan.key_path.unlink()
    second = ensure_key_pair(aws, plan)
    assert second.changed and second.id != first.id
    assert plan.key_path.is_file()


def test_lost_key_of_a_launched_instance_is_an_error(settings: Settings, aws: Aws) -> None:
    plan = preflight(settings, aws)
    create_stack(settings, aws)
    plan.key_path.unlink()
    with pytest.raises(CloudError, match=r"private key .* is missing.*aws-destroy"):
        ensure_key_pair(aws, plan)


def test_instance_uses_the_ssm_ami_profile_and_imdsv2(settings: Settings, aws: Aws) -> None:
    report = create_stack(settings, aws).get("instance")
    ami = aws.client("ssm").get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]
    instance = aws.client("ec2").describe_instances(InstanceIds=[report.id])["Reservations"][0][
        "Instances"
    ][0]
    assert report.state == "running"
    assert instance["ImageId"] == ami
    assert instance["IamInstanceProfile"]["Arn"].endswith("instance-profile/tweet-triage-streamer")
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags == {
        "Stack": "tweet-triage",
        "Project": "tweet-triage",
        "Role": "streamer",
        "Name": "tweet-triage-streamer",
    }
    assert report.details["public_dns"]


def test_a_stopped_instance_is_started_not_duplicated(settings: Settings, aws: Aws) -> None:
    instance = create_stack(settings, aws).get("instance")
    ec2 = aws.client("ec2")
    ec2.stop_instances(InstanceIds=[instance.id])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance.id])
    again = create_stack(settings, aws).get("instance")
    assert again.changed and again.id == instance.id and again.state == "running"


def test_triage_host_is_its_own_least_privilege_instance(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAGE_INSTANCE_TYPE", "m7i.xlarge")
    load_settings.cache_clear()
    settings = load_settings()
    report = create_stack(settings, aws)
    triage, streamer = report.get("triage_instance"), report.get("instance")
    assert triage.state == "running" and triage.id != streamer.id
    ec2 = aws.client("ec2")
    instance = ec2.describe_instances(InstanceIds=[triage.id])["Reservations"][0]["Instances"][0]
    assert instance["InstanceType"] == "m7i.xlarge"
    assert instance["IamInstanceProfile"]["Arn"].endswith("instance-profile/tweet-triage-triage")
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert {t["Key"]: t["Value"] for t in instance["Tags"]} == {
        "Stack": "tweet-triage",
        "Project": "tweet-triage",
        "Role": "triage",
        "Name": "tweet-triage-triage",
    }
    root = next(
        m["Ebs"]["VolumeId"]
        for m in instance["BlockDeviceMappings"]
        if m["DeviceName"] == instance["RootDeviceName"]
    )
    assert ec2.describe_volumes(VolumeIds=[root])["Volumes"][0]["Encrypted"]
    (group,) = instance["SecurityGroups"]
    assert group["GroupName"] == "tweet-triage-triage-ssh"
    assert report.get("triage_security_group").details["ssh_from"] == ["198.51.100.7/32"]
    iam = aws.client("iam")
    assert iam.list_role_policies(RoleName="tweet-triage-triage")["PolicyNames"] == ["read-raw"]
    assert iam.list_attached_role_policies(RoleName="tweet-triage-triage")["AttachedPolicies"] == []
