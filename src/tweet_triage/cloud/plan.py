"""The stack's resource names, ARNs and tags: settings plus what only AWS knows (account id).

`StackNames` derives every resource name from STACK_NAME and `bucket_name` the bucket's, so the
streamer, the data sync and the stack agree. `preflight()` builds a `StackPlan` after checking
every input; every ensure/delete function and the Ansible playbooks work from it, so names and
ARNs are computed in exactly one place.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tweet_triage.config import Settings, SettingsError

PROJECT_TAG = "tweet-triage"
# Amazon Linux 2023, x86_64, default kernel: the public parameter AWS keeps current per region.
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
_BUCKET_RE = re.compile(
    r"^(?!xn--)(?!.*\.\.)(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
)


@dataclass(frozen=True)
class StackNames:
    """The name of every resource of one stack, derived from its name (STACK_NAME)."""

    stack: str

    @property
    def delivery_stream(self) -> str:
        return f"{self.stack}-tweets"

    @property
    def firehose_role(self) -> str:
        return f"{self.stack}-firehose"

    @property
    def log_group(self) -> str:
        return f"/aws/kinesisfirehose/{self.delivery_stream}"

    @property
    def log_stream(self) -> str:
        return "DestinationDelivery"

    @property
    def streamer(self) -> str:
        """The streamer's instance, IAM role (and instance profile) and key pair."""
        return f"{self.stack}-streamer"

    @property
    def streamer_security_group(self) -> str:
        return f"{self.stack}-streamer-ssh"

    @property
    def triage(self) -> str:
        """The triage host's instance and IAM role (and instance profile)."""
        return f"{self.stack}-triage"

    @property
    def triage_security_group(self) -> str:
        return f"{self.stack}-triage-ssh"


def bucket_name(settings: Settings, account_id: str) -> str:
    """S3_BUCKET, else `<stack>-<account id>-<region>`; refused unless S3 accepts the name."""
    name = settings.s3_bucket or f"{settings.stack_name}-{account_id}-{settings.aws_region}"
    if not _BUCKET_RE.fullmatch(name):
        raise SettingsError(
            f"S3_BUCKET={name!r} is not a valid S3 bucket name: 3-63 lowercase letters, "
            "digits, '.' and '-', starting and ending with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Host:
    """One EC2 host of the stack: its instance, SSH security group and role (= its profile).

    `role` is the instance's Role tag (the inventory groups on it); `kind_prefix` names its
    resources in reports ("" for the streamer, whose kinds predate the triage host).
    """

    role: str
    kind_prefix: str
    instance_name: str
    instance_type: str
    security_group: str
    iam_role: str

    @property
    def instance_profile(self) -> str:
        return self.iam_role


@dataclass(frozen=True)
class StackPlan:
    """Everything needed to create, inspect or destroy one stack in one account and region."""

    stack: str
    region: str
    account_id: str
    partition: str
    bucket: str
    raw_prefix: str
    error_prefix: str
    delivery_stream: str
    firehose_role: str
    streamer_role: str
    log_group: str
    log_stream: str
    log_retention_days: int
    buffer_mib: int
    buffer_seconds: int
    compression: str
    key_pair: str
    key_path: Path
    security_group: str
    instance_name: str
    instance_type: str
    operator_cidr: str | None
    triage_instance_type: str = "m7i.large"
    keep_bucket: bool = False

    # --- tags -------------------------------------------------------------------------------
    @property
    def tags(self) -> dict[str, str]:
        """Tags on every resource: the stack tag is what inventory and destroy checks key on."""
        return {"Stack": self.stack, "Project": PROJECT_TAG}

    def instance_tags(self, host: Host) -> dict[str, str]:
        return {**self.tags, "Role": host.role, "Name": host.instance_name}

    def tag_list(self, extra: dict[str, str] | None = None) -> list[dict[str, str]]:
        """Tags in the [{'Key': ..., 'Value': ...}] shape most AWS APIs take."""
        return [{"Key": k, "Value": v} for k, v in {**self.tags, **(extra or {})}.items()]

    # --- names derived from the others ----------------------------------------------------
    @property
    def instance_profile(self) -> str:
        return self.streamer_role

    @property
    def streamer_host(self) -> Host:
        return Host(
            role="streamer",
            kind_prefix="",
            instance_name=self.instance_name,
            instance_type=self.instance_type,
            security_group=self.security_group,
            iam_role=self.streamer_role,
        )

    @property
    def triage_host(self) -> Host:
        """Scorer, sync follower and inbox (playbooks/triage.yml): reads the raw prefix only."""
        names = StackNames(self.stack)
        return Host(
            role="triage",
            kind_prefix="triage_",
            instance_name=names.triage,
            instance_type=self.triage_instance_type,
            security_group=names.triage_security_group,
            iam_role=names.triage,
        )

    def host(self, role: str) -> Host:
        return {"streamer": self.streamer_host, "triage": self.triage_host}[role]

    # --- ARNs ---------------------------------------------------------------------------------
    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}"

    @property
    def delivery_stream_arn(self) -> str:
        return (
            f"arn:{self.partition}:firehose:{self.region}:{self.account_id}:"
            f"deliverystream/{self.delivery_stream}"
        )

    @property
    def log_group_arn(self) -> str:
        return (
            f"arn:{self.partition}:logs:{self.region}:{self.account_id}:log-group:{self.log_group}"
        )

    @property
    def log_stream_arn(self) -> str:
        return f"{self.log_group_arn}:log-stream:{self.log_stream}"

    def role_arn(self, role_name: str) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:role/{role_name}"

    def as_dict(self) -> dict[str, Any]:
        """Plain values plus the derived ones, for the Ansible module and JSON output."""
        values = asdict(self)
        values["key_path"] = str(self.key_path)
        values.update(
            tags=self.tags,
            instance_tags=self.instance_tags(self.streamer_host),
            instance_profile=self.instance_profile,
            triage_host={**asdict(self.triage_host), "tags": self.instance_tags(self.triage_host)},
            bucket_arn=self.bucket_arn,
            delivery_stream_arn=self.delivery_stream_arn,
            log_group_arn=self.log_group_arn,
            firehose_role_arn=self.role_arn(self.firehose_role),
            streamer_role_arn=self.role_arn(self.streamer_role),
            triage_role_arn=self.role_arn(self.triage_host.iam_role),
            ami_parameter=AMI_PARAMETER,
        )
        return values
