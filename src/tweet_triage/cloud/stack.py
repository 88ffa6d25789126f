"""Create, inspect and destroy the whole stack: what the CLI, notebooks and playbooks call.

Creation follows `RESOURCES` (each resource after what it refers to); destruction runs it
backwards and then checks, by name and by the stack tag, that nothing is left: a failed check
raises, it never just prints. An AWS error no step maps to a fix becomes one `CloudError` line
naming the resource, the AWS code and what to do, instead of a traceback.
"""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError

from tweet_triage.cloud.aws import Aws, CloudError, connect, error_code, error_message
from tweet_triage.cloud.plan import StackPlan
from tweet_triage.cloud.preflight import preflight
from tweet_triage.cloud.report import ResourceReport, StackReport
from tweet_triage.cloud.resources import BY_KIND, CREATE_ORDER, DESTROY_ORDER, RESOURCES
from tweet_triage.cloud.resources.ec2 import LIVE_INSTANCE_STATES
from tweet_triage.config import Settings

log = logging.getLogger(__name__)


def converge(aws: Aws, plan: StackPlan, kind: str, *, present: bool = True) -> ResourceReport:
    """Ensure (or delete) one resource; unmapped AWS errors become one clear `CloudError`."""
    resource = BY_KIND[kind]
    step = resource.ensure if present else resource.delete
    if step is None:
        raise CloudError(f"{kind} is deleted with its parent resource; nothing to delete")
    action = "create or update" if present else "delete"
    try:
        return step(aws, plan)
    except ClientError as exc:
        operation = exc.operation_name or "a call"
        raise CloudError(
            f"AWS refused {operation} while trying to {action} {kind} {resource_name(plan, kind)}"
            f" ({error_code(exc)}: {error_message(exc)}): fix the cause (permissions, quotas, "
            "settings), then re-run; the steps before this one are kept"
        ) from exc
    except BotoCoreError as exc:
        raise CloudError(
            f"AWS call failed while trying to {action} {kind} {resource_name(plan, kind)} "
            f"({exc}): check the network, AWS_REGION and AWS_ENDPOINT_URL, then re-run"
        ) from exc


def resource_name(plan: StackPlan, kind: str) -> str:
    return {
        "bucket": plan.bucket,
        "log_group": plan.log_group,
        "log_stream": f"{plan.log_group}:{plan.log_stream}",
        "firehose_role": plan.firehose_role,
        "delivery_stream": plan.delivery_stream,
        "streamer_role": plan.streamer_role,
        "instance_profile": plan.instance_profile,
        "security_group": plan.security_group,
        "key_pair": plan.key_pair,
        "instance": plan.instance_name,
        "triage_role": plan.triage_host.iam_role,
        "triage_instance_profile": plan.triage_host.instance_profile,
        "triage_security_group": plan.triage_host.security_group,
        "triage_instance": plan.triage_host.instance_name,
    }[kind]


def _report(plan: StackPlan) -> StackReport:
    return StackReport(stack=plan.stack, region=plan.region, account_id=plan.account_id)


def _step(report: StackReport, resource: ResourceReport) -> None:
    report.resources.append(resource)
    log.info(
        "%s %s: %s%s",
        resource.kind,
        resource.name,
        resource.state,
        " (changed)" if resource.changed else "",
    )


def create_stack(settings: Settings, aws: Aws | None = None) -> StackReport:
    """Create or converge every resource; a re-run after a failure completes the stack."""
    aws = aws or connect(settings)
    plan = preflight(settings, aws)
    report = _report(plan)
    for kind in CREATE_ORDER:
        _step(report, converge(aws, plan, kind))
    return report


def describe_all(aws: Aws, plan: StackPlan) -> list[ResourceReport]:
    """Every resource of the stack in creation order, `absent` where it does not exist."""
    return [resource.describe(aws, plan) for resource in RESOURCES]


def stack_status(settings: Settings, aws: Aws | None = None) -> StackReport:
    """Each resource and its state; changes nothing."""
    aws = aws or connect(settings)
    plan = preflight(settings, aws, detect_operator_cidr=False)
    report = _report(plan)
    report.resources.extend(describe_all(aws, plan))
    return report


def destroy_preview(
    settings: Settings, aws: Aws | None = None, *, keep_bucket: bool | None = None
) -> list[str]:
    """The dry run of `destroy_stack`: what it would delete, one line each; changes nothing."""
    aws = aws or connect(settings)
    plan = preflight(settings, aws, detect_operator_cidr=False)
    keep = plan.keep_bucket if keep_bucket is None else keep_bucket
    doomed = [
        f"{res.kind} {res.name}" + (f" ({res.id})" if res.id else "")
        for res in describe_all(aws, plan)
        if res.exists and not (keep and res.kind == "bucket")
    ]
    if plan.key_path.exists():
        doomed.append(f"private key file {plan.key_path}")
    return doomed


def destroy_stack(
    settings: Settings, aws: Aws | None = None, *, keep_bucket: bool | None = None
) -> StackReport:
    """Delete everything in dependency order, then verify; safe on a destroyed stack.

    `keep_bucket` (default: DESTROY_KEEP_BUCKET) keeps the bucket and its data.
    """
    aws = aws or connect(settings)
    plan = preflight(settings, aws, detect_operator_cidr=False)
    keep = plan.keep_bucket if keep_bucket is None else keep_bucket
    report = _report(plan)
    for kind in DESTROY_ORDER:
        if keep and kind == "bucket":
            _step(report, BY_KIND[kind].describe(aws, plan))
        else:
            _step(report, converge(aws, plan, kind, present=False))
    verify_destroyed(aws, plan, keep_bucket=keep)
    return report


def leftovers(aws: Aws, plan: StackPlan, *, keep_bucket: bool = False) -> list[str]:
    """What of the stack still exists: by name, and EC2 resources by the stack tag."""
    found = [
        f"{res.kind} {res.name} ({res.state})"
        for res in describe_all(aws, plan)
        if res.exists and not (keep_bucket and res.kind == "bucket")
    ]
    if plan.key_path.exists():
        found.append(f"private key file {plan.key_path}")
    ec2 = aws.client("ec2")
    stack_tag = [{"Name": "tag:Stack", "Values": [plan.stack]}]
    for reservation in ec2.describe_instances(
        Filters=[*stack_tag, {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}]
    )["Reservations"]:
        found += [
            f"instance {i['InstanceId']} tagged Stack={plan.stack}"
            for i in reservation["Instances"]
        ]
    found += [
        f"security group {g['GroupId']} tagged Stack={plan.stack}"
        for g in ec2.describe_security_groups(Filters=stack_tag)["SecurityGroups"]
    ]
    found += [
        f"key pair {k['KeyName']} tagged Stack={plan.stack}"
        for k in ec2.describe_key_pairs(Filters=stack_tag)["KeyPairs"]
    ]
    return sorted(set(found))


def verify_destroyed(aws: Aws, plan: StackPlan, *, keep_bucket: bool = False) -> None:
    """Raise, listing what is left, if anything of the stack is left."""
    left = leftovers(aws, plan, keep_bucket=keep_bucket)
    if left:
        raise CloudError(
            f"stack {plan.stack} is not fully destroyed; still present: {'; '.join(left)}. "
            "Re-run aws-destroy; if it persists, delete these by hand"
        )
