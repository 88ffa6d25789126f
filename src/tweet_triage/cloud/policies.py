"""IAM and bucket policy documents of the stack, least privilege, built from the plan.

No statement that allows anything uses a `*` action or a bare `*` resource: Firehose may only
write its bucket's raw and error prefixes and its one log stream; the streamer host may only
put records into its one delivery stream.
"""

from __future__ import annotations

from typing import Any

from tweet_triage.cloud.plan import StackPlan

Policy = dict[str, Any]

FIREHOSE_POLICY_NAME = "firehose-delivery"
STREAMER_POLICY_NAME = "put-records"
TRIAGE_POLICY_NAME = "read-raw"


def firehose_trust_policy(plan: StackPlan) -> Policy:
    """Only Firehose, and only on behalf of this account (confused-deputy guard)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "firehose.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": plan.account_id}},
            }
        ],
    }


def firehose_inline_policy(plan: StackPlan) -> Policy:
    """Write objects under the raw and error prefixes, list the bucket, log to one stream."""
    object_arns = [
        f"{plan.bucket_arn}/{plan.raw_prefix}*",
        f"{plan.bucket_arn}/{plan.error_prefix}*",
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "BucketLevel",
                "Effect": "Allow",
                "Action": [
                    "s3:GetBucketLocation",
                    "s3:ListBucket",
                    "s3:ListBucketMultipartUploads",
                ],
                "Resource": [plan.bucket_arn],
            },
            {
                "Sid": "ObjectsUnderPrefixes",
                "Effect": "Allow",
                "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                "Resource": object_arns,
            },
            {
                "Sid": "DeliveryErrorLog",
                "Effect": "Allow",
                "Action": ["logs:PutLogEvents"],
                "Resource": [plan.log_stream_arn],
            },
        ],
    }


def instance_trust_policy(plan: StackPlan) -> Policy:
    """EC2 assumes a host's role for its instance profile; nothing else may."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def streamer_inline_policy(plan: StackPlan) -> Policy:
    """The streamer host may only put records into (and describe) its delivery stream."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PutIntoDeliveryStream",
                "Effect": "Allow",
                "Action": [
                    "firehose:DescribeDeliveryStream",
                    "firehose:PutRecord",
                    "firehose:PutRecordBatch",
                ],
                "Resource": [plan.delivery_stream_arn],
            }
        ],
    }


def triage_inline_policy(plan: StackPlan) -> Policy:
    """The triage host may only list and read the raw prefix (the scorer's input)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListRawPrefix",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [plan.bucket_arn],
                "Condition": {"StringLike": {"s3:prefix": [f"{plan.raw_prefix}*"]}},
            },
            {
                "Sid": "ReadRawObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{plan.bucket_arn}/{plan.raw_prefix}*"],
            },
        ],
    }


def bucket_policy(plan: StackPlan) -> Policy:
    """Deny every request that does not use TLS (the only Deny; it grants nothing)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [plan.bucket_arn, f"{plan.bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
