"""EC2: per host (streamer, triage) an SSH security group and an instance; one key pair.

Each function takes the host's `role`; `StackPlan.host(role)` names its resources.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tweet_triage.cloud.aws import Aws, CloudError, error_code, error_message, is_not_found
from tweet_triage.cloud.plan import AMI_PARAMETER, Host, StackPlan
from tweet_triage.cloud.report import ABSENT, ResourceReport
from tweet_triage.cloud.resources.common import PRESENT, missing_tags, tags_dict
from tweet_triage.private_files import write_private
from tweet_triage.retry import retry_while

log = logging.getLogger(__name__)
LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped"]


def default_vpc_id(aws: Aws, plan: StackPlan) -> str:
    vpcs = aws.client("ec2").describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])
    if not vpcs["Vpcs"]:
        raise CloudError(
            f"no default VPC in AWS_REGION={plan.region}: create one with "
            "`aws ec2 create-default-vpc` or pick another region"
        )
    return str(vpcs["Vpcs"][0]["VpcId"])


def _security_group(aws: Aws, plan: StackPlan, host: Host) -> dict[str, Any] | None:
    groups = aws.client("ec2").describe_security_groups(
        Filters=[
            {"Name": "group-name", "Values": [host.security_group]},
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


def describe_security_group(aws: Aws, plan: StackPlan, role: str = "streamer") -> ResourceReport:
    host = plan.host(role)
    kind = f"{host.kind_prefix}security_group"
    group = _security_group(aws, plan, host)
    if group is None:
        return ResourceReport(kind, host.security_group, ABSENT)
    ssh_from = sorted(k[3] for k in _rule_keys(group.get("IpPermissions", [])))
    return ResourceReport(
        kind,
        host.security_group,
        PRESENT,
        id=group["GroupId"],
        details={"vpc": group["VpcId"], "ssh_from": ssh_from},
    )


def ensure_security_group(aws: Aws, plan: StackPlan, role: str = "streamer") -> ResourceReport:
    """SSH (tcp/22) from the operator CIDR only, in the default VPC; other ingress is revoked."""
    host = plan.host(role)
    if not plan.operator_cidr:
        raise CloudError("the security group needs OPERATOR_CIDR (e.g. 203.0.113.7/32)")
    ec2 = aws.client("ec2")
    changed = False
    group = _security_group(aws, plan, host)
    if group is None:
        created = ec2.create_security_group(
            GroupName=host.security_group,
            Description=f"SSH to the {plan.stack} {host.role} from the operator only",
            VpcId=default_vpc_id(aws, plan),
            TagSpecifications=[{"ResourceType": "security-group", "Tags": plan.tag_list()}],
        )
        ec2.get_waiter("security_group_exists").wait(GroupIds=[created["GroupId"]])
        group = _security_group(aws, plan, host) or {}
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
    if missing_tags(tags_dict(group.get("Tags")), plan.tags):
        ec2.create_tags(Resources=[group["GroupId"]], Tags=plan.tag_list())
        changed = True
    return replace(describe_security_group(aws, plan, role), changed=changed)


def delete_security_group(aws: Aws, plan: StackPlan, role: str = "streamer") -> ResourceReport:
    host = plan.host(role)
    kind = f"{host.kind_prefix}security_group"
    group = _security_group(aws, plan, host)
    if group is None:
        return ResourceReport(kind, host.security_group, ABSENT)
    retry_while(  # a terminated instance's network interface takes a moment to be released
        lambda: aws.client("ec2").delete_security_group(GroupId=group["GroupId"]),
        lambda exc: error_code(exc) == "DependencyViolation",
        f"delete security group {host.security_group}",
    )
    return ResourceReport(kind, host.security_group, ABSENT, changed=True)


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
    """Create the key file 0600 (never readable by others, not even briefly)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(path, material if material.endswith("\n") else material + "\n")


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
        if _instances(aws, plan, plan.streamer_host) or _instances(aws, plan, plan.triage_host):
            raise CloudError(
                f"key pair {plan.key_pair} exists but its private key {plan.key_path} is "
                "missing and an instance was launched with it: restore the file (or set "
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
        aws.local_change(f"delete {plan.key_path}")
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


def _instances(aws: Aws, plan: StackPlan, host: Host) -> list[dict[str, Any]]:
    """The stack's instances of this host that are not terminated (or terminating)."""
    reservations = aws.client("ec2").describe_instances(
        Filters=[
            {"Name": "tag:Stack", "Values": [plan.stack]},
            {"Name": "tag:Role", "Values": [host.role]},
            {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES},
        ]
    )["Reservations"]
    return [dict(i) for r in reservations for i in r["Instances"]]


def _instance_report(instance: dict[str, Any] | None, host: Host) -> ResourceReport:
    kind = f"{host.kind_prefix}instance"
    if instance is None:
        return ResourceReport(kind, host.instance_name, ABSENT)
    return ResourceReport(
        kind,
        host.instance_name,
        str(instance["State"]["Name"]),
        id=instance["InstanceId"],
        details={
            "public_dns": instance.get("PublicDnsName") or None,
            "public_ip": instance.get("PublicIpAddress"),
            "image_id": instance.get("ImageId"),
            "instance_type": instance.get("InstanceType"),
            "instance_profile": instance.get("IamInstanceProfile", {}).get("Arn"),
            "metadata_tokens": instance.get("MetadataOptions", {}).get("HttpTokens"),
        },
    )


def describe_instance(aws: Aws, plan: StackPlan, role: str = "streamer") -> ResourceReport:
    host = plan.host(role)
    instances = _instances(aws, plan, host)
    return _instance_report(instances[0] if instances else None, host)


def _describe_by_id(aws: Aws, instance_id: str) -> dict[str, Any]:
    response = aws.client("ec2").describe_instances(InstanceIds=[instance_id])
    return dict(response["Reservations"][0]["Instances"][0])


def _encrypted_root(aws: Aws, image_id: str) -> dict[str, Any]:
    """The launch's root volume mapping: the AMI's device and size, encrypted."""
    images = aws.client("ec2").describe_images(ImageIds=[image_id])["Images"]
    if not images:
        raise CloudError(f"AMI {image_id} from {AMI_PARAMETER} is not visible in this region")
    image = images[0]
    device = str(image.get("RootDeviceName") or "/dev/xvda")
    size = next(
        (
            m["Ebs"].get("VolumeSize")
            for m in image.get("BlockDeviceMappings", [])
            if m.get("DeviceName") == device and "Ebs" in m
        ),
        None,
    )
    return {
        "DeviceName": device,
        "Ebs": {
            "Encrypted": True,
            "DeleteOnTermination": True,
            "VolumeType": "gp3",
            "VolumeSize": int(size or 8),  # AL2023's root snapshot is 8 GiB
        },
    }


def _root_volume_encrypted(aws: Aws, instance: dict[str, Any]) -> bool:
    root = instance.get("RootDeviceName")
    volume_ids = [
        m["Ebs"]["VolumeId"]
        for m in instance.get("BlockDeviceMappings", [])
        if m.get("DeviceName") == root and "Ebs" in m
    ]
    if not volume_ids:
        return True  # instance-store root: nothing on EBS to encrypt
    volumes = aws.client("ec2").describe_volumes(VolumeIds=volume_ids)["Volumes"]
    return all(v.get("Encrypted") for v in volumes)


def _profile_not_visible_yet(exc: ClientError) -> bool:
    message = error_message(exc).lower()
    return error_code(exc) == "InvalidParameterValue" and "instance profile" in message


def ensure_instance(
    aws: Aws, plan: StackPlan, security_group_id: str, role: str = "streamer"
) -> ResourceReport:
    """One running instance of the host (latest AL2023, instance profile, IMDSv2 only)."""
    host = plan.host(role)
    ec2 = aws.client("ec2")
    instances = _instances(aws, plan, host)
    if len(instances) > 1:
        ids = ", ".join(i["InstanceId"] for i in instances)
        raise CloudError(
            f"more than one {host.role} instance is tagged Stack={plan.stack}: {ids}; terminate "
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
        if instance.get("MetadataOptions", {}).get("HttpTokens") != "required":
            ec2.modify_instance_metadata_options(  # IMDSv2 only, also on an adopted instance
                InstanceId=instance["InstanceId"], HttpTokens="required", HttpEndpoint="enabled"
            )
            changed = True
        if not _root_volume_encrypted(aws, instance):
            log.warning(
                "instance %s has an unencrypted root volume (launched outside aws-create?): "
                "run aws-destroy, then aws-create, to replace it with an encrypted one",
                instance["InstanceId"],
            )
        if not instance.get("IamInstanceProfile"):
            ec2.associate_iam_instance_profile(
                IamInstanceProfile={"Name": host.instance_profile},
                InstanceId=instance["InstanceId"],
            )
            changed = True
        instance_id = instance["InstanceId"]
    else:
        image_id = latest_ami(aws, plan)
        root_volume = _encrypted_root(aws, image_id)
        launched = retry_while(
            lambda: ec2.run_instances(
                ImageId=image_id,
                InstanceType=host.instance_type,
                KeyName=plan.key_pair,
                SecurityGroupIds=[security_group_id],
                IamInstanceProfile={"Name": host.instance_profile},
                MinCount=1,
                MaxCount=1,
                MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
                BlockDeviceMappings=[root_volume],
                TagSpecifications=[
                    {"ResourceType": "instance", "Tags": plan.tag_list(plan.instance_tags(host))},
                    {"ResourceType": "volume", "Tags": plan.tag_list()},
                ],
            ),
            _profile_not_visible_yet,
            f"launch {host.instance_name}",
        )
        instance_id = launched["Instances"][0]["InstanceId"]
        changed = True
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id])
    return replace(_instance_report(_describe_by_id(aws, instance_id), host), changed=changed)


def delete_instance(aws: Aws, plan: StackPlan, role: str = "streamer") -> ResourceReport:
    """Terminate every instance of the host and wait until they are terminated."""
    host = plan.host(role)
    ids = [i["InstanceId"] for i in _instances(aws, plan, host)]
    if not ids:
        return ResourceReport(f"{host.kind_prefix}instance", host.instance_name, ABSENT)
    ec2 = aws.client("ec2")
    ec2.terminate_instances(InstanceIds=ids)
    ec2.get_waiter("instance_terminated").wait(InstanceIds=ids)
    return ResourceReport(
        f"{host.kind_prefix}instance", host.instance_name, ABSENT, changed=True, id=",".join(ids)
    )
