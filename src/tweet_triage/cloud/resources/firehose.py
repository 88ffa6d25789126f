"""Firehose: the DirectPut delivery stream into the bucket's raw prefix."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError, WaiterError
from botocore.waiter import WaiterModel, create_waiter_with_client

from tweet_triage.cloud.aws import Aws, CloudError, error_code, error_message, is_not_found
from tweet_triage.cloud.plan import StackPlan
from tweet_triage.cloud.report import ABSENT, ResourceReport
from tweet_triage.cloud.resources.common import missing_tags, tags_dict
from tweet_triage.retry import retry_while

# Records at rest inside Firehose are encrypted with a key AWS owns (no KMS key to manage).
SERVER_SIDE_ENCRYPTION = {"KeyType": "AWS_OWNED_CMK"}

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
            "encryption": (stream.get("DeliveryStreamEncryptionConfiguration") or {}).get("Status"),
        },
    )


def _encryption_off(stream: dict[str, Any]) -> bool:
    """True when Firehose reports server-side encryption off (or failed to turn it on)."""
    status = (stream.get("DeliveryStreamEncryptionConfiguration") or {}).get("Status")
    return status in {"DISABLED", "DISABLING", "DISABLING_FAILED", "ENABLING_FAILED"}


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
                DeliveryStreamEncryptionConfigurationInput=SERVER_SIDE_ENCRYPTION,
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
    if _encryption_off(stream):
        firehose.start_delivery_stream_encryption(
            DeliveryStreamName=plan.delivery_stream,
            DeliveryStreamEncryptionConfigurationInput=SERVER_SIDE_ENCRYPTION,
        )
        changed = True
    tags = tags_dict(
        firehose.list_tags_for_delivery_stream(DeliveryStreamName=plan.delivery_stream)["Tags"]
    )
    if missing_tags(tags, plan.tags):
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
