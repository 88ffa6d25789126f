"""boto3 access for the whole project: one session factory, typed errors, a check mode.

Region, endpoint and credentials come from the one settings object (`AWS_ENDPOINT_URL` set:
the local stand-in; unset: AWS). Every boto3 client of the project is made here, by
`connect(settings).client(...)` or `aws_client(settings, service)`, so none of them falls back
to botocore guessing a region. An `AWS_PROFILE` naming no profile is one clear error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ProfileNotFound

from tweet_triage.config import Settings
from tweet_triage.errors import TriageError


class CloudError(TriageError):
    """An AWS call failed in a way the user can fix; the message names the input and the fix."""


class WouldChange(Exception):
    """Check mode: the first call that would modify AWS (or a local key file) stops the step."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


# Standard retry mode retries throttling and transient errors with jittered backoff.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=5)
# The preflight probe answers "is the endpoint there at all?" quickly instead of retrying.
_PROBE_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=3)
# Operations that only read: everything else is a change, refused in check mode.
_READ_PREFIXES = ("describe_", "get_", "list_", "head_", "can_paginate")


class _ReadOnlyClient:
    """A client whose reads go through and whose first write raises `WouldChange`."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name.startswith(_READ_PREFIXES) or name in {"meta", "exceptions"}:
            return attribute
        service = self._client.meta.service_model.service_name

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise WouldChange(f"{service}:{name}")

        return refuse


@dataclass
class Aws:
    """A boto3 session for the stack's region with cached clients.

    `check_mode=True` (Ansible's --check) makes every client read-only: a step runs until its
    first change and stops there with `WouldChange`, so nothing is ever modified.
    """

    session: boto3.Session
    endpoint_url: str | None = None
    check_mode: bool = False
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def region(self) -> str:
        return str(self.session.region_name)

    def client(self, service: str, *, probe: bool = False) -> Any:
        """A cached client; `probe=True` gives one that fails fast on connection errors."""
        key = f"{service}/probe" if probe else service
        if key not in self._clients:
            client = self.session.client(
                service,  # type: ignore[call-overload]
                endpoint_url=self.endpoint_url,
                config=_PROBE_CONFIG if probe else _CLIENT_CONFIG,
            )
            self._clients[key] = _ReadOnlyClient(client) if self.check_mode else client
        return self._clients[key]

    def local_change(self, what: str) -> None:
        """Call before changing a local file that belongs to the stack (the private key)."""
        if self.check_mode:
            raise WouldChange(what)


def session(settings: Settings) -> boto3.Session:
    """A session for the settings' region; without keys in the settings boto3's chain applies."""
    credentials: dict[str, str] = {}
    for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
        secret = getattr(settings, name)
        if secret is not None and secret.get_secret_value():
            credentials[name] = secret.get_secret_value()
    try:
        return boto3.Session(region_name=settings.aws_region, **credentials)
    except ProfileNotFound as exc:
        raise CloudError(
            f"AWS_PROFILE={exc.kwargs.get('profile')} names no profile in ~/.aws/config or "
            "~/.aws/credentials: set AWS_PROFILE to an existing profile (aws configure list-"
            "profiles) or unset it"
        ) from exc


def connect(settings: Settings, *, check_mode: bool = False) -> Aws:
    """The stack's AWS access from the settings (region, endpoint, credentials)."""
    return Aws(
        session=session(settings),
        endpoint_url=settings.aws_endpoint_url or None,
        check_mode=check_mode,
    )


def aws_client(settings: Settings, service: str, config: Config | None = None) -> Any:
    """One boto3 client with the settings' region and endpoint (other stages use this)."""
    settings.require("aws_region")
    return session(settings).client(
        service,  # type: ignore[call-overload]
        endpoint_url=settings.aws_endpoint_url or None,
        config=config or _CLIENT_CONFIG,
    )


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
