"""One idempotent `ensure_*`, `describe_*` and `delete_*` per resource of the stack.

Each returns a `ResourceReport` whose `changed` is true only when AWS was actually modified, so
a second run reports nothing changed (the Ansible module passes `changed` through). `ensure_*`
converges an existing resource to the plan (tags, policies, retention, buffering, SSH CIDR);
`delete_*` on something already gone reports `absent` and succeeds. Waiters, never fixed
sleeps; the only retries are bounded backoffs on known propagation errors (see retry.py).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, WaiterError
from botocore.waiter import WaiterModel, create_waiter_with_client

from tweet_triage.cloud import policies
from tweet_triage.cloud.aws import Aws, CloudError, error_code, error_message, is_not_found
from tweet_triage.cloud.plan import AMI_PARAMETER, StackPlan
from tweet_triage.cloud.report import ABSENT, ResourceReport
from tweet_triage.retry import retry_while

PRESENT = "present"
LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped"]
TLS_ONLY_SID = "DenyInsecureTransport"

# botocore ships no Firehose waiters; these follow the same model format.
_FIREHOSE_WAITERS = WaiterModel(
    {
        "version": 2,
        "waiters": {
            "DeliveryStreamActive": {
                "operation": "DescribeDeliveryStream",
                "delay": 5,
                "maxAttempts": 60,
                "acceptors": [
                    {
                        "state": "success",
                        "matcher": "path",
                        "argument": "DeliveryStreamDescription.DeliveryStreamStatus",
                        "expected": "ACTIVE",
                    },
                    {
                        "state": "failure",
                        "matcher": "path",
                        "argument": "DeliveryStreamDescription.DeliveryStreamStatus",
                        "expected": "CREATING_FAILED",
                    },
                ],
            },
            "DeliveryStreamDeleted": {
                "operation": "DescribeDeliveryStream",
                "delay": 5,
                "maxAttempts": 60,
                "acceptors": [
                    {
                        "state": "success",
                        "matcher": "error",
                        "expected": "ResourceNotFoundException",
                    },
                    {
                        "state": "failure",
                        "matcher": "path",
                        "argument": "DeliveryStreamDescription.DeliveryStreamStatus",
                        "expected": "DELETING_FAILED",
                    },
                ],
            },
        },
    }
)


def _wait_firehose(aws: Aws, waiter: str, name: str) -> None:
    try:
        create_waiter_with_client(waiter, _FIREHOSE_WAITERS, aws.client("firehose")).wait(
            DeliveryStreamName=name
        )
    except WaiterError as exc:
        raise CloudError(f"delivery stream {name}: {waiter} not reached ({exc})") from exc


def _normalised(document: Any) -> Any:
    """A policy in a canonical shape: AWS may return one-item lists as strings and vice versa."""
    if isinstance(document, dict):
        return {k: _normalised(v) for k, v in document.items()}
    if isinstance(document, list):
        items = [_normalised(v) for v in document]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return document


def _parsed(document: Any) -> Any:
    """Policies arrive as JSON text (S3), URL-decoded dicts (IAM) or not at all (None)."""
    return json.loads(document) if isinstance(document, str) else document


def same_policy(left: Any, right: Any) -> bool:
    return bool(_normalised(_parsed(left)) == _normalised(_parsed(right)))


def _missing_tags(current: dict[str, str], wanted: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in wanted.items() if current.get(k) != v}


def _tags_dict(tag_list: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_list or []}


# ==========================================================================================
# S3 bucket
# ==========================================================================================
def _bucket_region(aws: Aws, plan: StackPlan) -> str | None:
    """The bucket's region, None if it does not exist; a name owned elsewhere is an error."""
    s3 = aws.client("s3")
    try:
        response = s3.head_bucket(Bucket=plan.bucket)
    except ClientError as exc:
        if error_code(exc) in {"404", "NoSuchBucket", "NotFound"}:
            return None
        if error_code(exc) in {"403", "AccessDenied", "Forbidden"}:
            raise CloudError(
                f"bucket {plan.bucket} exists but belongs to another account (S3 names are "
                "global): set S3_BUCKET to another name"
            ) from exc
        raise
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return str(response.get("BucketRegion") or headers.get("x-amz-bucket-region") or plan.region)


def _public_access_blocked(aws: Aws, bucket: str) -> bool:
    try:
        config = aws.client("s3").get_public_access_block(Bucket=bucket)
    except ClientError as exc:
        if error_code(exc) == "NoSuchPublicAccessBlockConfiguration":
            return False
        raise
    settings = config["PublicAccessBlockConfiguration"]
    return all(
        settings.get(k)
        for k in (
            "BlockPublicAcls",
            "IgnorePublicAcls",
            "BlockPublicPolicy",
            "RestrictPublicBuckets",
        )
    )


def _bucket_encryption(aws: Aws, bucket: str) -> str | None:
    try:
        config = aws.client("s3").get_bucket_encryption(Bucket=bucket)
    except ClientError as exc:
        if error_code(exc) == "ServerSideEncryptionConfigurationNotFoundError":
            return None
        raise
    rules = config["ServerSideEncryptionConfiguration"]["Rules"]
    return str(rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]) if rules else None


def _bucket_policy(aws: Aws, bucket: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads(aws.client("s3").get_bucket_policy(Bucket=bucket)["Policy"]))
    except ClientError as exc:
        if error_code(exc) == "NoSuchBucketPolicy":
            return None
        raise


def _bucket_tags(aws: Aws, bucket: str) -> dict[str, str]:
    try:
        return _tags_dict(aws.client("s3").get_bucket_tagging(Bucket=bucket)["TagSet"])
    except ClientError as exc:
        if error_code(exc) == "NoSuchTagSet":
            return {}
        raise


def _tls_only(policy: dict[str, Any] | None) -> bool:
    if policy is None:
        return False
    return any(
        s.get("Effect") == "Deny"
        and _normalised(s.get("Condition")) == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy.get("Statement", [])
    )


def describe_bucket(aws: Aws, plan: StackPlan) -> ResourceReport:
    region = _bucket_region(aws, plan)
    if region is None:
        return ResourceReport("bucket", plan.bucket, ABSENT)
    return ResourceReport(
        "bucket",
        plan.bucket,
        PRESENT,
        details={
            "region": region,
            "public_access_blocked": _public_access_blocked(aws, plan.bucket),
            "encryption": _bucket_encryption(aws, plan.bucket),
            "tls_only": _tls_only(_bucket_policy(aws, plan.bucket)),
        },
    )


def ensure_bucket(aws: Aws, plan: StackPlan) -> ResourceReport:
    """Bucket with all public access blocked, default encryption, TLS-only policy, tags."""
    s3 = aws.client("s3")
    changed = False
    region = _bucket_region(aws, plan)
    if region is None:
        create: dict[str, Any] = {"Bucket": plan.bucket}
        if plan.region != "us-east-1":  # us-east-1 rejects its own name as LocationConstraint
            create["CreateBucketConfiguration"] = {"LocationConstraint": plan.region}
        try:
            s3.create_bucket(**create)
        except ClientError as exc:
            if error_code(exc) == "BucketAlreadyExists":
                raise CloudError(
                    f"bucket name {plan.bucket} is taken by another account: set S3_BUCKET "
                    "to another name"
                ) from exc
            if error_code(exc) != "BucketAlreadyOwnedByYou":
                raise
        s3.get_waiter("bucket_exists").wait(Bucket=plan.bucket)
        changed = True
    elif region != plan.region:
        raise CloudError(
            f"bucket {plan.bucket} already exists in {region}, not AWS_REGION={plan.region}: "
            "set S3_BUCKET to another name or AWS_REGION to the bucket's region"
        )
    if not _public_access_blocked(aws, plan.bucket):
        s3.put_public_access_block(
            Bucket=plan.bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        changed = True
    if _bucket_encryption(aws, plan.bucket) is None:
        s3.put_bucket_encryption(
            Bucket=plan.bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        changed = True
    wanted_policy = policies.bucket_policy(plan)
    if not same_policy(_bucket_policy(aws, plan.bucket), wanted_policy):
        s3.put_bucket_policy(Bucket=plan.bucket, Policy=json.dumps(wanted_policy))
        changed = True
    current_tags = _bucket_tags(aws, plan.bucket)
    if _missing_tags(current_tags, plan.tags):
        tag_set = [{"Key": k, "Value": v} for k, v in {**current_tags, **plan.tags}.items()]
        s3.put_bucket_tagging(Bucket=plan.bucket, Tagging={"TagSet": tag_set})
        changed = True
    return replace(describe_bucket(aws, plan), changed=changed)


def delete_bucket(aws: Aws, plan: StackPlan) -> ResourceReport:
    """Delete every object version and delete marker, then the bucket itself."""
    if _bucket_region(aws, plan) is None:
        return ResourceReport("bucket", plan.bucket, ABSENT)
    s3 = aws.client("s3")
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=plan.bucket):
        batch = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if batch:  # a page holds at most 1000 keys, the delete_objects limit
            response = s3.delete_objects(
                Bucket=plan.bucket, Delete={"Objects": batch, "Quiet": True}
            )
            if response.get("Errors"):
                first = response["Errors"][0]
                raise CloudError(
                    f"could not empty bucket {plan.bucket}: {first.get('Key')}: "
                    f"{first.get('Code')} {first.get('Message')}"
                )
            deleted += len(batch)
    s3.delete_bucket(Bucket=plan.bucket)
    s3.get_waiter("bucket_not_exists").wait(Bucket=plan.bucket)
    return ResourceReport("bucket", plan.bucket, ABSENT, changed=True, details={"deleted": deleted})


# ==========================================================================================
# CloudWatch Logs
# ==========================================================================================
def _log_group(aws: Aws, plan: StackPlan) -> dict[str, Any] | None:
    paginator = aws.client("logs").get_paginator("describe_log_groups")
    for page in paginator.paginate(logGroupNamePrefix=plan.log_group):
        for group in page["logGroups"]:
            if group["logGroupName"] == plan.log_group:
                return dict(group)
    return None


def describe_log_group(aws: Aws, plan: StackPlan) -> ResourceReport:
    group = _log_group(aws, plan)
    if group is None:
        return ResourceReport("log_group", plan.log_group, ABSENT)
    return ResourceReport(
        "log_group",
        plan.log_group,
        PRESENT,
        details={"retention_days": group.get("retentionInDays")},
    )


def ensure_log_group(aws: Aws, plan: StackPlan) -> ResourceReport:
    """The Firehose error log group with a retention period (the original kept logs forever)."""
    logs = aws.client("logs")
    changed = False
    group = _log_group(aws, plan)
    if group is None:
        try:
            logs.create_log_group(logGroupName=plan.log_group, tags=plan.tags)
        except ClientError as exc:
            if error_code(exc) != "ResourceAlreadyExistsException":
                raise
        group = _log_group(aws, plan) or {}
        changed = True
    if group.get("retentionInDays") != plan.log_retention_days:
        logs.put_retention_policy(
            logGroupName=plan.log_group, retentionInDays=plan.log_retention_days
        )
        changed = True
    current = logs.list_tags_for_resource(resourceArn=plan.log_group_arn).get("tags", {})
    if _missing_tags(current, plan.tags):
        logs.tag_resource(resourceArn=plan.log_group_arn, tags=plan.tags)
        changed = True
    return replace(describe_log_group(aws, plan), changed=changed)


def describe_log_stream(aws: Aws, plan: StackPlan) -> ResourceReport:
    name = f"{plan.log_group}:{plan.log_stream}"
    try:
        streams = aws.client("logs").describe_log_streams(
            logGroupName=plan.log_group, logStreamNamePrefix=plan.log_stream
        )["logStreams"]
    except ClientError as exc:
        if is_not_found(exc):
            return ResourceReport("log_stream", name, ABSENT)
        raise
    found = any(s["logStreamName"] == plan.log_stream for s in streams)
    return ResourceReport("log_stream", name, PRESENT if found else ABSENT)


def ensure_log_stream(aws: Aws, plan: StackPlan) -> ResourceReport:
    existing = describe_log_stream(aws, plan)
    if existing.exists:
        return existing
    try:
        aws.client("logs").create_log_stream(
            logGroupName=plan.log_group, logStreamName=plan.log_stream
        )
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise CloudError(
                f"log group {plan.log_group} does not exist: create it first (aws create)"
            ) from exc
        if error_code(exc) != "ResourceAlreadyExistsException":
            raise
    return replace(describe_log_stream(aws, plan), changed=True)


def delete_log_group(aws: Aws, plan: StackPlan) -> ResourceReport:
    """Deleting the group deletes its streams too."""
    try:
        aws.client("logs").delete_log_group(logGroupName=plan.log_group)
    except ClientError as exc:
        if is_not_found(exc):
            return ResourceReport("log_group", plan.log_group, ABSENT)
        raise
    return ResourceReport("log_group", plan.log_group, ABSENT, changed=True)


# ==========================================================================================
# IAM roles and the instance profile
# ==========================================================================================
def _role(aws: Aws, name: str) -> dict[str, Any] | None:
    try:
        return dict(aws.client("iam").get_role(RoleName=name)["Role"])
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def describe_role(aws: Aws, kind: str, name: str) -> ResourceReport:
    role = _role(aws, name)
    if role is None:
        return ResourceReport(kind, name, ABSENT)
    inline = aws.client("iam").list_role_policies(RoleName=name)["PolicyNames"]
    return ResourceReport(
        kind, name, PRESENT, id=role["Arn"], details={"inline_policies": sorted(inline)}
    )


def ensure_role(
    aws: Aws,
    plan: StackPlan,
    *,
    kind: str,
    name: str,
    trust: dict[str, Any],
    policy_name: str,
    policy: dict[str, Any],
    description: str,
) -> ResourceReport:
    """A role with exactly this trust policy and exactly one inline policy (no managed ones)."""
    iam = aws.client("iam")
    changed = False
    role = _role(aws, name)
    if role is None:
        try:
            iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description=description,
                Tags=plan.tag_list(),
            )
        except ClientError as exc:
            if error_code(exc) != "EntityAlreadyExists":
                raise
        iam.get_waiter("role_exists").wait(RoleName=name)
        role = _role(aws, name) or {}
        changed = True
    if not same_policy(role.get("AssumeRolePolicyDocument"), trust):
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
        changed = True
    if _missing_tags(_tags_dict(iam.list_role_tags(RoleName=name)["Tags"]), plan.tags):
        iam.tag_role(RoleName=name, Tags=plan.tag_list())
        changed = True
    for other in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        if other != policy_name:  # least privilege: nothing but the stack's own policy
            iam.delete_role_policy(RoleName=name, PolicyName=other)
            changed = True
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        changed = True
    try:
        current = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
    except ClientError as exc:
        if not is_not_found(exc):
            raise
        current = None
    if not same_policy(current, policy):
        iam.put_role_policy(
            RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(policy)
        )
        changed = True
    return replace(describe_role(aws, kind, name), changed=changed)


def ensure_firehose_role(aws: Aws, plan: StackPlan) -> ResourceReport:
    return ensure_role(
        aws,
        plan,
        kind="firehose_role",
        name=plan.firehose_role,
        trust=policies.firehose_trust_policy(plan),
        policy_name=policies.FIREHOSE_POLICY_NAME,
        policy=policies.firehose_inline_policy(plan),
        description=f"Firehose delivery for stack {plan.stack}: its bucket prefixes and log stream",
    )


def ensure_streamer_role(aws: Aws, plan: StackPlan) -> ResourceReport:
    return ensure_role(
        aws,
        plan,
        kind="streamer_role",
        name=plan.streamer_role,
        trust=policies.streamer_trust_policy(plan),
        policy_name=policies.STREAMER_POLICY_NAME,
        policy=policies.streamer_inline_policy(plan),
        description=f"Streamer host of stack {plan.stack}: put records into its delivery stream",
    )


def delete_role(aws: Aws, kind: str, name: str) -> ResourceReport:
    """Remove inline and managed policies and profile memberships, then the role."""
    iam = aws.client("iam")
    if _role(aws, name) is None:
        return ResourceReport(kind, name, ABSENT)
    for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
    for profile in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]:
        iam.remove_role_from_instance_profile(
            InstanceProfileName=profile["InstanceProfileName"], RoleName=name
        )
    try:
        iam.delete_role(RoleName=name)
    except ClientError as exc:
        if not is_not_found(exc):
            raise
    return ResourceReport(kind, name, ABSENT, changed=True)


def _instance_profile(aws: Aws, plan: StackPlan) -> dict[str, Any] | None:
    try:
        return dict(
            aws.client("iam").get_instance_profile(InstanceProfileName=plan.instance_profile)[
                "InstanceProfile"
            ]
        )
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def describe_instance_profile(aws: Aws, plan: StackPlan) -> ResourceReport:
    profile = _instance_profile(aws, plan)
    if profile is None:
        return ResourceReport("instance_profile", plan.instance_profile, ABSENT)
    roles = sorted(r["RoleName"] for r in profile.get("Roles", []))
    return ResourceReport(
        "instance_profile",
        plan.instance_profile,
        PRESENT,
        id=profile["Arn"],
        details={"roles": roles},
    )


def ensure_instance_profile(aws: Aws, plan: StackPlan) -> ResourceReport:
    """The profile that hands the streamer role to the instance: no AWS keys on the host."""
    iam = aws.client("iam")
    changed = False
    profile = _instance_profile(aws, plan)
    if profile is None:
        try:
            iam.create_instance_profile(
                InstanceProfileName=plan.instance_profile, Tags=plan.tag_list()
            )
        except ClientError as exc:
            if error_code(exc) != "EntityAlreadyExists":
                raise
        iam.get_waiter("instance_profile_exists").wait(InstanceProfileName=plan.instance_profile)
        profile = _instance_profile(aws, plan) or {}
        changed = True
    roles = [r["RoleName"] for r in profile.get("Roles", [])]
    for other in roles:
        if other != plan.streamer_role:
            iam.remove_role_from_instance_profile(
                InstanceProfileName=plan.instance_profile, RoleName=other
            )
            changed = True
    if plan.streamer_role not in roles:
        iam.add_role_to_instance_profile(
            InstanceProfileName=plan.instance_profile, RoleName=plan.streamer_role
        )
        changed = True
    return replace(describe_instance_profile(aws, plan), changed=changed)


def delete_instance_profile(aws: Aws, plan: StackPlan) -> ResourceReport:
    profile = _instance_profile(aws, plan)
    if profile is None:
        return ResourceReport("instance_profile", plan.instance_profile, ABSENT)
    iam = aws.client("iam")
    for role in profile.get("Roles", []):
        iam.remove_role_from_instance_profile(
            InstanceProfileName=plan.instance_profile, RoleName=role["RoleName"]
        )
    iam.delete_instance_profile(InstanceProfileName=plan.instance_profile)
    return ResourceReport("instance_profile", plan.instance_profile, ABSENT, changed=True)


# ==========================================================================================
# Firehose delivery stream
# ==========================================================================================
def delivery_stream_destination(plan: StackPlan) -> dict[str, Any]:
    """ExtendedS3 destination: raw prefix (Firehose appends YYYY/MM/DD/HH/), error prefix."""
    return {
        "RoleARN": plan.role_arn(plan.firehose_role),
        "BucketARN": plan.bucket_arn,
        "Prefix": plan.raw_prefix,
        "ErrorOutputPrefix": plan.error_prefix,
        "BufferingHints": {"SizeInMBs": plan.buffer_mib, "IntervalInSeconds": plan.buffer_seconds},
        "CompressionFormat": plan.compression,
        "CloudWatchLoggingOptions": {
            "Enabled": True,
            "LogGroupName": plan.log_group,
            "LogStreamName": plan.log_stream,
        },
    }


def _delivery_stream(aws: Aws, plan: StackPlan) -> dict[str, Any] | None:
    try:
        return dict(
            aws.client("firehose").describe_delivery_stream(
                DeliveryStreamName=plan.delivery_stream
            )["DeliveryStreamDescription"]
        )
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def _destination_drift(description: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """Names of the destination settings that differ from the plan."""
    current = description["Destinations"][0].get("ExtendedS3DestinationDescription", {})
    return [key for key, value in wanted.items() if current.get(key) != value]


def describe_delivery_stream(aws: Aws, plan: StackPlan) -> ResourceReport:
    stream = _delivery_stream(aws, plan)
    if stream is None:
        return ResourceReport("delivery_stream", plan.delivery_stream, ABSENT)
    destination = stream["Destinations"][0].get("ExtendedS3DestinationDescription", {})
    return ResourceReport(
        "delivery_stream",
        plan.delivery_stream,
        str(stream["DeliveryStreamStatus"]),
        id=stream["DeliveryStreamARN"],
        details={
            "prefix": destination.get("Prefix"),
            "error_prefix": destination.get("ErrorOutputPrefix"),
            "buffering": destination.get("BufferingHints"),
            "compression": destination.get("CompressionFormat"),
        },
    )


def _role_not_assumable_yet(exc: ClientError) -> bool:
    """Firehose's answer while a just-created role has not propagated through IAM."""
    message = error_message(exc).lower()
    return error_code(exc) == "InvalidArgumentException" and (
        "assume" in message or "access was denied" in message
    )


def ensure_delivery_stream(aws: Aws, plan: StackPlan) -> ResourceReport:
    """DirectPut stream to the bucket; an existing one is updated to the plan's settings."""
    firehose = aws.client("firehose")
    wanted = delivery_stream_destination(plan)
    changed = False
    stream = _delivery_stream(aws, plan)
    if stream is not None and stream["DeliveryStreamStatus"] == "DELETING":
        _wait_firehose(aws, "DeliveryStreamDeleted", plan.delivery_stream)
        stream = None
    if stream is not None and stream["DeliveryStreamStatus"].endswith("_FAILED"):
        raise CloudError(
            f"delivery stream {plan.delivery_stream} is {stream['DeliveryStreamStatus']} "
            f"({stream.get('FailureDescription', {}).get('Details', 'no details')}): run "
            "aws-destroy, then aws-create"
        )
    if stream is None:
        retry_while(
            lambda: firehose.create_delivery_stream(
                DeliveryStreamName=plan.delivery_stream,
                DeliveryStreamType="DirectPut",
                ExtendedS3DestinationConfiguration=wanted,
                Tags=plan.tag_list(),
            ),
            _role_not_assumable_yet,
            f"create delivery stream {plan.delivery_stream}",
        )
        changed = True
    _wait_firehose(aws, "DeliveryStreamActive", plan.delivery_stream)
    stream = _delivery_stream(aws, plan) or {}
    if stream.get("DeliveryStreamType") != "DirectPut":
        raise CloudError(
            f"delivery stream {plan.delivery_stream} exists with source "
            f"{stream.get('DeliveryStreamType')}, not DirectPut: run aws-destroy, then aws-create"
        )
    if _destination_drift(stream, wanted):
        retry_while(
            lambda: firehose.update_destination(
                DeliveryStreamName=plan.delivery_stream,
                CurrentDeliveryStreamVersionId=stream["VersionId"],
                DestinationId=stream["Destinations"][0]["DestinationId"],
                ExtendedS3DestinationUpdate=wanted,
            ),
            _role_not_assumable_yet,
            f"update delivery stream {plan.delivery_stream}",
        )
        _wait_firehose(aws, "DeliveryStreamActive", plan.delivery_stream)
        changed = True
    tags = _tags_dict(
        firehose.list_tags_for_delivery_stream(DeliveryStreamName=plan.delivery_stream)["Tags"]
    )
    if _missing_tags(tags, plan.tags):
        firehose.tag_delivery_stream(DeliveryStreamName=plan.delivery_stream, Tags=plan.tag_list())
        changed = True
    return replace(describe_delivery_stream(aws, plan), changed=changed)


def delete_delivery_stream(aws: Aws, plan: StackPlan) -> ResourceReport:
    stream = _delivery_stream(aws, plan)
    if stream is None:
        return ResourceReport("delivery_stream", plan.delivery_stream, ABSENT)
    if stream["DeliveryStreamStatus"] == "CREATING":  # cannot be deleted until it is ACTIVE
        _wait_firehose(aws, "DeliveryStreamActive", plan.delivery_stream)
    if stream["DeliveryStreamStatus"] != "DELETING":
        try:
            aws.client("firehose").delete_delivery_stream(DeliveryStreamName=plan.delivery_stream)
        except ClientError as exc:
            if not is_not_found(exc):
                raise
    _wait_firehose(aws, "DeliveryStreamDeleted", plan.delivery_stream)
    return ResourceReport("delivery_stream", plan.delivery_stream, ABSENT, changed=True)


# ==========================================================================================
# EC2: security group, key pair, instance
# ==========================================================================================
def default_vpc_id(aws: Aws, plan: StackPlan) -> str:
    vpcs = aws.client("ec2").describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])
    if not vpcs["Vpcs"]:
        raise CloudError(
            f"no default VPC in AWS_REGION={plan.region}: create one with "
            "`aws ec2 create-default-vpc` or pick another region"
        )
    return str(vpcs["Vpcs"][0]["VpcId"])


def _security_group(aws: Aws, plan: StackPlan) -> dict[str, Any] | None:
    groups = aws.client("ec2").describe_security_groups(
        Filters=[
            {"Name": "group-name", "Values": [plan.security_group]},
            {"Name": "tag:Stack", "Values": [plan.stack]},
        ]
    )["SecurityGroups"]
    return dict(groups[0]) if groups else None


def _ssh_rule(plan: StackPlan) -> dict[str, Any]:
    cidr = plan.operator_cidr or ""
    ranges = (
        {"Ipv6Ranges": [{"CidrIpv6": cidr, "Description": "operator SSH"}]}
        if ":" in cidr
        else {"IpRanges": [{"CidrIp": cidr, "Description": "operator SSH"}]}
    )
    return {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, **ranges}


def _rule_keys(permissions: list[dict[str, Any]]) -> set[tuple[str, int, int, str]]:
    keys = set()
    for permission in permissions:
        cidrs = [r["CidrIp"] for r in permission.get("IpRanges", [])]
        cidrs += [r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])]
        cidrs += [g["GroupId"] for g in permission.get("UserIdGroupPairs", [])]
        for cidr in cidrs:
            keys.add(
                (
                    str(permission["IpProtocol"]),
                    int(permission.get("FromPort", -1)),
                    int(permission.get("ToPort", -1)),
                    cidr,
                )
            )
    return keys


def describe_security_group(aws: Aws, plan: StackPlan) -> ResourceReport:
    group = _security_group(aws, plan)
    if group is None:
        return ResourceReport("security_group", plan.security_group, ABSENT)
    ssh_from = sorted(k[3] for k in _rule_keys(group.get("IpPermissions", [])))
    return ResourceReport(
        "security_group",
        plan.security_group,
        PRESENT,
        id=group["GroupId"],
        details={"vpc": group["VpcId"], "ssh_from": ssh_from},
    )


def ensure_security_group(aws: Aws, plan: StackPlan) -> ResourceReport:
    """SSH (tcp/22) from the operator CIDR only, in the default VPC; other ingress is revoked."""
    if not plan.operator_cidr:
        raise CloudError("the security group needs OPERATOR_CIDR (e.g. 203.0.113.7/32)")
    ec2 = aws.client("ec2")
    changed = False
    group = _security_group(aws, plan)
    if group is None:
        created = ec2.create_security_group(
            GroupName=plan.security_group,
            Description=f"SSH to the {plan.stack} streamer from the operator only",
            VpcId=default_vpc_id(aws, plan),
            TagSpecifications=[{"ResourceType": "security-group", "Tags": plan.tag_list()}],
        )
        ec2.get_waiter("security_group_exists").wait(GroupIds=[created["GroupId"]])
        group = _security_group(aws, plan) or {}
        changed = True
    wanted = _ssh_rule(plan)
    current = group.get("IpPermissions", [])
    unwanted = _rule_keys(current) - _rule_keys([wanted])
    if unwanted:
        stale = [p for p in current if _rule_keys([p]) & unwanted]
        ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=stale)
        changed = True
    if not _rule_keys([wanted]) <= _rule_keys(current):
        ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[wanted])
        changed = True
    if _missing_tags(_tags_dict(group.get("Tags")), plan.tags):
        ec2.create_tags(Resources=[group["GroupId"]], Tags=plan.tag_list())
        changed = True
    return replace(describe_security_group(aws, plan), changed=changed)


def delete_security_group(aws: Aws, plan: StackPlan) -> ResourceReport:
    group = _security_group(aws, plan)
    if group is None:
        return ResourceReport("security_group", plan.security_group, ABSENT)
    retry_while(  # a terminated instance's network interface takes a moment to be released
        lambda: aws.client("ec2").delete_security_group(GroupId=group["GroupId"]),
        lambda exc: error_code(exc) == "DependencyViolation",
        f"delete security group {plan.security_group}",
    )
    return ResourceReport("security_group", plan.security_group, ABSENT, changed=True)


def _key_pair(aws: Aws, plan: StackPlan) -> dict[str, Any] | None:
    try:
        pairs = aws.client("ec2").describe_key_pairs(KeyNames=[plan.key_pair])["KeyPairs"]
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    return dict(pairs[0]) if pairs else None


def describe_key_pair(aws: Aws, plan: StackPlan) -> ResourceReport:
    pair = _key_pair(aws, plan)
    if pair is None:
        return ResourceReport("key_pair", plan.key_pair, ABSENT)
    return ResourceReport(
        "key_pair",
        plan.key_pair,
        PRESENT,
        id=pair.get("KeyPairId"),
        details={"private_key_file": str(plan.key_path), "file_exists": plan.key_path.is_file()},
    )


def write_private_key(path: Path, material: str) -> None:
    """Write the key 0600 from the first byte (never world-readable, not even briefly)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(material if material.endswith("\n") else material + "\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def ensure_key_pair(aws: Aws, plan: StackPlan) -> ResourceReport:
    """An ed25519 key pair whose private key is in `plan.key_path` (mode 0600).

    AWS shows a private key only once. If the pair exists but the file is lost, the pair is
    replaced, unless an instance was launched with it (then only restoring the file or
    destroying the stack helps, and the error says so).
    """
    ec2 = aws.client("ec2")
    pair = _key_pair(aws, plan)
    if pair is not None and plan.key_path.is_file():
        return describe_key_pair(aws, plan)
    if pair is not None:
        if _instances(aws, plan):
            raise CloudError(
                f"key pair {plan.key_pair} exists but its private key {plan.key_path} is "
                "missing and the streamer was launched with it: restore the file (or set "
                "SSH_KEY_PATH to it), or run aws-destroy then aws-create"
            )
        ec2.delete_key_pair(KeyName=plan.key_pair)
    created = ec2.create_key_pair(
        KeyName=plan.key_pair,
        KeyType="ed25519",
        TagSpecifications=[{"ResourceType": "key-pair", "Tags": plan.tag_list()}],
    )
    write_private_key(plan.key_path, created["KeyMaterial"])
    return replace(describe_key_pair(aws, plan), changed=True)


def delete_key_pair(aws: Aws, plan: StackPlan) -> ResourceReport:
    """The pair in AWS and the private key file written for it."""
    changed = False
    if _key_pair(aws, plan) is not None:
        aws.client("ec2").delete_key_pair(KeyName=plan.key_pair)
        changed = True
    if plan.key_path.is_file():
        plan.key_path.unlink()
        changed = True
    return ResourceReport("key_pair", plan.key_pair, ABSENT, changed=changed)


def latest_ami(aws: Aws, plan: StackPlan) -> str:
    """Latest Amazon Linux 2023 AMI of the region, from AWS's public SSM parameter."""
    try:
        return str(aws.client("ssm").get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"])
    except ClientError as exc:
        raise CloudError(
            f"cannot read {AMI_PARAMETER} in AWS_REGION={plan.region} "
            f"({error_code(exc)}): check the region and that the credentials may call "
            "ssm:GetParameter"
        ) from exc


def _instances(aws: Aws, plan: StackPlan) -> list[dict[str, Any]]:
    """The stack's streamer instances that are not terminated (or terminating)."""
    reservations = aws.client("ec2").describe_instances(
        Filters=[
            {"Name": "tag:Stack", "Values": [plan.stack]},
            {"Name": "tag:Role", "Values": ["streamer"]},
            {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES},
        ]
    )["Reservations"]
    return [dict(i) for r in reservations for i in r["Instances"]]


def _instance_report(instance: dict[str, Any] | None, plan: StackPlan) -> ResourceReport:
    if instance is None:
        return ResourceReport("instance", plan.instance_name, ABSENT)
    return ResourceReport(
        "instance",
        plan.instance_name,
        str(instance["State"]["Name"]),
        id=instance["InstanceId"],
        details={
            "public_dns": instance.get("PublicDnsName") or None,
            "public_ip": instance.get("PublicIpAddress"),
            "image_id": instance.get("ImageId"),
            "instance_type": instance.get("InstanceType"),
            "instance_profile": instance.get("IamInstanceProfile", {}).get("Arn"),
        },
    )


def describe_instance(aws: Aws, plan: StackPlan) -> ResourceReport:
    instances = _instances(aws, plan)
    return _instance_report(instances[0] if instances else None, plan)


def _describe_by_id(aws: Aws, instance_id: str) -> dict[str, Any]:
    response = aws.client("ec2").describe_instances(InstanceIds=[instance_id])
    return dict(response["Reservations"][0]["Instances"][0])


def _profile_not_visible_yet(exc: ClientError) -> bool:
    message = error_message(exc).lower()
    return error_code(exc) == "InvalidParameterValue" and "instance profile" in message


def ensure_instance(aws: Aws, plan: StackPlan, security_group_id: str) -> ResourceReport:
    """One running streamer instance (latest AL2023, instance profile, IMDSv2 only)."""
    ec2 = aws.client("ec2")
    instances = _instances(aws, plan)
    if len(instances) > 1:
        ids = ", ".join(i["InstanceId"] for i in instances)
        raise CloudError(
            f"more than one streamer instance is tagged Stack={plan.stack}: {ids}; terminate "
            "the extra ones (or run aws-destroy) and re-run aws-create"
        )
    changed = False
    if instances:
        instance = instances[0]
        state = instance["State"]["Name"]
        if state == "stopping":
            ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance["InstanceId"]])
            state = "stopped"
        if state == "stopped":
            ec2.start_instances(InstanceIds=[instance["InstanceId"]])
            changed = True
        if not instance.get("IamInstanceProfile"):
            ec2.associate_iam_instance_profile(
                IamInstanceProfile={"Name": plan.instance_profile},
                InstanceId=instance["InstanceId"],
            )
            changed = True
        instance_id = instance["InstanceId"]
    else:
        image_id = latest_ami(aws, plan)
        launched = retry_while(
            lambda: ec2.run_instances(
                ImageId=image_id,
                InstanceType=plan.instance_type,
                KeyName=plan.key_pair,
                SecurityGroupIds=[security_group_id],
                IamInstanceProfile={"Name": plan.instance_profile},
                MinCount=1,
                MaxCount=1,
                MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
                TagSpecifications=[
                    {"ResourceType": "instance", "Tags": plan.tag_list(plan.instance_tags)},
                    {"ResourceType": "volume", "Tags": plan.tag_list()},
                ],
            ),
            _profile_not_visible_yet,
            f"launch {plan.instance_name}",
        )
        instance_id = launched["Instances"][0]["InstanceId"]
        changed = True
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id])
    return replace(_instance_report(_describe_by_id(aws, instance_id), plan), changed=changed)


def delete_instance(aws: Aws, plan: StackPlan) -> ResourceReport:
    """Terminate every streamer instance of the stack and wait until they are terminated."""
    ids = [i["InstanceId"] for i in _instances(aws, plan)]
    if not ids:
        return ResourceReport("instance", plan.instance_name, ABSENT)
    ec2 = aws.client("ec2")
    ec2.terminate_instances(InstanceIds=ids)
    ec2.get_waiter("instance_terminated").wait(InstanceIds=ids)
    return ResourceReport("instance", plan.instance_name, ABSENT, changed=True, id=",".join(ids))
