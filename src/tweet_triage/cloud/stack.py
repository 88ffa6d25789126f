"""Create, inspect and destroy the whole stack: what `tweet-triage aws ...` and notebooks call.

Creation follows the dependencies (bucket and log stream before the Firehose role and stream;
role before profile before instance); destruction runs the other way round and then checks,
by name and by the stack tag, that nothing is left: a failed check raises, it never just prints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tweet_triage.cloud import resources as r
from tweet_triage.cloud.aws import Aws, CloudError, connect
from tweet_triage.cloud.plan import StackPlan
from tweet_triage.cloud.preflight import preflight
from tweet_triage.cloud.report import ResourceReport, StackReport
from tweet_triage.config import Settings

log = logging.getLogger(__name__)


Step = Callable[[Aws, StackPlan], ResourceReport]


def _ensure_instance(aws: Aws, plan: StackPlan) -> ResourceReport:
    group = r.describe_security_group(aws, plan)
    if not group.exists:
        raise CloudError(f"security group {plan.security_group} does not exist yet: run aws-create")
    return r.ensure_instance(aws, plan, security_group_id=str(group.id))


# Creation order: each resource after what it refers to.
ENSURE: dict[str, Step] = {
    "bucket": r.ensure_bucket,
    "log_group": r.ensure_log_group,
    "log_stream": r.ensure_log_stream,
    "firehose_role": r.ensure_firehose_role,
    "delivery_stream": r.ensure_delivery_stream,
    "streamer_role": r.ensure_streamer_role,
    "instance_profile": r.ensure_instance_profile,
    "security_group": r.ensure_security_group,
    "key_pair": r.ensure_key_pair,
    "instance": _ensure_instance,
}

# Destruction order: each resource before what it refers to. The log stream goes with its group.
DELETE: dict[str, Step] = {
    "instance": r.delete_instance,
    "instance_profile": r.delete_instance_profile,
    "streamer_role": lambda aws, plan: r.delete_role(aws, "streamer_role", plan.streamer_role),
    "security_group": r.delete_security_group,
    "key_pair": r.delete_key_pair,
    "delivery_stream": r.delete_delivery_stream,
    "firehose_role": lambda aws, plan: r.delete_role(aws, "firehose_role", plan.firehose_role),
    "log_group": r.delete_log_group,
    "bucket": r.delete_bucket,
}


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
    for ensure in ENSURE.values():
        _step(report, ensure(aws, plan))
    return report


def describe_all(aws: Aws, plan: StackPlan) -> list[ResourceReport]:
    """Every resource of the stack in creation order, `absent` where it does not exist."""
    return [
        r.describe_bucket(aws, plan),
        r.describe_log_group(aws, plan),
        r.describe_log_stream(aws, plan),
        r.describe_role(aws, "firehose_role", plan.firehose_role),
        r.describe_delivery_stream(aws, plan),
        r.describe_role(aws, "streamer_role", plan.streamer_role),
        r.describe_instance_profile(aws, plan),
        r.describe_security_group(aws, plan),
        r.describe_key_pair(aws, plan),
        r.describe_instance(aws, plan),
    ]


def stack_status(settings: Settings, aws: Aws | None = None) -> StackReport:
    """Each resource and its state; changes nothing."""
    aws = aws or connect(settings)
    plan = preflight(settings, aws, detect_operator_cidr=False)
    report = _report(plan)
    report.resources.extend(describe_all(aws, plan))
    return report


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
    for kind, delete in DELETE.items():
        keep_this = keep and kind == "bucket"
        _step(report, r.describe_bucket(aws, plan) if keep_this else delete(aws, plan))
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
        Filters=[*stack_tag, {"Name": "instance-state-name", "Values": r.LIVE_INSTANCE_STATES}]
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
    """Raise if anything of the stack is left (the original's checks could never fail)."""
    left = leftovers(aws, plan, keep_bucket=keep_bucket)
    if left:
        raise CloudError(
            f"stack {plan.stack} is not fully destroyed; still present: {'; '.join(left)}. "
            "Re-run aws-destroy; if it persists, delete these by hand"
        )
