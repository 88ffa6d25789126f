"""The settings of each stage, one group apiece; `config.Settings` combines them.

A group is one stage's fields (field name == environment variable, case-insensitive), so
code that needs one stage only can take that group as its type. Where the values come from,
and the checks across groups, are `config`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from tweet_triage.settings_sources import PROJECT_ROOT, state_dir_from_environment

Deployment = Literal["local", "aws"]
PUBLIC_X_API = "https://api.x.com"


class SettingsGroup(BaseSettings):
    """One stage's settings. `Settings` combines the groups: attribute and environment
    variable names are the same either way (field name == variable, case-insensitive). Code
    that needs one group only takes that group as its type (`DataPaths.from_settings` takes
    `DataSettings`); every `Settings` is one."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, populate_by_name=True)


class DeploymentSettings(SettingsGroup):
    """Which services every command talks to (TT_DEPLOYMENT)."""

    deployment: Deployment = Field(
        "local",
        validation_alias="TT_DEPLOYMENT",
        description="local: the stand-ins (moto, the X stand-in, the SSH host); aws: AWS and X.",
    )


class AwsSettings(SettingsGroup):
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


class StackSettings(SettingsGroup):
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


class XApiSettings(SettingsGroup):
    """The X API and the mission profile."""

    x_bearer_token: SecretStr | None = None
    x_api_base_url: str = Field(
        PUBLIC_X_API, description="X API base URL; local deployment: the X stand-in's."
    )
    mission_profile: str = Field("demo", description="Profile name (profiles/) or YAML path.")


class XAppSettings(SettingsGroup):
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


class LocalSettings(SettingsGroup):
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


class StreamSettings(SettingsGroup):
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


class DataSettings(SettingsGroup):
    """Stage 3, the data jobs: folders, annotations, Spark."""

    data_dir: Path = Field(PROJECT_ROOT / "data")
    annotations_path: Path | None = Field(
        None, description="CSV id,sentiment; default: the bundled demo annotations."
    )
    spark_master: str = "local[*]"
    spark_conf: dict[str, str] = Field(default_factory=dict, description="JSON object of confs.")


class ModelSettings(SettingsGroup):
    """Stage 4, the model: base model, output folder, MLflow, reports."""

    model_name_or_path: str | None = Field(
        None, description="HF model id or path; default the offline all-MiniLM-L6-v2."
    )
    model_dir: Path = Field(PROJECT_ROOT / "models" / "needs-support")
    mlflow_tracking_uri: str | None = Field(
        None, description="Default: a local sqlite store under mlruns/."
    )
    reports_dir: Path = Field(PROJECT_ROOT / "reports")


class TriageSettings(SettingsGroup):
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
