"""IAM: the Firehose, streamer and triage roles (one inline policy each) and the profiles."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from tweet_triage.cloud import policies
from tweet_triage.cloud.aws import Aws, error_code, is_not_found
from tweet_triage.cloud.plan import Host, StackPlan
from tweet_triage.cloud.report import ABSENT, ResourceReport
from tweet_triage.cloud.resources.common import PRESENT, missing_tags, same_policy, tags_dict


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
    if missing_tags(tags_dict(iam.list_role_tags(RoleName=name)["Tags"]), plan.tags):
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
        trust=policies.instance_trust_policy(plan),
        policy_name=policies.STREAMER_POLICY_NAME,
        policy=policies.streamer_inline_policy(plan),
        description=f"Streamer host of stack {plan.stack}: put records into its delivery stream",
    )


def ensure_triage_role(aws: Aws, plan: StackPlan) -> ResourceReport:
    return ensure_role(
        aws,
        plan,
        kind="triage_role",
        name=plan.triage_host.iam_role,
        trust=policies.instance_trust_policy(plan),
        policy_name=policies.TRIAGE_POLICY_NAME,
        policy=policies.triage_inline_policy(plan),
        description=f"Triage host of stack {plan.stack}: read the raw prefix of its bucket",
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


def _instance_profile(aws: Aws, host: Host) -> dict[str, Any] | None:
    try:
        return dict(
            aws.client("iam").get_instance_profile(InstanceProfileName=host.instance_profile)[
                "InstanceProfile"
            ]
        )
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def describe_instance_profile(aws: Aws, plan: StackPlan, role: str = "streamer") -> ResourceReport:
    host = plan.host(role)
    kind = f"{host.kind_prefix}instance_profile"
    profile = _instance_profile(aws, host)
    if profile is None:
        return ResourceReport(kind, host.instance_profile, ABSENT)
    roles = sorted(r["RoleName"] for r in profile.get("Roles", []))
    return ResourceReport(
        kind, host.instance_profile, PRESENT, id=profile["Arn"], details={"roles": roles}
    )


def ensure_instance_profile(aws: Aws, plan: StackPlan, role: str = "streamer") -> ResourceReport:
    """The profile that hands the host's role to its instance: no AWS keys on the host."""
    host = plan.host(role)
    iam = aws.client("iam")
    changed = False
    profile = _instance_profile(aws, host)
    if profile is None:
        try:
            iam.create_instance_profile(
                InstanceProfileName=host.instance_profile, Tags=plan.tag_list()
            )
        except ClientError as exc:
            if error_code(exc) != "EntityAlreadyExists":
                raise
        iam.get_waiter("instance_profile_exists").wait(InstanceProfileName=host.instance_profile)
        profile = _instance_profile(aws, host) or {}
        changed = True
    roles = [r["RoleName"] for r in profile.get("Roles", [])]
    for other in roles:
        if other != host.iam_role:
            iam.remove_role_from_instance_profile(
                InstanceProfileName=host.instance_profile, RoleName=other
            )
            changed = True
    if host.iam_role not in roles:
        iam.add_role_to_instance_profile(
            InstanceProfileName=host.instance_profile, RoleName=host.iam_role
        )
        changed = True
    return replace(describe_instance_profile(aws, plan, role), changed=changed)


def delete_instance_profile(aws: Aws, plan: StackPlan, role: str = "streamer") -> ResourceReport:
    host = plan.host(role)
    kind = f"{host.kind_prefix}instance_profile"
    profile = _instance_profile(aws, host)
    if profile is None:
        return ResourceReport(kind, host.instance_profile, ABSENT)
    iam = aws.client("iam")
    for member in profile.get("Roles", []):
        iam.remove_role_from_instance_profile(
            InstanceProfileName=host.instance_profile, RoleName=member["RoleName"]
        )
    iam.delete_instance_profile(InstanceProfileName=host.instance_profile)
    return ResourceReport(kind, host.instance_profile, ABSENT, changed=True)


def describe_firehose_role(aws: Aws, plan: StackPlan) -> ResourceReport:
    return describe_role(aws, "firehose_role", plan.firehose_role)


def describe_streamer_role(aws: Aws, plan: StackPlan) -> ResourceReport:
    return describe_role(aws, "streamer_role", plan.streamer_role)


def delete_firehose_role(aws: Aws, plan: StackPlan) -> ResourceReport:
    return delete_role(aws, "firehose_role", plan.firehose_role)


def delete_streamer_role(aws: Aws, plan: StackPlan) -> ResourceReport:
    return delete_role(aws, "streamer_role", plan.streamer_role)


def describe_triage_role(aws: Aws, plan: StackPlan) -> ResourceReport:
    return describe_role(aws, "triage_role", plan.triage_host.iam_role)


def delete_triage_role(aws: Aws, plan: StackPlan) -> ResourceReport:
    return delete_role(aws, "triage_role", plan.triage_host.iam_role)
