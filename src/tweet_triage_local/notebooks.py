"""`make notebooks`: run the eight notebooks headless, in a safe order, against local stand-ins.

The notebooks are thin over the library; this runner only orders them, passes papermill
parameters and makes sure the local AWS and X stand-ins answer (starting the ones that are not
running and stopping only those it started). The destroy notebook runs last, after the data
and model notebooks, so they have a stack to read from.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tweet_triage.config import PROJECT_ROOT, Settings, load_settings
from tweet_triage.errors import TriageError

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
RUN_ORDER = (
    "01-create-aws-resources",
    "03-combine",
    "04-filter",
    "05-process",
    "06-split",
    "07-train-evaluate",
    "08-inference-trends",
    "02-destroy-aws-resources",
)
DEFAULT_PARAMETERS: dict[str, dict[str, Any]] = {
    "01-create-aws-resources": {"stream_sample_tweets": 6000},
}


class NotebookError(TriageError):
    """A notebook failed; the message names it and the executed copy with the error."""


@contextmanager
def local_stand_ins() -> Iterator[None]:
    """Make sure the AWS and X stand-ins run; stop afterwards only the ones started here."""
    from tweet_triage_local.aws import moto_service, start_local_aws, stop_local_aws
    from tweet_triage_local.xapi.service import start_local_xapi, stop_local_xapi, xapi_service

    settings = Settings(deployment="local")
    started = []
    if not moto_service(settings.state_dir).running():
        start_local_aws(settings.state_dir, settings.local_aws_port)
        started.append(stop_local_aws)
    if not xapi_service(settings.state_dir).running():
        start_local_xapi(settings, start="0")
        started.append(stop_local_xapi)
    # The kernels inherit this process's environment: pin them to the stand-ins, whose
    # settings they read from the state folder.
    previous = os.environ.get("TT_DEPLOYMENT")
    os.environ["TT_DEPLOYMENT"] = "local"
    load_settings.cache_clear()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TT_DEPLOYMENT", None)
        else:
            os.environ["TT_DEPLOYMENT"] = previous
        load_settings.cache_clear()
        for stop in reversed(started):
            stop(settings.state_dir)


def run_notebooks(
    output_dir: Path,
    parameters: Mapping[str, Mapping[str, Any]] | None = None,
    only: list[str] | None = None,
) -> list[tuple[str, float]]:
    """Execute the notebooks in RUN_ORDER; return (name, seconds) for each."""
    import papermill

    merged = {name: dict(DEFAULT_PARAMETERS.get(name, {})) for name in RUN_ORDER}
    for name, values in (parameters or {}).items():
        if name not in merged:
            raise NotebookError(f"no notebook named {name!r}; known: {', '.join(RUN_ORDER)}")
        merged[name].update(values)
    output_dir.mkdir(parents=True, exist_ok=True)
    timings = []
    with local_stand_ins():
        for name in RUN_ORDER:
            if only and name not in only:
                continue
            executed = output_dir / f"{name}.ipynb"
            started = time.monotonic()
            print(f"==> {name} {merged[name] or ''}", flush=True)
            try:
                papermill.execute_notebook(
                    str(NOTEBOOKS_DIR / f"{name}.ipynb"),
                    str(executed),
                    parameters=merged[name],
                    cwd=str(PROJECT_ROOT),
                    kernel_name="python3",
                    progress_bar=False,
                )
            except papermill.PapermillExecutionError as exc:
                raise NotebookError(
                    f"notebook {name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue} "
                    f"(executed copy with the traceback: {executed})"
                ) from exc
            timings.append((name, time.monotonic() - started))
            print(f"    {timings[-1][1]:.1f} s -> {executed}", flush=True)
    return timings
