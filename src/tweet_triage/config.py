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
`tweet_triage_local.settings_files`. Each stage's fields are a group in `settings_groups`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
)
from pydantic_settings import SettingsError as PydanticSettingsError

from tweet_triage import settings_sources as sources
from tweet_triage.errors import TriageError
from tweet_triage.settings_groups import (
    PUBLIC_X_API,
    AwsSettings,
    DataSettings,
    DeploymentSettings,
    LocalSettings,
    ModelSettings,
    StackSettings,
    StreamSettings,
    TriageSettings,
    XApiSettings,
    XAppSettings,
)
from tweet_triage.settings_messages import readable_parse_error, readable_validation_error
from tweet_triage.settings_sources import PROJECT_ROOT, stand_in_file

PACKAGE_DIR = Path(__file__).resolve().parent
PROFILES_DIR = PACKAGE_DIR / "profiles"
# The bundled demo corpus ships with the stand-ins (tweet_triage_local), not the runtime; the
# data stage reads its annotations by default. Absent where only the runtime is installed.
CORPUS_DIR = PACKAGE_DIR.parent / "tweet_triage_local" / "corpus" / "data"


STAND_IN_NAMES = {"aws": "AWS stand-in (moto)", "xapi": "X API stand-in"}


class SettingsError(TriageError, ValueError):
    """A setting is missing or invalid; the message names it and says how to fix it."""


_STACK_RE = re.compile(r"^[a-z][a-z0-9-]{2,30}[a-z0-9]$")


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
