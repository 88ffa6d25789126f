"""moto server, plus the one piece of S3 policy evaluation the stack needs and moto lacks.

The stack's bucket policy denies every request made without TLS (`Bool` condition on
`aws:SecureTransport`). moto skips condition operators it does not implement, `Bool` among
them, and so applies that Deny to *every* object request: nothing could read or write the
bucket. The stand-in is reached on loopback in place of AWS's TLS endpoints, so it evaluates
`aws:SecureTransport` as true, exactly what real S3 does for the HTTPS clients the stack has.
Statements with any other condition keep moto's own handling.

Run as `python -m tweet_triage_local.moto_server [moto server args]`; unit tests that put the
stack's bucket policy under `mock_aws` call `evaluate_secure_transport(monkeypatch.setattr)`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.s3.models import FakeBucket

SECURE_TRANSPORT = "aws:SecureTransport"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _secure_transport_only(condition: Any) -> str | None:
    """The expected value if the condition is exactly one Bool test of aws:SecureTransport."""
    if isinstance(condition, dict) and list(condition) == ["Bool"]:
        tests = condition["Bool"]
        if isinstance(tests, dict) and list(tests) == [SECURE_TRANSPORT]:
            (expected,) = _as_list(tests[SECURE_TRANSPORT])
            return str(expected).lower()
    return None


def _statements_over_tls(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements that apply to a request made over TLS, that condition resolved."""
    applicable = []
    for statement in _as_list(policy.get("Statement", [])):
        expected = _secure_transport_only(statement.get("Condition"))
        if expected is None:
            applicable.append(statement)
        elif expected == "true":
            applicable.append({k: v for k, v in statement.items() if k != "Condition"})
    return applicable


def _get_permission(bucket: FakeBucket, action: str, resource: str) -> PermissionResult:
    if bucket.policy is None:
        return PermissionResult.NEUTRAL
    policy = json.loads(bucket.policy.decode())
    statements = _statements_over_tls(policy)
    if not statements:
        return PermissionResult.NEUTRAL
    resolved = json.dumps({**policy, "Statement": statements})
    return IAMPolicy(resolved).is_action_permitted(action, resource)


def evaluate_secure_transport(setattr_: Callable[[Any, str, Any], None] = setattr) -> None:
    """Install the evaluation (`setattr_` lets tests undo it, e.g. monkeypatch.setattr)."""
    setattr_(FakeBucket, "get_permission", _get_permission)


def main(argv: list[str]) -> None:
    from moto.server import main as moto_main

    evaluate_secure_transport()
    moto_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
