"""The one SparkSession factory every data job uses.

Run from Python (the CLI, tests, notebooks) it starts Spark itself with `SPARK_MASTER`
(default `local[*]`, bound to 127.0.0.1) and the extra confs of `SPARK_CONF`. Run under
`spark-submit --master ...` it leaves the master and driver settings to spark-submit, so the
same job runs unchanged on a cluster.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

from pyspark.sql import SparkSession

from tweet_triage.config import Settings, load_settings

# Confs every job relies on: UTC for every date/hour derived from created_at, and a modest
# shuffle width (adaptive execution coalesces further) since a tweet corpus is small data.
BASE_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "16",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.parquet.compression.codec": "zstd",
}
# Only when Spark runs on this machine: a laptop or a CI runner, or a cluster on loopback.
LOCAL_CONF: dict[str, str] = {
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.memory": "2g",
    "spark.ui.showConsoleProgress": "false",
}


def submitted_by_spark_submit() -> bool:
    """spark-submit starts the JVM first and hands Python its gateway through these."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def runs_on_this_machine(master: str) -> bool:
    """Local mode, or a cluster whose master is on loopback (`local spark-up`): the driver
    binds to loopback too and the executors run this interpreter."""
    return master.startswith("local") or urlsplit(master).hostname in ("127.0.0.1", "localhost")


def spark_session(
    settings: Settings | None = None,
    app_name: str = "tweet-triage",
    conf: dict[str, str] | None = None,
) -> SparkSession:
    """The active session, or a new one configured from settings (later confs win)."""
    settings = settings or load_settings()
    builder = SparkSession.builder.appName(app_name)
    merged = dict(BASE_CONF)
    if not submitted_by_spark_submit():
        builder = builder.master(settings.spark_master)
        if runs_on_this_machine(settings.spark_master):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            # Python workers run this interpreter (the venv), not whatever python3 is on PATH.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            merged.update(LOCAL_CONF)
    merged.update(settings.spark_conf)
    merged.update(conf or {})
    for key, value in merged.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session
