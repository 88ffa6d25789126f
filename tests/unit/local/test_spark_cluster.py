"""The local Spark cluster's pieces that need no JVM: the spark-submit command line, which
masters count as this machine, and a stop with nothing running."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tweet_triage.config import Settings
from tweet_triage.data.spark import runs_on_this_machine
from tweet_triage_local.spark_cluster import (
    SPARK_HOME,
    SparkClusterError,
    cluster_status,
    stop_spark_cluster,
    submit_command,
)


@pytest.mark.parametrize(
    ("master", "here"),
    [
        ("local[*]", True),
        ("local[2]", True),
        ("spark://127.0.0.1:7077", True),
        ("spark://localhost:7077", True),
        ("spark://10.0.0.5:7077", False),
        ("yarn", False),
    ],
)
def test_runs_on_this_machine(master: str, here: bool) -> None:
    assert runs_on_this_machine(master) is here


def test_submit_command_is_client_mode_on_the_loopback_master() -> None:
    settings = Settings(spark_master="spark://127.0.0.1:7077")
    command, environment = submit_command(
        settings, ["combine", "--raw", "x"], spark_args=["--conf", "a=b"]
    )
    assert command[0] == str(SPARK_HOME / "bin" / "spark-submit")
    assert command[1:7] == [
        "--master",
        "spark://127.0.0.1:7077",
        "--deploy-mode",
        "client",
        "--conf",
        "a=b",
    ]
    assert Path(command[7]).name == "spark_submit.py" and Path(command[7]).is_file()
    assert command[8:] == ["combine", "--raw", "x"]
    assert environment["PYSPARK_PYTHON"] == sys.executable
    assert environment["SPARK_LOCAL_IP"] == "127.0.0.1"


@pytest.mark.parametrize("master", ["local[*]", "spark://10.0.0.5:7077"])
def test_submit_command_refuses_a_master_elsewhere(master: str) -> None:
    with pytest.raises(SparkClusterError, match=r"SPARK_MASTER=.*local spark-up"):
        submit_command(Settings(spark_master=master), ["combine"])


def test_submit_command_needs_a_command() -> None:
    with pytest.raises(SparkClusterError, match="name the command"):
        submit_command(Settings(spark_master="spark://127.0.0.1:7077"), [])


def test_stop_and_status_with_nothing_running(tmp_path: Path) -> None:
    assert stop_spark_cluster(tmp_path) == ["spark cluster: not running"]
    assert cluster_status(tmp_path) == {"running": False}
