"""Where settings come from: the environment, the running stand-ins' files, the `.env` files.

Precedence: the environment, then (local deployment only) the running stand-ins' settings
(`<state dir>/local-<name>.env`, written by `local ...-up`), then `<project>/.env`, then
`<project>/../.env`, then the defaults. `tweet_triage.config` declares the settings; this module
only finds their sources, so it imports nothing of the project.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic_settings import BaseSettings, DotEnvSettingsSource, PydanticBaseSettingsSource

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def state_dir_from_environment() -> Path:
    """Where run-time state (pid files, logs, the stand-ins' settings) goes: TT_STATE_DIR, else
    `<project>/.run`, anchored to the project (never the working directory)."""
    return Path(os.environ.get("TT_STATE_DIR") or PROJECT_ROOT / ".run").expanduser()


def dotenv_files() -> list[Path]:
    """The `.env` files read, lowest precedence first (TT_IGNORE_DOTENV=1: none, for tests)."""
    if os.environ.get("TT_IGNORE_DOTENV") == "1":
        return []
    return [PROJECT_ROOT.parent / ".env", PROJECT_ROOT / ".env"]


def stand_in_file(state_dir: Path, name: str) -> Path:
    """Where a running stand-in records its settings (tweet_triage_local.settings_files)."""
    return state_dir / f"local-{name}.env"


def stand_in_files(state_dir: Path) -> list[Path]:
    """The running stand-ins' settings files (`local ...-up` writes them, `...-down` removes)."""
    return sorted(state_dir.glob(stand_in_file(state_dir, "*").name))


def chosen_deployment() -> str:
    """TT_DEPLOYMENT from the environment, else from `.env`, else `local`."""
    chosen = os.environ.get("TT_DEPLOYMENT")
    for path in reversed(dotenv_files()):
        if chosen:
            break
        chosen = dotenv_values(path).get("TT_DEPLOYMENT") if path.is_file() else None
    return chosen or "local"


class StandInSettingsSource(PydanticBaseSettingsSource):
    """The running stand-ins' settings, read in the local deployment only."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ reads the files whole

    def __call__(self) -> dict[str, Any]:
        given = {key.lower(): value for key, value in self.current_state.items()}
        deployment = given.get("tt_deployment") or given.get("deployment") or chosen_deployment()
        files = stand_in_files(state_dir_from_environment())
        if deployment != "local" or not files:
            return {}
        return DotEnvSettingsSource(self.settings_cls, env_file=files)()


def settings_sources(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The sources of `settings_cls`, highest precedence first."""
    return (
        init_settings,
        env_settings,
        StandInSettingsSource(settings_cls),
        DotEnvSettingsSource(settings_cls, env_file=dotenv_files()),
    )
