"""The model in service: the first registered version becomes champion, the alias resolves to
a local folder, moving it changes what resolves, and no champion is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.live.scorer_model import build_scorer_model
from tweet_triage.config import Settings
from tweet_triage.model import registry
from tweet_triage.model.registry import log_and_register_model
from tweet_triage.model.tracking import mlflow_run


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_scorer_model(tmp_path_factory.mktemp("registry-model"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        TT_STATE_DIR=tmp_path / "state",
    )


def register(settings: Settings, model: Path) -> str:
    with mlflow_run(settings):
        version = log_and_register_model(model)
    assert version is not None
    return version


def test_first_version_is_champion_and_later_ones_wait_for_promotion(
    settings: Settings, tiny_model: Path
) -> None:
    with pytest.raises(registry.NoModelError, match="train one first"):
        registry.resolve_model(settings)
    first = register(settings, tiny_model)
    resolved = registry.resolve_model(settings)
    assert resolved.version == first == registry.champion_version(settings)
    assert (resolved.folder / "triage.json").is_file() and (
        resolved.folder / "config.json"
    ).is_file()
    assert resolved.folder.is_relative_to(settings.state_dir)

    second = register(settings, tiny_model)
    assert registry.resolve_model(settings).version == first  # not promoted yet
    registry.set_champion(settings, second)
    moved = registry.resolve_model(settings)
    assert moved.version == second and moved.folder != resolved.folder
    with pytest.raises(registry.NoModelError, match="does not exist"):
        registry.set_champion(settings, "99")


def test_a_model_folder_resolves_to_itself(settings: Settings, tiny_model: Path) -> None:
    resolved = registry.resolve_model(settings, str(tiny_model))
    assert resolved.folder == tiny_model and resolved.version.startswith("sha256:")
