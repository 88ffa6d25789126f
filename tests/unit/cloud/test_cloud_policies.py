"""The stack's IAM and bucket policies grant the least that works, and only to this stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tweet_triage.cloud import policies
from tweet_triage.cloud.plan import StackPlan


@pytest.fixture
def plan() -> StackPlan:
    return StackPlan(
        stack="demo-stack",
        region="eu-west-1",
        account_id="111122223333",
        partition="aws",
        bucket="demo-bucket-111122223333",
        raw_prefix="raw/",
        error_prefix="errors/",
        delivery_stream="demo-stack-tweets",
        firehose_role="demo-stack-firehose",
        streamer_role="demo-stack-streamer",
        log_group="/aws/kinesisfirehose/demo-stack-tweets",
        log_stream="DestinationDelivery",
        log_retention_days=14,
        buffer_mib=5,
        buffer_seconds=60,
        compression="GZIP",
        key_pair="demo-stack-streamer",
        key_path=Path("/tmp/demo.pem"),
        security_group="demo-stack-streamer-ssh",
        instance_name="demo-stack-streamer",
        instance_type="t3.micro",
        operator_cidr="198.51.100.7/32",
    )


def _granted(policy: dict[str, Any]) -> set[tuple[str, str]]:
    pairs = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] in {"Allow", "Deny"}
        if statement["Effect"] != "Allow":
            continue
        actions = statement["Action"]
        resources = statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            for resource in [resources] if isinstance(resources, str) else resources:
                pairs.add((action, resource))
    return pairs


def test_firehose_policy_grants_only_its_prefixes_and_log_stream(plan: StackPlan) -> None:
    granted = _granted(policies.firehose_inline_policy(plan))
    assert all("*" not in action for action, _ in granted)
    assert all(resource != "*" for _, resource in granted)
    bucket = "arn:aws:s3:::demo-bucket-111122223333"
    log_stream = (
        "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/kinesisfirehose/"
        "demo-stack-tweets:log-stream:DestinationDelivery"
    )
    assert {resource for _, resource in granted} == {
        bucket,
        f"{bucket}/raw/*",
        f"{bucket}/errors/*",
        log_stream,
    }
    # Object writes only under the two prefixes, never the whole bucket.
    assert ("s3:PutObject", f"{bucket}/*") not in granted
    assert ("s3:PutObject", f"{bucket}/raw/*") in granted
    assert {a for a, r in granted if r == log_stream} == {"logs:PutLogEvents"}
    # Nothing Kinesis-stream related: Firehose reads no stream.
    assert not any(action.startswith("kinesis:") for action, _ in granted)


def test_firehose_trust_is_limited_to_firehose_for_this_account(plan: StackPlan) -> None:
    (statement,) = policies.firehose_trust_policy(plan)["Statement"]
    assert statement["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "111122223333"}}


def test_streamer_may_only_put_into_its_delivery_stream(plan: StackPlan) -> None:
    granted = _granted(policies.streamer_inline_policy(plan))
    stream = "arn:aws:firehose:eu-west-1:111122223333:deliverystream/demo-stack-tweets"
    assert granted == {
        ("firehose:PutRecord", stream),
        ("firehose:PutRecordBatch", stream),
        ("firehose:DescribeDeliveryStream", stream),
    }
    (trust,) = policies.instance_trust_policy(plan)["Statement"]
    assert trust["Principal"] == {"Service": "ec2.amazonaws.com"}


def test_triage_host_may_only_list_and_read_the_raw_prefix(plan: StackPlan) -> None:
    policy = policies.triage_inline_policy(plan)
    bucket = "arn:aws:s3:::demo-bucket-111122223333"
    assert _granted(policy) == {("s3:ListBucket", bucket), ("s3:GetObject", f"{bucket}/raw/*")}
    listing = next(s for s in policy["Statement"] if s["Action"] == ["s3:ListBucket"])
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["raw/*"]}}
    assert plan.triage_host.iam_role == "demo-stack-triage"
    assert plan.instance_tags(plan.triage_host)["Role"] == "triage"


def test_bucket_policy_only_denies_requests_without_tls(plan: StackPlan) -> None:
    policy = policies.bucket_policy(plan)
    assert _granted(policy) == set()
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(statement["Resource"]) == {
        "arn:aws:s3:::demo-bucket-111122223333",
        "arn:aws:s3:::demo-bucket-111122223333/*",
    }


def test_plan_arns_follow_the_partition(plan: StackPlan) -> None:
    china = StackPlan(**{**plan.__dict__, "partition": "aws-cn", "region": "cn-north-1"})
    assert china.bucket_arn == "arn:aws-cn:s3:::demo-bucket-111122223333"
    assert china.role_arn("r") == "arn:aws-cn:iam::111122223333:role/r"
    assert china.delivery_stream_arn.startswith("arn:aws-cn:firehose:cn-north-1:")
