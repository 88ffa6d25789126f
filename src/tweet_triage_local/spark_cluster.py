"""A Spark standalone cluster on loopback: one master and two workers, the deploy classes a
production standalone cluster runs.

pip's pyspark ships `bin/spark-class` but no `sbin/start-master.sh`; those scripts only run
`spark-class org.apache.spark.deploy.master.Master` and `...deploy.worker.Worker`, which is
what this module starts, each as a service of the project's process manager (pid file, log,
SIGTERM to its process group, so a worker's executors stop with it). Workers are bounded
(cores and memory each) so the cluster shares a small machine; the master's web UI lists
them and the applications.

While the cluster runs, `<state dir>/local-spark.env` sets `SPARK_MASTER` to its URL, so every
Spark session the project starts (the data stages, the scorer, notebooks) runs on it in
client mode; `spark-submit` runs the same commands as on a production cluster
(`submit_command`). `spark-down` removes the file: sessions are `local[*]` again.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyspark

from tweet_triage.config import Settings
from tweet_triage.data.spark import runs_on_this_machine
from tweet_triage.errors import TriageError
from tweet_triage.hosts.processes import Service, free_port
from tweet_triage_local.settings_files import read_local_env, remove_local_env, write_local_env

SPARK_HOME = Path(pyspark.__file__).resolve().parent
SETTINGS_NAME = "spark"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
# Heap of the master's and each worker's own JVM (they schedule; executors do the work).
DAEMON_MEMORY = "512m"
DEFAULT_WORKERS = 2
DEFAULT_WORKER_CORES = 1
DEFAULT_WORKER_MEMORY = "2g"
START_TIMEOUT = 120.0


class SparkClusterError(TriageError):
    """The local Spark cluster could not be started, reached or used; the message says why."""


@dataclass(frozen=True)
class ClusterLayout:
    """What `spark-up` started, kept in `<state dir>/spark-cluster/cluster.json`."""

    port: int
    ui_port: int
    workers: int
    worker_cores: int
    worker_memory: str

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"


@dataclass(frozen=True)
class ClusterFiles:
    """Pid files, logs, work folders and the layout under `<state dir>/spark-cluster/`."""

    state_dir: Path

    @property
    def home(self) -> Path:
        return self.state_dir / "spark-cluster"

    @property
    def layout_file(self) -> Path:
        return self.home / "cluster.json"

    @property
    def master(self) -> Service:
        return Service("spark-master", self.home)

    def worker(self, number: int) -> Service:
        return Service(f"spark-worker-{number}", self.home)

    def worker_dir(self, number: int) -> Path:
        """The worker's scratch space: executors' logs and the application files."""
        return self.home / "work" / f"worker-{number}"

    def layout(self) -> ClusterLayout | None:
        try:
            return ClusterLayout(**json.loads(self.layout_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def services(self) -> list[Service]:
        """Every service of the cluster the layout names (workers first: they stop first)."""
        layout = self.layout()
        count = layout.workers if layout else 0
        return [self.worker(n) for n in range(1, count + 1)] + [self.master]


def _daemon_environment() -> dict[str, str]:
    """The master's and workers' environment: this pyspark as SPARK_HOME, loopback only, and
    the project's interpreter first on PATH, so executors find it as `python3` as they do on
    the nodes of a production cluster where the project is installed."""
    return {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }


def _spark_class(main_class: str, *args: str) -> list[str]:
    spark_class = SPARK_HOME / "bin" / "spark-class"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SparkClusterError(
            "Spark needs Java 17 or later: install it (apt-get install openjdk-17-jre-headless) "
            "or set JAVA_HOME"
        )
    return [str(spark_class), main_class, *args]


def master_state(ui_url: str) -> dict[str, Any] | None:
    """The master's own account (`/json/`: status, workers, applications); None if silent."""
    try:
        with urllib.request.urlopen(f"{ui_url}/json/", timeout=2) as response:
            return dict(json.load(response))
    except (OSError, ValueError):
        return None


def _worker_alive(ui_url: str, port: int) -> bool:
    """Has the worker on `port` registered? (A killed one may still be listed for a minute.)"""
    workers = (master_state(ui_url) or {}).get("workers", [])
    return any(int(w["port"]) == port and w.get("state") == "ALIVE" for w in workers)


def start_spark_cluster(
    state_dir: Path,
    *,
    port: int | None = None,
    ui_port: int | None = None,
    workers: int = DEFAULT_WORKERS,
    worker_cores: int = DEFAULT_WORKER_CORES,
    worker_memory: str = DEFAULT_WORKER_MEMORY,
) -> ClusterLayout:
    """Start the master and every worker not running (all of them, or the ones that died), and
    record `SPARK_MASTER` for later commands. Safe to repeat: a running cluster keeps its
    layout and ports."""
    files = ClusterFiles(state_dir)
    layout = files.layout() if files.master.running() else None
    if layout is None:
        stop_spark_cluster(state_dir)  # workers left by a master that died
        layout = ClusterLayout(
            port=port or free_port(),
            ui_port=ui_port or free_port(),
            workers=workers,
            worker_cores=worker_cores,
            worker_memory=worker_memory,
        )
        files.home.mkdir(parents=True, exist_ok=True)
        files.layout_file.write_text(json.dumps(asdict(layout)))
    environment = _daemon_environment()
    files.master.start(
        _spark_class(
            MASTER_CLASS,
            *("--host", "127.0.0.1", "--port", str(layout.port)),
            *("--webui-port", str(layout.ui_port)),
        ),
        ready=lambda: (master_state(layout.ui_url) or {}).get("status") == "ALIVE",
        env=environment,
        timeout=START_TIMEOUT,
        port=layout.port,
    )
    # The workers' JVMs start side by side; each is ready once the master lists it alive.
    starting: dict[int, Service] = {}
    for number in range(1, layout.workers + 1):
        service = files.worker(number)
        if service.running():
            continue
        worker_port = free_port()
        service.start(
            _spark_class(
                WORKER_CLASS,
                *("--host", "127.0.0.1", "--port", str(worker_port)),
                *("--webui-port", str(free_port())),
                *("--cores", str(layout.worker_cores), "--memory", layout.worker_memory),
                *("--work-dir", str(files.worker_dir(number))),
                layout.master_url,
            ),
            ready=lambda: True,
            env=environment,
        )
        starting[worker_port] = service
    _wait_registered(layout, starting)
    write_local_env(state_dir, SETTINGS_NAME, {"SPARK_MASTER": layout.master_url})
    return layout


def _wait_registered(layout: ClusterLayout, starting: dict[int, Service]) -> None:
    """Until the master lists every starting worker (by its port) alive."""
    deadline = time.monotonic() + START_TIMEOUT
    while starting:
        for worker_port, service in list(starting.items()):
            if not service.running():
                raise SparkClusterError(
                    f"{service.name} exited while starting; see {service.log_file}:\n"
                    f"{service.log_tail()}"
                )
            if _worker_alive(layout.ui_url, worker_port):
                del starting[worker_port]
        if starting and time.monotonic() > deadline:
            late = list(starting.values())
            for service in late:
                service.stop()
            raise SparkClusterError(
                f"{', '.join(s.name for s in late)} did not register with the master "
                f"{layout.master_url} within {START_TIMEOUT:.0f} s; see {late[0].log_file}:\n"
                f"{late[0].log_tail()}"
            )
        time.sleep(0.5)


def stop_spark_cluster(state_dir: Path) -> list[str]:
    """Stop the workers (their executors with them), then the master; safe to repeat."""
    files = ClusterFiles(state_dir)
    remove_local_env(state_dir, SETTINGS_NAME)
    running = [service for service in files.services() if service.running()]
    lines = [service.stop() for service in running]
    files.layout_file.unlink(missing_ok=True)
    return lines or ["spark cluster: not running"]


def cluster_status(state_dir: Path) -> dict[str, Any]:
    """Running or not, the URLs, each worker's pid and the master's view of it."""
    files = ClusterFiles(state_dir)
    layout = files.layout()
    master_pid = files.master.pid()
    if layout is None or master_pid is None:
        return {"running": False}
    state = master_state(layout.ui_url) or {}
    return {
        "running": True,
        "master_url": layout.master_url,
        "ui_url": layout.ui_url,
        "pids": {service.name: service.pid() for service in files.services()},
        "alive_workers": int(state.get("aliveworkers", 0)),
        "cores": int(state.get("cores", 0)),
        "memory_mb": int(state.get("memory", 0)),
        "active_apps": [app.get("name") for app in state.get("activeapps", [])],
        "recorded_master": read_local_env(state_dir, SETTINGS_NAME).get("SPARK_MASTER"),
    }


def status_lines(status: dict[str, Any]) -> list[str]:
    if not status["running"]:
        return ["spark cluster: not running (tweet-triage local spark-up)"]
    pids = ", ".join(f"{name} {pid or 'not running'}" for name, pid in status["pids"].items())
    return [
        f"spark cluster: master {status['master_url']}, web UI {status['ui_url']}",
        f"  {status['alive_workers']} worker(s) alive, {status['cores']} core(s), "
        f"{status['memory_mb']} MiB for executors; {pids}",
        f"  running applications: {', '.join(status['active_apps']) or 'none'}",
    ]


def submit_command(
    settings: Settings, args: Sequence[str], spark_args: Sequence[str] = ()
) -> tuple[list[str], dict[str, str]]:
    """`spark-submit --deploy-mode client [SPARK_ARGS] submit.py ARGS` against SPARK_MASTER, a
    cluster on this machine, and its environment: the project's settings, and this
    interpreter as the driver's and the executors' Python."""
    master = settings.spark_master
    if not args:
        raise SparkClusterError("name the command to submit, e.g. `combine` or `triage score`")
    if master.startswith("local") or not runs_on_this_machine(master):
        raise SparkClusterError(
            f"SPARK_MASTER={master} is not a cluster on this machine: start one "
            "(tweet-triage local spark-up), or submit to a remote cluster as docs/cluster.md shows"
        )
    entry = importlib.util.find_spec("tweet_triage.spark_submit")
    assert entry is not None and entry.origin is not None
    command = [
        str(SPARK_HOME / "bin" / "spark-submit"),
        *("--master", master, "--deploy-mode", "client", *spark_args),
        entry.origin,
        *args,
    ]
    environment = {
        **os.environ,
        **settings.environment(),
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }
    return command, environment
