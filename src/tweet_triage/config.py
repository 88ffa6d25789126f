"""One typed settings object for every stage, read from the environment and `.env` files.

The deployment is one explicit setting, `TT_DEPLOYMENT`: `local` (the default) talks to the
stand-ins, `aws` to AWS and X. It selects the endpoints and credentials:

- `local`: the running stand-ins' settings (`<state dir>/local-*.env`, written by `local ...-up`)
  supply the endpoints and their dummy credentials; they rank below the environment and above
  `.env`. With no stand-in running, the endpoints are the stand-ins' default loopback addresses,
  so a local session never reaches AWS or X by accident.
- `aws`: the stand-ins' files are never read and an endpoint override is refused.

Precedence: the environment, then (local only) the running stand-ins, then `<project>/.env`,
then `<project>/../.env`, then the defaults (`settings_sources` finds them). Loading settings
never writes `os.environ`: child processes (ansible-playbook, spark-submit) get theirs from
`Settings.environment()`. The AWS resource names derived from STACK_NAME live in
`cloud.plan.StackNames`; the stand-ins write their settings files with
`tweet_triage_local.settings_files`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as PydanticSettingsError

from tweet_triage import settings_sources as sources
from tweet_triage.errors import TriageError
from tweet_triage.settings_messages import readable_parse_error, readable_validation_error
from tweet_triage.settings_sources import PROJECT_ROOT, stand_in_file, state_dir_from_environment

PACKAGE_DIR = Path(__file__).resolve().parent
PROFILES_DIR = PACKAGE_DIR / "profiles"
# The bundled demo corpus ships with the stand-ins (tweet_triage_local), not the runtime; the
# data stage reads its annotations by default. Absent where only the runtime is installed.
CORPUS_DIR = PACKAGE_DIR.parent / "tweet_triage_local" / "corpus" / "data"


Deployment = Literal["local", "aws"]
STAND_IN_NAMES = {"aws": "AWS stand-in (moto)", "xapi": "X API stand-in"}
PUBLIC_X_API = "https://api.x.com"


class SettingsError(TriageError, ValueError):
    """A setting is missing or invalid; the message names it and says how to fix it."""


_STACK_RE = re.compile(r"^[a-z][a-z0-9-]{2,30}[a-z0-9]$")


class _SettingsGroup(BaseSettings):
    """One stage's settings. `Settings` combines the groups: attribute and environment
    variable names are the same either way (field name == variable, case-insensitive). Code
    that needs one group only takes that group as its type (`DataPaths.from_settings` takes
    `DataSettings`); every `Settings` is one."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, populate_by_name=True)


class DeploymentSettings(_SettingsGroup):
    """Which services every command talks to (TT_DEPLOYMENT)."""

    deployment: Deployment = Field(
        "local",
        validation_alias="TT_DEPLOYMENT",
        description="local: the stand-ins (moto, the X stand-in, the SSH host); aws: AWS and X.",
    )


class AwsSettings(_SettingsGroup):
    """AWS region, credentials and the stand-in's endpoint (boto3's own names)."""

    aws_region: str | None = Field(None, description="AWS region of the stack, e.g. eu-west-1.")
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    aws_endpoint_url: str | None = Field(
        None,
        description="The AWS stand-in's URL (local deployment: set by local aws-up). Refused "
        "with TT_DEPLOYMENT=aws.",
    )


class StackSettings(_SettingsGroup):
    """Stage 1, the AWS stack: names, bucket layout, Firehose, logs, EC2, SSH."""

    stack_name: str = Field("tweet-triage", description="Every resource name derives from it.")
    s3_bucket: str | None = Field(
        None, description="Bucket name override; default <stack>-<account id>-<region>."
    )
    raw_prefix: str = Field("raw/", description="Bucket prefix Firehose writes raw tweets to.")
    error_prefix: str = Field("errors/", description="Bucket prefix for Firehose delivery errors.")
    firehose_buffer_mib: int = Field(5, ge=1, le=128)
    firehose_buffer_seconds: int = Field(60, ge=0, le=900)
    firehose_compression: str = Field("GZIP", pattern="^(UNCOMPRESSED|GZIP|Snappy|ZIP)$")
    log_retention_days: int = Field(14, ge=1)
    operator_cidr: str | None = Field(
        None, description="Who may SSH to the streamer; default: caller's address as /32."
    )
    operator_cidr_min_prefix: int = Field(
        16, ge=1, le=32, description="Widest IPv4 OPERATOR_CIDR accepted (IPv6: 32 bits more)."
    )
    operator_cidr_allow_wide: bool = Field(
        False, description="Accept an OPERATOR_CIDR wider than OPERATOR_CIDR_MIN_PREFIX."
    )
    ec2_instance_type: str = "t3.micro"
    ssh_key_path: Path | None = Field(
        None,
        description="The stack's private key; default ~/.ssh/<stack>.pem on AWS, the state "
        "folder (keys/<stack>.pem) with the local stand-in, which never writes to ~/.ssh.",
    )
    destroy_keep_bucket: bool = Field(
        False, description="aws-destroy keeps the bucket and its data (default: removes them)."
    )


class XApiSettings(_SettingsGroup):
    """The X API and the mission profile."""

    x_bearer_token: SecretStr | None = None
    x_api_base_url: str = Field(
        PUBLIC_X_API, description="X API base URL; local deployment: the X stand-in's."
    )
    mission_profile: str = Field("demo", description="Profile name (profiles/) or YAML path.")


class XAppSettings(_SettingsGroup):
    """The X app the team answers through (OAuth 2.0 with PKCE) and the reply outbox."""

    x_client_id: str | None = Field(
        None,
        description="The X app's OAuth 2.0 client id (developer portal, 'Keys and tokens'); "
        "local deployment: set by local xapi-up.",
    )
    x_client_secret: SecretStr | None = Field(
        None, description="The app's client secret; unset for a public client (PKCE only)."
    )
    x_redirect_uri: str = Field(
        "http://127.0.0.1:8080/x/callback",
        description="The callback URL registered for the X app: the inbox's /x/callback.",
    )
    x_token_key: SecretStr | None = Field(
        None,
        description="Fernet key sealing the X account's tokens in the store; default a 0600 "
        "key file <state dir>/triage/x-token.key, created on first use.",
    )
    triage_reply_window_minutes: float = Field(
        30.0, gt=0, description="A second reply to a tweet within this window asks to confirm."
    )
    triage_sla_minutes: float = Field(
        60.0, gt=0, description="First-response target: conversations older unanswered breach it."
    )
    triage_outbox_poll_seconds: float = Field(
        1.0, gt=0, le=60, description="The outbox worker's pause when no reply is due."
    )


class LocalSettings(_SettingsGroup):
    """The state folder and the local stand-ins' ports and replay rate."""

    state_dir: Path = Field(
        default_factory=state_dir_from_environment,
        validation_alias="TT_STATE_DIR",
        description="Run state (pid files, logs, stand-in settings, keys); environment only.",
    )
    local_aws_port: int = Field(5000, ge=1, le=65535)
    local_xapi_port: int = Field(8787, ge=1, le=65535)
    local_xapi_rate: float = Field(200.0, description="Stand-in replay rate, tweets/s (0: max).")
    local_xapi_author_share: float = Field(
        0.5, ge=0, le=1, description="Stand-in: share of replied-to authors who answer back."
    )
    local_xapi_author_delay_seconds: float = Field(
        20.0, ge=0, description="Stand-in: seconds before a scripted author answers."
    )


class StreamSettings(_SettingsGroup):
    """Stage 2, the streamer: spool, queue, senders, stats, stop budget."""

    stream_spool_dir: Path | None = Field(
        None, description="Durable spool of received records; default <state dir>/stream/spool."
    )
    stream_dead_letter_path: Path | None = Field(
        None, description="Undeliverable records with reasons; default <state dir>/stream/."
    )
    stream_stats_file: Path | None = Field(
        None, description="Latest stats as JSON (stream-status); default <state dir>/stream/."
    )
    stream_log_file: Path | None = Field(
        None, description="Structured JSON log; default <state dir>/stream/stream.log.jsonl."
    )
    stream_queue_size: int = Field(
        10_000, ge=1, description="In-memory queue, records; beyond it they wait in the spool."
    )
    stream_flush_seconds: float = Field(
        1.0, gt=0, le=60, description="Send a partial batch after this many seconds."
    )
    stream_senders: int = Field(
        2, ge=1, le=16, description="PutRecordBatch calls in flight at once."
    )
    stream_stats_seconds: float = Field(
        30.0, gt=0, description="Interval of the one-line stats log and the stats file."
    )
    stream_stall_seconds: float = Field(
        21.0, ge=1, description="Silence (no tweet, no keep-alive) that counts as a disconnect."
    )
    stream_spool_fsync_seconds: float = Field(
        1.0, ge=0, description="fsync the spool at most this often; 0: after every record."
    )
    stream_drain_seconds: float = Field(
        120.0, ge=0, description="On stop, how long to keep sending before leaving the rest."
    )
    stream_spool_max_bytes: int = Field(
        1024**3, ge=64 * 1024, description="Spool size cap, bytes; then STREAM_SPOOL_WHEN_FULL."
    )
    stream_spool_when_full: str = Field(
        "block",
        pattern="^(block|drop_newest)$",
        description="Spool full: block the reader (X sees a slow client) or drop newest.",
    )


class DataSettings(_SettingsGroup):
    """Stage 3, the data jobs: folders, annotations, Spark."""

    data_dir: Path = Field(PROJECT_ROOT / "data")
    annotations_path: Path | None = Field(
        None, description="CSV id,sentiment; default: the bundled demo annotations."
    )
    spark_master: str = "local[*]"
    spark_conf: dict[str, str] = Field(default_factory=dict, description="JSON object of confs.")


class ModelSettings(_SettingsGroup):
    """Stage 4, the model: base model, output folder, MLflow, reports."""

    model_name_or_path: str | None = Field(
        None, description="HF model id or path; default the offline all-MiniLM-L6-v2."
    )
    model_dir: Path = Field(PROJECT_ROOT / "models" / "needs-support")
    mlflow_tracking_uri: str | None = Field(
        None, description="Default: a local sqlite store under mlruns/."
    )
    reports_dir: Path = Field(PROJECT_ROOT / "reports")


class TriageSettings(_SettingsGroup):
    """Live triage: the store, the inbox, the streaming scorer."""

    triage_database_url: SecretStr | None = Field(
        None,
        description="Triage store URL (postgresql://user:pw@host/db); default a SQLite file "
        "<state dir>/triage/triage.db.",
    )
    triage_host: str = Field("127.0.0.1", description="Address the inbox listens on.")
    triage_port: int = Field(8080, ge=1, le=65535, description="Port the inbox listens on.")
    triage_secure_cookies: bool | None = Field(
        None,
        description="Mark the session cookie Secure; default: when the request came over "
        "HTTPS (X-Forwarded-Proto counts from a proxy in TRIAGE_TRUSTED_PROXIES).",
    )
    triage_trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto the inbox believes; none by default (127.0.0.1 is also every SSH "
        "tunnel's address).",
    )
    triage_allowed_hosts: str = Field(
        "127.0.0.1,localhost,::1",
        description="Comma-separated host names the inbox answers to (others get 400, against "
        "DNS rebinding); add a TLS proxy's public name, or '*' for any.",
    )
    triage_session_hours: float = Field(12.0, gt=0, description="Inbox login lifetime.")
    triage_login_attempts: int = Field(
        5, ge=1, description="Failed logins per address and user name within the window."
    )
    triage_login_window_seconds: float = Field(300.0, gt=0)
    triage_score_max_texts: int = Field(
        256, ge=1, le=10_000, description="Most texts one POST /api/score may carry."
    )
    triage_refresh_seconds: float = Field(
        5.0, gt=0, description="How often the inbox pages fetch new tweets."
    )
    triage_request_threads: int = Field(
        4,
        ge=1,
        le=256,
        description="Requests the inbox works on at once; the rest wait their turn in order. "
        "More threads than the cores can keep busy only fight over Python's lock and stretch "
        "the slowest answers.",
    )
    triage_score_threads: int = Field(
        16,
        ge=1,
        le=256,
        description="POST /api/score requests waiting on the model at once, in their own lane "
        "so that scoring never holds up the pages.",
    )
    triage_model: str = Field(
        "champion",
        description="Model the scorer uses: 'champion' (the MLflow alias) or a model folder.",
    )
    triage_score_every: float = Field(
        5.0, gt=0, description="Seconds between the streaming scorer's micro-batches."
    )
    triage_scorer_engine: Literal["onnx", "onnx-fp32", "torch", "auto"] = Field(
        "onnx",
        description="What runs the scorer's model: onnx (int8 ONNX Runtime on CPU, exported "
        "into the model folder on first use), onnx-fp32, torch (CUDA when present), or auto "
        "(torch on a GPU, else onnx when the folder holds the export).",
    )
    triage_scorer_device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="Where the scorer's torch engine runs: auto (CUDA when torch sees a GPU, "
        "else cpu), cpu or cuda; the ONNX engines run on CPU.",
    )
    triage_live_prior: bool = Field(
        False,
        description="Flag at the cut for the live share needing support, estimated from the "
        "scorer's recent scores (the model's by_live_prior curve), not at the model's own.",
    )
    triage_live_prior_window: int = Field(
        2000, ge=1, description="Recent scores the live share is estimated from."
    )
    triage_follow_seconds: float = Field(
        10.0, gt=0, description="Seconds between bucket polls of `sync --follow` (local runs)."
    )
    triage_raw_dir: str | None = Field(
        None,
        description="Raw objects the scorer reads: a folder, or s3a://<bucket>/<raw prefix> "
        "on a cluster; default DATA_DIR/raw (kept current by `sync --follow`).",
    )
    triage_scored_dir: str | None = Field(
        None, description="Parquet 'scored' table (by date and hour); default DATA_DIR/scored."
    )
    triage_checkpoint_dir: str | None = Field(
        None, description="Scorer checkpoint; default <state dir>/triage/checkpoint."
    )
    triage_max_files_per_trigger: int = Field(
        10,
        ge=1,
        description="Raw objects one micro-batch takes at most: a backlog drains in small "
        "batches, so the first tweets reach the inbox soon.",
    )
    triage_store_retries: int = Field(
        4, ge=0, description="Retries of a failed store write inside one micro-batch."
    )
    triage_instance_type: str = Field(
        "m7i.large", description="EC2 type of the triage host (Spark and Java need memory)."
    )


class Settings(
    TriageSettings,
    ModelSettings,
    DataSettings,
    StreamSettings,
    LocalSettings,
    XAppSettings,
    XApiSettings,
    StackSettings,
    AwsSettings,
    DeploymentSettings,
):
    """Every setting of the stack. Field name == environment variable (case-insensitive)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return sources.settings_sources(settings_cls, init_settings, env_settings)

    @field_validator("aws_endpoint_url")
    @classmethod
    def _endpoint_shape(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        try:
            valid = (
                parts.scheme in ("http", "https")
                and bool(parts.hostname)
                and (parts.port is None or parts.port > 0)
            )
        except ValueError:  # a port that is not a number or out of range
            valid = False
        if not valid:
            raise ValueError(
                f"AWS_ENDPOINT_URL={value!r} is not an http(s) URL with a valid port; use e.g. "
                "http://127.0.0.1:5000 (the local stand-in), or unset it with TT_DEPLOYMENT=aws"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _local_endpoints(self) -> Settings:
        """Local deployment: endpoints nobody set are the stand-ins' default loopback addresses,
        so nothing reaches AWS or X by accident while a stand-in is down."""
        if self.deployment == "local":
            if self.aws_endpoint_url is None:
                self.aws_endpoint_url = f"http://127.0.0.1:{self.local_aws_port}"
            if self.x_api_base_url == PUBLIC_X_API:
                self.x_api_base_url = f"http://127.0.0.1:{self.local_xapi_port}"
        return self

    @field_validator("aws_region")
    @classmethod
    def _region_shape(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", value):
            raise ValueError(f"AWS_REGION={value!r} is not a region name like 'eu-west-1'")
        return value

    @field_validator("stack_name")
    @classmethod
    def _stack_shape(cls, value: str) -> str:
        if not _STACK_RE.fullmatch(value):
            raise ValueError(
                f"STACK_NAME={value!r}: use 4-32 lowercase letters, digits and '-', "
                "starting with a letter (it becomes part of bucket and role names)"
            )
        return value

    @field_validator("raw_prefix", "error_prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        return value.strip("/") + "/"

    # --- derived values (the AWS resource names: cloud.plan.StackNames) ---------------------
    @property
    def uses_local_aws(self) -> bool:
        """The local deployment: the stand-ins, the state folder's keys, the local inventory."""
        return self.deployment == "local"

    def stand_ins_running(self) -> dict[str, bool]:
        """Which stand-ins (aws, xapi) have recorded their settings, i.e. run, in the state dir."""
        return {name: stand_in_file(self.state_dir, name).is_file() for name in ("aws", "xapi")}

    def describe_deployment(self) -> str:
        """Where commands go, e.g. `local (moto at http://127.0.0.1:5000, ...)`."""
        if not self.uses_local_aws:
            return f"aws (region {self.aws_region or 'unset'}, X at {self.x_api_base_url})"
        running = self.stand_ins_running()
        return (
            f"local (moto at {self.aws_endpoint_url}{'' if running['aws'] else ' [not running]'}"
            f", X stand-in at {self.x_api_base_url}{'' if running['xapi'] else ' [not running]'})"
        )

    def require_stand_ins(self, *names: str) -> None:
        """Local deployment: stop with the fix unless the named stand-ins (aws, xapi) run or
        their endpoint was given explicitly in the environment."""
        if not self.uses_local_aws:
            return
        explicit = {"aws": "AWS_ENDPOINT_URL", "xapi": "X_API_BASE_URL"}
        running = self.stand_ins_running()
        missing = [n for n in names if not running[n] and not os.environ.get(explicit[n])]
        if missing:
            targets = " ".join(f"local-{n}-up" for n in missing)
            what = " and the ".join(STAND_IN_NAMES[n] for n in missing)
            raise SettingsError(
                f"TT_DEPLOYMENT=local but the {what} is not running "
                f"(no {stand_in_file(self.state_dir, missing[0])}): start it with "
                f"`make -f Makefile-stream {targets}`, or set TT_DEPLOYMENT=aws for AWS and X"
            )

    def aws_client_kwargs(self) -> dict[str, str]:
        """Region, endpoint and credentials for a boto3 client, all from this object (never
        from whatever the process environment holds)."""
        values = {"region_name": self.aws_region, "endpoint_url": self.aws_endpoint_url}
        for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
            secret = getattr(self, name)
            if secret is not None and secret.get_secret_value():
                values[name] = secret.get_secret_value()
        return {key: value for key, value in values.items() if value}

    def environment(self) -> dict[str, str]:
        """Environment variables for child processes (ansible-playbook, spark-submit): every
        setting given explicitly (environment, stand-ins, .env) plus the deployment's own."""
        values: dict[str, str] = {}
        for name in sorted(self.model_fields_set):
            value = getattr(self, name)
            if value is not None:
                values[env_name(name)] = as_env_text(value)
        values.update(
            TT_DEPLOYMENT=self.deployment,
            TT_STATE_DIR=str(self.state_dir),
            X_API_BASE_URL=self.x_api_base_url,
            ANSIBLE_INVENTORY=str(
                PROJECT_ROOT / "inventories" / ("local" if self.uses_local_aws else "production")
            ),
        )
        if self.aws_region:
            values["AWS_DEFAULT_REGION"] = self.aws_region
        if self.aws_endpoint_url:
            values["AWS_ENDPOINT_URL"] = self.aws_endpoint_url
        if self.uses_local_aws:  # what the stand-ins give tools besides settings (the inventory)
            settings_names = {env_name(field).upper() for field in type(self).model_fields}
            for path in sources.stand_in_files(self.state_dir):
                for key, value in dotenv_values(path).items():
                    if value is not None and key.upper() not in settings_names:
                        values[key] = value
        return values

    def require(self, *names: str) -> None:
        """Stop with one message per missing setting, before anything is touched."""
        missing = [n for n in names if getattr(self, n) in (None, "")]
        if missing:
            hints = ", ".join(n.upper() for n in missing)
            raise SettingsError(
                f"missing setting(s): {hints}. Set them in .env (see .env.example) "
                "or in the environment."
            )

    @property
    def triage_state_dir(self) -> Path:
        return self.state_dir / "triage"

    @property
    def x_token_key_path(self) -> Path:
        """The key file sealing the X account's tokens when X_TOKEN_KEY is not set."""
        return self.triage_state_dir / "x-token.key"

    @property
    def triage_store_url(self) -> str:
        """TRIAGE_DATABASE_URL, or the SQLite file in the state folder."""
        if self.triage_database_url is not None:
            return self.triage_database_url.get_secret_value()
        return f"sqlite:///{self.triage_state_dir / 'triage.db'}"

    @property
    def stream_paths(self) -> StreamPaths:
        """The streamer's files, each named as its setting: the setting, else its default in
        `<state dir>/stream/`."""
        folder = self.state_dir / "stream"
        return StreamPaths(
            spool_dir=self.stream_spool_dir or folder / "spool",
            dead_letter_path=self.stream_dead_letter_path or folder / "dead-letter.jsonl",
            stats_file=self.stream_stats_file or folder / "stats.json",
            log_file=self.stream_log_file or folder / "stream.log.jsonl",
        )


@dataclass(frozen=True)
class StreamPaths:
    """STREAM_SPOOL_DIR, STREAM_DEAD_LETTER_PATH, STREAM_STATS_FILE, STREAM_LOG_FILE resolved."""

    spool_dir: Path
    dead_letter_path: Path
    stats_file: Path
    log_file: Path


def env_name(field: str) -> str:
    """The environment variable of a settings field (its alias, else its upper-cased name)."""
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else field.upper()


def as_env_text(value: object) -> str:
    """A setting's value as its environment variable holds it (JSON for a dict)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The settings of this process (cached). Raises SettingsError with a readable message,
    also when the deployment is contradictory (it is never guessed)."""
    try:
        settings = Settings()
    except PydanticSettingsError as exc:  # a value that is not the JSON its field needs
        raise SettingsError(readable_parse_error(exc, env_name)) from exc
    except ValueError as exc:  # pydantic ValidationError is a ValueError
        raise SettingsError(readable_validation_error(exc)) from exc
    if settings.deployment == "aws" and settings.aws_endpoint_url:
        raise SettingsError(
            f"TT_DEPLOYMENT=aws never uses an endpoint override, but AWS_ENDPOINT_URL="
            f"{settings.aws_endpoint_url} is set: unset it (environment or .env), or set "
            "TT_DEPLOYMENT=local to use the local stand-ins"
        )
    return settings
