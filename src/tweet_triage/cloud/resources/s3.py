"""The S3 bucket: public access blocked, default encryption, TLS-only policy, tags."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from tweet_triage.cloud import policies
from tweet_triage.cloud.aws import Aws, CloudError, error_code
from tweet_triage.cloud.plan import StackPlan
from tweet_triage.cloud.report import ABSENT, ResourceReport
from tweet_triage.cloud.resources.common import (
    PRESENT,
    missing_tags,
    normalised,
    same_policy,
    tags_dict,
)


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
        return tags_dict(aws.client("s3").get_bucket_tagging(Bucket=bucket)["TagSet"])
    except ClientError as exc:
        if error_code(exc) == "NoSuchTagSet":
            return {}
        raise


def _tls_only(policy: dict[str, Any] | None) -> bool:
    if policy is None:
        return False
    return any(
        s.get("Effect") == "Deny"
        and normalised(s.get("Condition")) == {"Bool": {"aws:SecureTransport": "false"}}
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
    if missing_tags(current_tags, plan.tags):
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
