"""`config get NAME` prints one effective setting for make and scripts; never a secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tweet_triage.cli import app
from tweet_triage.config import load_settings


def test_prints_the_effective_value_by_its_environment_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("SPARK_CONF", '{"spark.ui.enabled": "false"}')
    load_settings.cache_clear()
    runner = CliRunner()
    assert runner.invoke(app, ["config", "get", "DATA_DIR"]).output == f"{tmp_path}/elsewhere\n"
    spark_conf = runner.invoke(app, ["config", "get", "spark_conf"]).output
    assert spark_conf == '{"spark.ui.enabled": "false"}\n'


@pytest.mark.parametrize(
    ("name", "message"),
    [("X_BEARER_TOKEN", "is a secret"), ("DATA_FOLDER", "is not a setting")],
)
def test_refuses_secrets_and_unknown_names(name: str, message: str) -> None:
    load_settings.cache_clear()
    result = CliRunner().invoke(app, ["config", "get", name])
    assert result.exit_code == 2 and message in result.output
