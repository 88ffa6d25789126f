"""The stand-ins' settings files: a running stand-in records its endpoint and dummy credentials
in `<state dir>/local-<name>.env`, which `tweet_triage.config` reads in the local deployment."""

from __future__ import annotations

from pathlib import Path

from dotenv import dotenv_values

from tweet_triage.config import stand_in_file
from tweet_triage.private_files import write_private


def write_local_env(state_dir: Path, name: str, values: dict[str, str]) -> Path:
    """Record a running stand-in's settings (0600) so every later command talks to it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = stand_in_file(state_dir, name)
    write_private(path, "".join(f"{key}={value}\n" for key, value in values.items()))
    return path


def read_local_env(state_dir: Path, name: str) -> dict[str, str]:
    """A stand-in's recorded settings; empty when it has recorded none."""
    path = stand_in_file(state_dir, name)
    if not path.is_file():
        return {}
    return {key: value for key, value in dotenv_values(path).items() if value is not None}


def remove_local_env(state_dir: Path, name: str) -> None:
    stand_in_file(state_dir, name).unlink(missing_ok=True)
