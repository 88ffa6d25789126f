"""Every resource of the stack, defined once: how to describe, converge and delete it.

One module per AWS service (s3, logs, iam, firehose, ec2) holds the idempotent
`describe_*`/`ensure_*`/`delete_*` functions; `RESOURCES` lists them in creation order, and
destruction runs the same list backwards. `tweet-triage aws ...`, notebooks and the Ansible
playbooks (through the `tt_resource` module) all converge the stack from this list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from tweet_triage.cloud.aws import Aws, CloudError, WouldChange
from tweet_triage.cloud.plan import StackPlan
from tweet_triage.cloud.report import ResourceReport
from tweet_triage.cloud.resources import ec2, firehose, iam, logs, s3

Step = Callable[[Aws, StackPlan], ResourceReport]


@dataclass(frozen=True)
class Resource:
    """One resource kind; `delete` is None when it goes with its parent (the log stream)."""

    kind: str
    describe: Step
    ensure: Step
    delete: Step | None


def _ensure_instance(aws: Aws, plan: StackPlan, role: str = "streamer") -> ResourceReport:
    group = ec2.describe_security_group(aws, plan, role)
    if not group.exists:
        if aws.check_mode:  # the group would have been created by the step before
            raise WouldChange("ec2:run_instances")
        raise CloudError(f"security group {group.name} does not exist yet: run aws-create")
    return ec2.ensure_instance(aws, plan, security_group_id=str(group.id), role=role)


def _triage(step: Callable[..., ResourceReport]) -> Step:
    """The streamer's step for the triage host's resource of the same kind."""
    return partial(step, role="triage")


# Creation order: each resource after what it refers to. Destruction is the reverse.
RESOURCES: tuple[Resource, ...] = (
    Resource("bucket", s3.describe_bucket, s3.ensure_bucket, s3.delete_bucket),
    Resource("log_group", logs.describe_log_group, logs.ensure_log_group, logs.delete_log_group),
    Resource("log_stream", logs.describe_log_stream, logs.ensure_log_stream, None),
    Resource(
        "firehose_role",
        iam.describe_firehose_role,
        iam.ensure_firehose_role,
        iam.delete_firehose_role,
    ),
    Resource(
        "delivery_stream",
        firehose.describe_delivery_stream,
        firehose.ensure_delivery_stream,
        firehose.delete_delivery_stream,
    ),
    Resource(
        "streamer_role",
        iam.describe_streamer_role,
        iam.ensure_streamer_role,
        iam.delete_streamer_role,
    ),
    Resource(
        "instance_profile",
        iam.describe_instance_profile,
        iam.ensure_instance_profile,
        iam.delete_instance_profile,
    ),
    Resource(
        "security_group",
        ec2.describe_security_group,
        ec2.ensure_security_group,
        ec2.delete_security_group,
    ),
    Resource("key_pair", ec2.describe_key_pair, ec2.ensure_key_pair, ec2.delete_key_pair),
    Resource("instance", ec2.describe_instance, _ensure_instance, ec2.delete_instance),
    # The triage host (scorer, sync follower, inbox): same shape, its own role and group.
    Resource(
        "triage_role", iam.describe_triage_role, iam.ensure_triage_role, iam.delete_triage_role
    ),
    Resource(
        "triage_instance_profile",
        _triage(iam.describe_instance_profile),
        _triage(iam.ensure_instance_profile),
        _triage(iam.delete_instance_profile),
    ),
    Resource(
        "triage_security_group",
        _triage(ec2.describe_security_group),
        _triage(ec2.ensure_security_group),
        _triage(ec2.delete_security_group),
    ),
    Resource(
        "triage_instance",
        _triage(ec2.describe_instance),
        _triage(_ensure_instance),
        _triage(ec2.delete_instance),
    ),
)

BY_KIND: dict[str, Resource] = {resource.kind: resource for resource in RESOURCES}
CREATE_ORDER: list[str] = [resource.kind for resource in RESOURCES]
DESTROY_ORDER: list[str] = [r.kind for r in reversed(RESOURCES) if r.delete is not None]
