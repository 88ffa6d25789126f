"""Fixtures shared by every test: isolation from the user's settings, and local stand-ins.

Integration tests talk to real servers on free loopback ports (moto server, the X stand-in,
sshd), never to mocks; unit tests may use moto's mock_aws.
"""

from __future__ import annotations

import logging
import os
import secrets
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tweet_triage.config import Settings, load_settings
from tweet_triage.hosts.processes import free_port
from tweet_triage_local.aws import local_aws_settings, start_local_aws, stop_local_aws
from tweet_triage_local.postgres import PostgresServer, remove_postgres, start_postgres

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# The tests' Spark: no UI, two cores, small shuffles (test data is tiny), and a JVM for short
# runs: the C1 compiler only and the serial GC (about half the time of a test's Spark jobs on
# two busy cores: C2 and G1 threads compete with the jobs for the CPUs). Integration tests pass
# it to the Spark of the processes they start as SPARK_CONF.
SPARK_TEST_CONF = {
    "spark.ui.enabled": "false",
    "spark.master": "local[2]",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}

# Tests never read the developer's .env (it may hold real credentials) nor the running
# stand-ins' settings of the checkout.
os.environ["TT_IGNORE_DOTENV"] = "1"
for _name in list(os.environ):
    if _name.startswith(("AWS_", "X_")) or _name in (
        "STACK_NAME",
        "MISSION_PROFILE",
        "TT_DEPLOYMENT",
    ):
        del os.environ[_name]


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test gets its own state folder (no stand-in runs there: the local deployment's
    endpoints are the default loopback ones), a fresh settings cache and, afterwards, the
    environment and root logger it started with (a CLI run under CliRunner points the console
    handler at a stream the runner closes afterwards)."""
    saved_environment = dict(os.environ)
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    monkeypatch.setenv("TT_STATE_DIR", str(tmp_path / "state"))
    # The checkout's reports and MLflow runs (a demo's drift verdict, its models) stay out.
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    load_settings.cache_clear()
    yield
    os.environ.clear()
    os.environ.update(saved_environment)
    load_settings.cache_clear()
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server for the whole session, on a free port."""
    state = tmp_path_factory.mktemp("moto-state")
    endpoint = start_local_aws(state, free_port())
    yield endpoint
    stop_local_aws(state)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local SparkSession for the whole session (Spark's start-up is the main cost of a
    Spark test); jobs that call spark_session() themselves get this one too (getOrCreate)."""
    from tweet_triage.data.spark import spark_session

    session = spark_session(
        Settings(spark_master="local[2]"), "tweet-triage-tests", SPARK_TEST_CONF
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A real PostgreSQL server on loopback for the session (postgresql installed by apt when
    missing), fsync off: a throwaway cluster."""
    state = tmp_path_factory.mktemp("postgres-state")
    server = start_postgres(state, durable=False)
    yield server
    remove_postgres(state)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A new, empty database on the session's PostgreSQL server, for one test."""
    return postgres_server.create_database(f"t_{secrets.token_hex(6)}")


@pytest.fixture
def local_aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings pointing at the (reset) moto server, as `local aws-up` would set them."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    for key, value in local_aws_settings(moto_endpoint).items():
        monkeypatch.setenv(key, value)
    load_settings.cache_clear()
    return load_settings()


@pytest.fixture
def tweepy_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The back-off waits tweepy's stream asks for, in order; each is cut to at most 0.5 s,
    so a test checks X's guidance (5 s after a 5xx, 60 s after a 429) without spending it."""
    import time

    import tweepy.streaming

    waits: list[float] = []

    def recorded_sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(min(seconds, 0.5))

    monkeypatch.setattr(tweepy.streaming, "sleep", recorded_sleep)
    return waits


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region for unit tests under moto's mock_aws (which stands in
    for AWS itself, so the deployment is `aws`: no endpoint override)."""
    for key, value in {
        "TT_DEPLOYMENT": "aws",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    load_settings.cache_clear()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest chains first, in their collected order: with `make test`'s workers
    (pytest-xdist) an xdist group (its tests run in series on one worker) starts at once, the
    other slow tests next, and the short ones fill in around them."""
    items.sort(
        key=lambda item: (
            item.get_closest_marker("xdist_group") is None,
            item.get_closest_marker("slow") is None,
        )
    )
