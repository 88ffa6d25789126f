"""Check every input before any resource is touched, and resolve the stack's plan.

Order matters: settings that need no network (region, CIDR, an explicit bucket name) fail
first; then one STS call proves the endpoint answers and the credentials are valid and gives
the account id the default bucket name needs. Each failure is one message naming the setting
and the fix.
"""

from __future__ import annotations

import ipaddress
import urllib.request
from pathlib import Path

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from tweet_triage.cloud.aws import Aws, CloudError, connect, error_code, error_message
from tweet_triage.cloud.plan import StackNames, StackPlan, bucket_name
from tweet_triage.config import Settings, SettingsError

CHECKIP_URL = "https://checkip.amazonaws.com"
# What the local stand-in's security group allows when OPERATOR_CIDR is unset: the stand-in
# runs on this machine, and asking the internet for our address would make tests depend on it.
LOCAL_OPERATOR_CIDR = "127.0.0.1/32"
_BAD_CREDENTIAL_CODES = {
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "AuthFailure",
    "AccessDenied",
    "InvalidAccessKeyId",
}


def preflight(
    settings: Settings, aws: Aws | None = None, *, detect_operator_cidr: bool = True
) -> StackPlan:
    """Validate settings, endpoint and credentials; return the plan. Touches no resource.

    `detect_operator_cidr=False` (status, destroy) skips resolving the operator's address.
    """
    settings.require("aws_region")
    operator_cidr = validated_operator_cidr(settings)
    key_path = private_key_path(settings)
    if settings.s3_bucket:
        bucket_name(settings, "")  # an explicit name is checked before any network call
    aws = aws or connect(settings)
    account_id, partition = _caller_identity(settings, aws)
    bucket = bucket_name(settings, account_id)
    if operator_cidr is None and detect_operator_cidr:
        operator_cidr = LOCAL_OPERATOR_CIDR if settings.uses_local_aws else detect_public_cidr()
    names = StackNames(settings.stack_name)
    return StackPlan(
        stack=settings.stack_name,
        region=aws.region,
        account_id=account_id,
        partition=partition,
        bucket=bucket,
        raw_prefix=settings.raw_prefix,
        error_prefix=settings.error_prefix,
        delivery_stream=names.delivery_stream,
        firehose_role=names.firehose_role,
        streamer_role=names.streamer,
        log_group=names.log_group,
        log_stream=names.log_stream,
        log_retention_days=settings.log_retention_days,
        buffer_mib=settings.firehose_buffer_mib,
        buffer_seconds=settings.firehose_buffer_seconds,
        compression=settings.firehose_compression,
        key_pair=names.streamer,
        key_path=key_path,
        security_group=names.streamer_security_group,
        instance_name=names.streamer,
        instance_type=settings.ec2_instance_type,
        operator_cidr=operator_cidr,
        triage_instance_type=settings.triage_instance_type,
        keep_bucket=settings.destroy_keep_bucket,
    )


def validated_operator_cidr(settings: Settings) -> str | None:
    """OPERATOR_CIDR as a network, None for 'detect my address'.

    The whole internet is always refused; anything wider than OPERATOR_CIDR_MIN_PREFIX (/16 by
    default, 32 bits more for IPv6) only with OPERATOR_CIDR_ALLOW_WIDE=true, so a typo such as
    0.0.0.0/1 cannot open SSH to half the internet.
    """
    if settings.operator_cidr is None:
        return None
    try:
        network = ipaddress.ip_network(settings.operator_cidr.strip(), strict=False)
    except ValueError as exc:
        raise SettingsError(
            f"OPERATOR_CIDR={settings.operator_cidr!r} is not a CIDR block; use e.g. 203.0.113.7/32"
        ) from exc
    if network.prefixlen == 0:
        raise SettingsError(
            f"OPERATOR_CIDR={settings.operator_cidr} would open SSH to the whole internet; "
            "set your own address, e.g. 203.0.113.7/32"
        )
    widest = settings.operator_cidr_min_prefix + (32 if network.version == 6 else 0)
    if network.prefixlen < widest and not settings.operator_cidr_allow_wide:
        raise SettingsError(
            f"OPERATOR_CIDR={settings.operator_cidr} opens SSH to {network.num_addresses:,} "
            f"addresses, wider than /{widest}: set your own address (e.g. 203.0.113.7/32), or "
            "set OPERATOR_CIDR_ALLOW_WIDE=true (or a smaller OPERATOR_CIDR_MIN_PREFIX) if you "
            "really mean it"
        )
    return str(network)


def private_key_path(settings: Settings) -> Path:
    """Where the stack's private key goes; the local stand-in's keys stay in the state folder.

    A local stack shares its name with a real one, so a local destroy must never be able to
    delete the real stack's key in ~/.ssh: SSH_KEY_PATH there is refused for the stand-in.
    """
    ssh_dir = (Path.home() / ".ssh").resolve()
    if not settings.uses_local_aws:
        return (settings.ssh_key_path or ssh_dir / f"{settings.stack_name}.pem").expanduser()
    if settings.ssh_key_path is None:
        return settings.state_dir.resolve() / "keys" / f"{settings.stack_name}.pem"
    path = settings.ssh_key_path.expanduser().resolve()
    if path.is_relative_to(ssh_dir):
        raise SettingsError(
            f"SSH_KEY_PATH={settings.ssh_key_path} is in ~/.ssh, but TT_DEPLOYMENT=local "
            "(the local stand-in): unset SSH_KEY_PATH so the local key goes to the state "
            "folder, or point it outside ~/.ssh"
        )
    return path


def _caller_identity(settings: Settings, aws: Aws) -> tuple[str, str]:
    """Account id and partition of the caller; the one call that proves endpoint and keys."""
    try:
        identity = aws.client("sts", probe=True).get_caller_identity()
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        if settings.aws_endpoint_url:
            raise CloudError(
                f"cannot reach AWS_ENDPOINT_URL={settings.aws_endpoint_url}: start the local "
                "stand-in (make -f Makefile-stream local-aws-up) or unset AWS_ENDPOINT_URL "
                "to use AWS"
            ) from exc
        raise CloudError(
            f"cannot reach AWS in AWS_REGION={settings.aws_region}: check the network and "
            "AWS_REGION"
        ) from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise CloudError(
            f"no usable AWS credentials ({exc}): set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in .env or the environment"
        ) from exc
    except ClientError as exc:
        if error_code(exc) in _BAD_CREDENTIAL_CODES:
            raise CloudError(
                f"AWS rejected the credentials ({error_code(exc)}: {error_message(exc)}): "
                "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN "
                "(or AWS_PROFILE)"
            ) from exc
        raise CloudError(
            f"AWS refused sts:GetCallerIdentity ({error_code(exc)}: {error_message(exc)}) "
            "before any resource was touched: check AWS_REGION, the credentials and their "
            "permissions"
        ) from exc
    except BotoCoreError as exc:
        raise CloudError(
            f"AWS call failed before any resource was touched ({exc}); check AWS_REGION, "
            "AWS_ENDPOINT_URL and the credentials"
        ) from exc
    partition = str(identity["Arn"]).split(":")[1]
    return str(identity["Account"]), partition


def detect_public_cidr(url: str = CHECKIP_URL, timeout: float = 5.0) -> str:
    """This machine's public address as a single-host CIDR, as AWS sees it."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text = response.read(64).decode("ascii", "replace").strip()
        address = ipaddress.ip_address(text)
    except (OSError, ValueError) as exc:
        raise CloudError(
            f"could not detect your public address from {url} ({exc}): set OPERATOR_CIDR "
            "to your address, e.g. 203.0.113.7/32"
        ) from exc
    return f"{address}/{address.max_prefixlen}"
