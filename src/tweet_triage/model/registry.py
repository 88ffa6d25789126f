"""The model registry: registration, the `champion` alias, promote and rollback.

Training registers every model as a new version of one registered model; the alias
`champion` names the version that scores live tweets (the first version registered becomes
champion; later ones replace it only when promoted). Live components resolve the alias
again before each unit of work, so moving it takes effect without a restart. A resolved
version is downloaded once into the state folder and reused; a plain model folder works too
(its version is the one `inference.model_version` derives). Every move of the alias is
recorded in the loop's state file (`loop_state.py`), which is what rollback walks back; the
champion is never left unset (a rollback with nothing to roll back to changes nothing).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tweet_triage.config import Settings
from tweet_triage.errors import TriageError
from tweet_triage.model.folder import META_FILE, ModelFolderError, ModelMeta
from tweet_triage.model.loop_state import now, read_state, record_champion, write_state
from tweet_triage.model.tracking import log_model_folder, mlflow_run, tracking_uri

log = logging.getLogger(__name__)

REGISTERED_MODEL = "tweet-triage-needs-support"
CHAMPION = "champion"  # the alias, and what --model takes to mean "the registry's champion"


class NoModelError(TriageError):
    """No model to score with: nothing trained, registered or promoted yet."""


class NothingToRollBackError(TriageError):
    """The champion has no recorded predecessor to give the alias back to."""


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to load: its local folder and the version every score records."""

    folder: Path
    version: str
    source: str


def _client(settings: Settings | None) -> Any:
    """A registry client for settings' tracking URI; None: the URI MLflow already uses."""
    import mlflow
    from mlflow import MlflowClient

    for noisy in ("mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if settings is None:
        return MlflowClient()
    uri = tracking_uri(settings)
    mlflow.set_tracking_uri(uri)  # as tracking.py does; the registry follows the tracking URI
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def champion_version(settings: Settings | None) -> str | None:
    """The version the `champion` alias points at; None when there is no champion."""
    from mlflow.exceptions import MlflowException

    try:
        found = _client(settings).get_model_version_by_alias(REGISTERED_MODEL, CHAMPION)
    except MlflowException:
        return None
    return str(found.version)


def set_champion(settings: Settings | None, version: str) -> None:
    """Point `champion` at `version` (it must exist)."""
    from mlflow.exceptions import MlflowException

    client = _client(settings)
    try:
        client.get_model_version(REGISTERED_MODEL, str(version))
    except MlflowException as exc:
        raise NoModelError(
            f"version {version} of {REGISTERED_MODEL} does not exist in {client.tracking_uri}"
        ) from exc
    client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION, str(version))
    log.info("champion is now %s version %s", REGISTERED_MODEL, version)


def ensure_champion(settings: Settings | None, version: str) -> bool:
    """Make `version` champion when there is none yet (the first registered model)."""
    if champion_version(settings) is not None:
        return False
    set_champion(settings, version)
    return True


def log_and_register_model(model_dir: Path, register: bool = True) -> str | None:
    """Log the model folder in the active run; register it as a new version (None: not asked).

    The first version registered becomes champion and serves until another is promoted.
    """
    import mlflow

    model_uri = log_model_folder(model_dir)
    if not register:
        return None
    version = str(mlflow.register_model(model_uri, REGISTERED_MODEL).version)
    ensure_champion(None, version)
    return version


def register_folder(settings: Settings, folder: Path) -> tuple[str, str]:
    """A trained model folder as a new registered version (champion when there is none yet).

    How a host that gets its first model as a folder joins the closed loop: retrain compares
    its challengers with this champion and promotion moves the alias the scorer follows.
    Returns (registered version, champion version).
    """
    ModelMeta.load(folder)  # a clear error when the folder holds no model
    with mlflow_run(settings, run_name=f"register {Path(folder).name}"):
        version = log_and_register_model(Path(folder))
    if version is None:
        raise NoModelError(f"{folder}: MLflow registered no version of {REGISTERED_MODEL}")
    return version, champion_version(settings) or version


def promote(settings: Settings, version: str, why: str = "promoted by hand") -> dict[str, Any]:
    """Point `champion` at `version` (NoModelError naming it when it does not exist)."""
    state = read_state(settings.state_dir)
    previous = champion_version(settings)
    if previous is not None and not state.get("history"):
        record_champion(state, previous, "champion before the loop's first move")
    set_champion(settings, str(version))
    record_champion(state, str(version), why)
    write_state(settings.state_dir, state)
    return {"champion": str(version), "previous": previous}


def rollback(settings: Settings) -> dict[str, Any]:
    """Give `champion` back to the version that held it before the current one."""
    state = read_state(settings.state_dir)
    history = state.get("history", [])
    current = champion_version(settings)
    earlier = [h for h in history[:-1] if h["version"] != current]
    if current is None or not earlier:
        raise NothingToRollBackError(
            f"nothing to roll back to: the champion ({current or 'none'}) has no recorded "
            "predecessor; use `tweet-triage model promote --version N`"
        )
    target = earlier[-1]["version"]
    set_champion(settings, target)
    state["history"] = [*history[: history.index(earlier[-1])], earlier[-1]]
    state["history"][-1] = {**earlier[-1], "since": now(), "why": f"rollback from {current}"}
    write_state(settings.state_dir, state)
    return {"champion": target, "previous": current}


def _download(settings: Settings, version: str) -> Path:
    """The version's model folder, fetched once into <state dir>/models/<name>/<version>."""
    import mlflow

    target = settings.state_dir / "models" / REGISTERED_MODEL / version
    found = sorted(p.parent for p in target.rglob(META_FILE)) if target.is_dir() else []
    if found:
        return found[0]
    _client(settings)
    partial = target.with_name(f".{version}.part")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{REGISTERED_MODEL}/{version}", dst_path=str(partial)
        )
    except Exception as exc:  # MLflow raises its own hierarchy for every store
        shutil.rmtree(partial, ignore_errors=True)
        raise ModelFolderError(
            f"models:/{REGISTERED_MODEL}/{version}: cannot fetch the model ({exc})"
        ) from exc
    shutil.rmtree(target, ignore_errors=True)
    partial.replace(target)
    found = sorted(p.parent for p in target.rglob(META_FILE))
    if not found:
        raise ModelFolderError(
            f"models:/{REGISTERED_MODEL}/{version} holds no {META_FILE}; not a triage model"
        )
    return found[0]


def resolve_model(settings: Settings, model: str | Path | None = None) -> ResolvedModel:
    """`model` None or 'champion': the registry's champion; otherwise a model folder."""
    if model is not None and str(model) != CHAMPION:
        from tweet_triage.model.inference import model_version

        folder = Path(model).expanduser()
        return ResolvedModel(folder, model_version(folder, ModelMeta.load(folder)), str(folder))
    version = champion_version(settings)
    if version is None:
        raise NoModelError(
            f"no champion model in the MLflow registry ({tracking_uri(settings)}): train one "
            "first (make train, or tweet-triage train), or pass --model with a model folder"
        )
    return ResolvedModel(
        _download(settings, version), version, f"models:/{REGISTERED_MODEL}@{CHAMPION}"
    )


def describe_model(settings: Settings, model: str | Path | None = None) -> str:
    """One line for people: which model scores (version, where from, backbone, how many
    tweets it learnt from), its threshold, and its test figures when `evaluate` logged them."""
    from mlflow.exceptions import MlflowException

    resolved = resolve_model(settings, model)
    meta = ModelMeta.load(resolved.folder)
    backbone = Path(meta.backbone)
    # A packaged backbone sits in a folder named `model` inside its package: name the package.
    learnt = backbone.parent.name if backbone.name == "model" else backbone.name
    if isinstance(meta.training.get("train_rows"), int):
        learnt += f", {meta.training['train_rows']:,} training tweets"
    strategy = meta.threshold_strategy.get("strategy", "f-beta")
    parts = [
        f"model v{resolved.version} ({resolved.source})",
        learnt,
        f"threshold {meta.threshold:.3f} ({strategy})",
    ]
    metrics: dict[str, float] = {}
    run_id = meta.mlflow.get("run_id")
    if run_id:
        try:
            metrics = dict(_client(settings).get_run(run_id).data.metrics)
        except MlflowException as exc:  # the run may live in another tracking store
            log.info("no test figures for run %s: %s", run_id, exc)
    if "test.roc_auc" in metrics:
        figures = f"test ROC AUC {metrics['test.roc_auc']:.3f}"
        if "test.pr_auc" in metrics:
            figures += f", PR AUC {metrics['test.pr_auc']:.3f}"
        parts.append(figures)
    else:
        parts.append("not evaluated on a test split yet (make evaluate)")
    return "; ".join(parts)
