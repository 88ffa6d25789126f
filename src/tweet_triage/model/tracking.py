"""MLflow tracking: runs, their parameters, metrics and logged models; nothing about aliases.

A local sqlite store by default, so runs and the model registry (`registry.py`, which builds
on this module) work offline; `MLFLOW_TRACKING_URI` (settings) points elsewhere, e.g. a team's
tracking server. Training opens a run and records its id in the model folder; evaluation adds
its metrics and plots to that same run, so one run tells the whole story of one model version.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tweet_triage.config import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

EXPERIMENT = "tweet-triage-needs-support"
MLRUNS_DIR = PROJECT_ROOT / "mlruns"


def tracking_uri(settings: Settings) -> str:
    """Settings' URI, else `sqlite:///<project>/mlruns/mlflow.db` (registry-capable)."""
    if settings.mlflow_tracking_uri:
        return settings.mlflow_tracking_uri
    MLRUNS_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{MLRUNS_DIR / 'mlflow.db'}"


def _experiment_id(uri: str) -> str:
    import mlflow

    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return experiment.experiment_id
    return mlflow.create_experiment(EXPERIMENT, artifact_location=artifact_location(uri))


def artifact_location(uri: str) -> str | None:
    """Artifacts beside a SQLite store's file: mlruns/artifacts in a checkout, the state folder
    on a host (whose code folder is read-only to the service); a server decides its own."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri.removeprefix("sqlite:///")).expanduser().resolve()
    return (database.parent / "artifacts").as_uri()


@contextmanager
def mlflow_run(
    settings: Settings, run_id: str | None = None, run_name: str | None = None
) -> Iterator[Any]:
    """Start (or, with run_id, re-open) a run in the project's experiment."""
    import mlflow

    for noisy in ("mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    experiment_id = _experiment_id(tracking_uri(settings))
    with mlflow.start_run(run_id=run_id, experiment_id=experiment_id, run_name=run_name) as run:
        yield run


def run_exists(settings: Settings, run_id: str) -> bool:
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri(settings))
    try:
        mlflow.get_run(run_id)
    except MlflowException:
        return False
    return True


def flat_params(prefix: str, values: dict[str, Any]) -> dict[str, str]:
    """MLflow params are flat strings of at most 6000 characters."""
    flat: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_params(f"{name}.", value))
        else:
            flat[name] = str(value)[:6000]
    return flat


def numeric_metrics(prefix: str, values: dict[str, Any]) -> dict[str, float]:
    """The numbers of a nested metrics dict, flattened for mlflow.log_metrics."""
    out: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(numeric_metrics(f"{name}.", value))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int | float) and value == value:  # drop NaN
            out[name] = float(value)
    return out


def log_model_folder(model_dir: Path) -> str:
    """Log the model folder as a pyfunc model in the active run; its model URI."""
    import mlflow.pyfunc

    from tweet_triage.model.pyfunc import NeedsSupportPyfunc

    requirements = [
        f"{name}=={version}"
        for name, version in _versions(
            ("torch", "transformers", "onnxruntime", "pandas", "numpy")
        ).items()
    ]
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=NeedsSupportPyfunc(),
        artifacts={"model_dir": str(model_dir)},
        pip_requirements=requirements,
    )
    return str(info.model_uri)


def _versions(names: tuple[str, ...]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
