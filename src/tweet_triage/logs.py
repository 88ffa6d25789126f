"""Logging set-up shared by every command: console plus an optional structured file.

On a terminal the console is rich; piped or redirected, it is one plain line per record with
an ISO timestamp, for grep and log collectors. `--log-level` (or TT_LOG_LEVEL) sets the level
of every command that does not ask for its own. A filter redacts the values of every secret
setting from every record, so a secret that slips into a message (an exception text, a URL)
never reaches a terminal or a log file.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr
from rich.console import Console
from rich.logging import RichHandler

from tweet_triage.config import Settings

REDACTED = "***"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ISO_TIME = "%Y-%m-%dT%H:%M:%S%z"
_default_level = "INFO"


def set_default_level(level: str) -> None:
    """The level `configure_logging` uses when a command gives none (the global --log-level)."""
    global _default_level
    _default_level = level


class RedactSecrets(logging.Filter):
    """Replaces secret values in the message, the structured fields and the traceback text."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 4]

    def redact(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {key: self.redact(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.redact(item) for item in value)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        record.msg, record.args = self.redact(record.getMessage()), None
        if isinstance(getattr(record, "fields", None), dict):
            record.fields = self.redact(record.fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry, default=str)


def secret_values(settings: Settings) -> list[str]:
    """Every secret setting's value, and the password inside any secret URL (a database URL)."""
    values = []
    for name in type(settings).model_fields:
        secret = getattr(settings, name)
        if isinstance(secret, SecretStr) and secret.get_secret_value():
            values.append(secret.get_secret_value())
            if "://" in secret.get_secret_value():
                try:
                    password = urlsplit(secret.get_secret_value()).password
                except ValueError:
                    password = None
                if password:
                    values.append(password)
    return values


def redact_text(settings: Settings, text: str) -> str:
    """`text` with every secret of `settings` replaced (for tracebacks printed outside logging)."""
    return RedactSecrets(secret_values(settings)).redact(text)


def console_handler() -> logging.Handler:
    """Rich on a terminal, plain single-line records with ISO timestamps otherwise. Logs go to
    stderr: stdout carries command output (`--json`, tables) for pipes."""
    if sys.stderr.isatty():
        return RichHandler(
            console=Console(stderr=True), show_path=False, rich_tracebacks=False, markup=False
        )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(PLAIN_FORMAT, ISO_TIME))
    return handler


def configure_logging(
    settings: Settings, level: str | None = None, json_file: Path | None = None
) -> None:
    """Console logging; with `json_file`, also one JSON object per line there."""
    redact = RedactSecrets(secret_values(settings))
    handlers: list[logging.Handler] = [console_handler()]
    if json_file is not None:
        json_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(json_file)
        file_handler.setFormatter(JsonFormatter())
        handlers.append(file_handler)
    for handler in handlers:
        handler.addFilter(redact)
    logging.basicConfig(level=level or _default_level, handlers=handlers, force=True)
    for noisy in ("alembic", "botocore", "boto3", "urllib3", "py4j", "tweepy", "filelock", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
