"""Where each setting's value came from, for `tweet-triage config show`."""

from __future__ import annotations

import os

from dotenv import dotenv_values

from tweet_triage import settings_sources as sources
from tweet_triage.config import Settings, env_name


def setting_origins(settings: Settings) -> dict[str, str]:
    """field -> where its value came from: environment, a running stand-in's file, a .env file,
    the local deployment's default endpoint, or the default (the same precedence as loading)."""
    environment = {key.upper() for key in os.environ}
    stand_ins: dict[str, str] = {}
    if settings.uses_local_aws:
        for path in sources.stand_in_files(settings.state_dir):
            for key in dotenv_values(path):
                stand_ins.setdefault(key.upper(), f"running stand-in ({path.name})")
    dotenv: dict[str, str] = {}
    for path in reversed(sources.dotenv_files()):  # highest precedence first
        if path.is_file():
            for key in dotenv_values(path):
                dotenv.setdefault(key.upper(), str(path))
    origins = {}
    for field in Settings.model_fields:
        name = env_name(field).upper()
        if name in environment:
            origins[field] = "environment"
        elif name in stand_ins or name in dotenv:
            origins[field] = stand_ins.get(name) or dotenv[name]
        elif field in ("aws_endpoint_url", "x_api_base_url") and settings.uses_local_aws:
            origins[field] = "local deployment default (stand-in not running)"
        else:
            origins[field] = "default"
    return origins
