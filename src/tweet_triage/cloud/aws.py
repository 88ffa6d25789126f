"""boto3 access for the stack: one session, clients with standard retries, typed errors.

The endpoint comes from the settings (`AWS_ENDPOINT_URL`, which botocore also honours on its
own): set, every client talks to the local stand-in; unset, to AWS. Nothing here branches on
which one it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from tweet_triage.config import Settings
from tweet_triage.errors import TriageError


class CloudError(TriageError):
    """An AWS call failed in a way the user can fix; the message names the input and the fix."""


# Standard retry mode retries throttling and transient errors with jittered backoff.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=5)
# The preflight probe answers "is the endpoint there at all?" quickly instead of retrying.
_PROBE_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=3)


@dataclass
class Aws:
    """A boto3 session for the stack's region with cached clients."""

    session: boto3.Session
    endpoint_url: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def region(self) -> str:
        return str(self.session.region_name)

    def client(self, service: str, *, probe: bool = False) -> Any:
        """A cached client; `probe=True` gives one that fails fast on connection errors."""
        key = f"{service}/probe" if probe else service
        if key not in self._clients:
            self._clients[key] = self.session.client(
                service,  # type: ignore[call-overload]
                endpoint_url=self.endpoint_url,
                config=_PROBE_CONFIG if probe else _CLIENT_CONFIG,
            )
        return self._clients[key]


def connect(settings: Settings) -> Aws:
    """A session from the settings; without keys in the settings boto3's own chain applies."""
    credentials: dict[str, str] = {}
    for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
        secret = getattr(settings, name)
        if secret is not None and secret.get_secret_value():
            credentials[name] = secret.get_secret_value()
    session = boto3.Session(region_name=settings.aws_region, **credentials)
    return Aws(session=session, endpoint_url=settings.aws_endpoint_url or None)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


def is_not_found(exc: ClientError) -> bool:
    """True for the many ways AWS services say 'no such resource'."""
    code = error_code(exc)
    return (
        code in {"404", "NoSuchEntity", "NoSuchBucket", "ResourceNotFoundException"}
        or code.endswith(".NotFound")
        or code.endswith("NotFound")
    )
