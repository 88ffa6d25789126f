"""The eight notebooks run headless, in order, against the local stand-ins (tiny training)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from tests.conftest import SPARK_TEST_CONF
from tweet_triage.config import load_settings
from tweet_triage.hosts.processes import free_port
from tweet_triage_local.notebooks import RUN_ORDER, run_notebooks

# Eight notebooks with Spark and a tiny training run: beyond the suite's 15-minute default
# on a busy 2-core machine.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]


def _errors(notebook: Path) -> list[str]:
    book = nbformat.read(notebook, as_version=4)
    return [
        f"{output.get('ename')}: {output.get('evalue')}"
        for cell in book.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]


def test_notebooks_run_in_order_against_stand_ins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {
        "DATA_DIR": tmp_path / "data",
        "MODEL_DIR": tmp_path / "models" / "needs-support",
        "REPORTS_DIR": tmp_path / "reports",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "LOCAL_AWS_PORT": free_port(),
        "LOCAL_XAPI_PORT": free_port(),
        "LOCAL_XAPI_RATE": 0,
        "MISSION_PROFILE": "demo",
        "STACK_NAME": "nb-test",
        "SPARK_CONF": json.dumps(SPARK_TEST_CONF),  # each Spark notebook starts its own JVM
    }.items():
        monkeypatch.setenv(key, str(value))
    load_settings.cache_clear()

    timings = run_notebooks(
        tmp_path / "executed",
        {
            "01-create-aws-resources": {"stream_sample_tweets": 3000},
            "07-train-evaluate": {"max_steps": 3, "train_sample_size": 256},
        },
    )

    assert [name for name, _ in timings] == list(RUN_ORDER)
    for name in RUN_ORDER:
        assert _errors(tmp_path / "executed" / f"{name}.ipynb") == []
    manifest = json.loads((tmp_path / "data" / "splits" / "manifest.json").read_text())
    assert manifest  # the split notebook wrote it from streamed tweets
    assert (tmp_path / "reports" / "evaluation.md").is_file()
    assert (tmp_path / "data" / "predictions" / "test.parquet").exists()
    # The runner stopped the stand-ins it started: nothing answers on their ports.
    settings = load_settings()
    assert not any(settings.state_dir.glob("local-*.env"))
