"""The settings file a host role gets: resolved and validated on the controller first, so
a missing X token or region stops the play before anything is installed.

On EC2 the host reaches AWS through its instance profile, so AWS keys are never written
there; for the local host the stand-in's endpoint and dummy keys are passed on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tweet_triage.config import Settings, SettingsError
from tweet_triage.errors import TriageError
from tweet_triage.profile import load_profile, profile_path

AwsCredentials = Literal["instance-profile", "forward"]
_FORWARDED_AWS = (
    "aws_endpoint_url",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
)


class HostRoleError(TriageError):
    """A role's host settings cannot be made; the message names the cause and the fix."""


@dataclass(frozen=True)
class HostRole:
    """The settings a host role reads; everything else (local ports, controller paths) stays
    on the controller.

    `required` must be set and non-empty; `optional` go when set; every setting named
    `<prefix>...` goes too, except `controller_only` (controller paths and choices the role
    makes itself). `services` are URLs of servers the host must reach: passed on unless they
    name a file on the controller (SQLite, file:), in which case the host keeps its own in
    its state folder. `state_paths` are folder settings put under the host's state folder.
    """

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    prefix: str = ""
    controller_only: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    state_paths: tuple[str, ...] = ()


HOST_ROLES = {
    "streamer": HostRole(
        required=("aws_region", "stack_name", "x_bearer_token", "x_api_base_url"),
        optional=("s3_bucket", "raw_prefix"),
        prefix="stream_",
        controller_only=(
            "stream_spool_dir",
            "stream_dead_letter_path",
            "stream_stats_file",
            "stream_log_file",
        ),
    ),
    # Follower, scorer, outbox worker, inbox and the loop's jobs: the bucket, Spark, the X app
    # the team answers through (its secret and token key only in the 0640 settings file), the
    # triage settings.
    "triage": HostRole(
        required=("aws_region", "stack_name"),
        optional=(
            "s3_bucket",
            "raw_prefix",
            "spark_master",
            "spark_conf",
            "x_api_base_url",
            "x_client_id",
            "x_client_secret",
            "x_redirect_uri",
            "x_token_key",
        ),
        prefix="triage_",
        controller_only=(
            "triage_raw_dir",
            "triage_scored_dir",
            "triage_checkpoint_dir",
            "triage_instance_type",
            "triage_host",  # the role's triage_inbox_address / triage_inbox_port
            "triage_port",
            "triage_model",  # the role's copied model folder, else the registry's champion
            "triage_database_url",  # a service: see below
        ),
        services=("triage_database_url", "mlflow_tracking_uri"),
        state_paths=("data_dir", "model_dir", "reports_dir"),
    ),
}


def _as_text(value: object) -> str:
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _names_a_controller_file(url: str) -> bool:
    return url.startswith(("sqlite:", "file:", "/", "."))


def host_settings(
    settings: Settings,
    *,
    aws_credentials: AwsCredentials,
    host_state_dir: str,
    host_profile_path: str,
    role: str = "streamer",
) -> dict[str, str]:
    """A role's environment on the host (secrets included: the caller writes it 0640)."""
    if role not in HOST_ROLES:
        raise HostRoleError(f"unknown host role {role!r}; use one of {', '.join(HOST_ROLES)}")
    spec = HOST_ROLES[role]
    settings.require(*spec.required)
    empty = [name.upper() for name in spec.required if not _as_text(getattr(settings, name))]
    if empty:  # require() lets an empty secret through (SecretStr('') is not '')
        raise SettingsError(
            f"setting(s) {', '.join(empty)} are empty; set them in .env (see .env.example) "
            "or in the environment"
        )
    load_profile(settings.mission_profile)  # unknown or invalid profile: stop here, named
    names = [*spec.required, *spec.optional]
    if spec.prefix:
        names += [
            name
            for name in type(settings).model_fields
            if name.startswith(spec.prefix) and name not in spec.controller_only
        ]
    names += [
        name
        for name in spec.services
        if (value := getattr(settings, name)) is not None
        and not _names_a_controller_file(_as_text(value))
    ]
    if aws_credentials == "forward":
        names += list(_FORWARDED_AWS)
    elif settings.uses_local_aws:
        raise HostRoleError(
            f"TT_DEPLOYMENT=local (the stand-ins, AWS_ENDPOINT_URL={settings.aws_endpoint_url}), "
            "but this host takes AWS access from its instance profile (real AWS): set "
            "TT_DEPLOYMENT=aws, or use the local inventory"
        )
    values = {
        name.upper(): _as_text(value)
        for name in dict.fromkeys(names)
        if (value := getattr(settings, name)) is not None
    }
    values["AWS_DEFAULT_REGION"] = values["AWS_REGION"]
    values["MISSION_PROFILE"] = host_profile_path
    values["TT_STATE_DIR"] = host_state_dir
    values["TT_DEPLOYMENT"] = settings.deployment
    values["TT_IGNORE_DOTENV"] = "1"  # the host's environment is this file, nothing else
    for name in spec.state_paths:  # e.g. DATA_DIR=<state>/data: never inside the code folder
        values[name.upper()] = f"{host_state_dir}/{name.removesuffix('_dir')}"
    if "mlflow_tracking_uri" in spec.services and "MLFLOW_TRACKING_URI" not in values:
        values["MLFLOW_TRACKING_URI"] = f"sqlite:///{host_state_dir}/mlflow.db"
    return values


def mission_profile_file(settings: Settings) -> Path:
    """The profile file to copy to the host (validated)."""
    load_profile(settings.mission_profile)
    return profile_path(settings.mission_profile).resolve()
