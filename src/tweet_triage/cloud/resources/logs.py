"""CloudWatch Logs: the Firehose error log group (with retention) and its log stream."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from tweet_triage.cloud.aws import Aws, CloudError, error_code, is_not_found
from tweet_triage.cloud.plan import StackPlan
from tweet_triage.cloud.report import ABSENT, ResourceReport
from tweet_triage.cloud.resources.common import PRESENT, missing_tags


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
    """The Firehose error log group with a retention period (LOG_RETENTION_DAYS)."""
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
    if missing_tags(current, plan.tags):
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
