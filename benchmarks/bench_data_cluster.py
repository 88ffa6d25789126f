"""The data stages on a Spark standalone cluster on this machine against `local[*]`, side by
side in one run: `make bench BENCH=data_cluster` (about twice the data bench's time).

The same generated input (1.2 M raw tweets by default; BENCH_DATA_SIZES to change) goes
through combine, filter, process, label and split twice, each in a fresh driver process: in
`local[*]`, then in client mode on a master and two one-core workers on loopback (the same
two cores), started for the run and stopped after it. On one machine the cluster can only
add cost (executor JVMs, task serialisation, shuffle over loopback); the ratio says how much.
CPU counts the cluster's processes too (master, workers, executors and their Python).
"""

from __future__ import annotations

from typing import Any

from benchmarks import bench_data


def run() -> dict[str, Any]:
    return bench_data.run(cluster=True, sizes={"1.2M": bench_data.SIZES["1.2M"]})


def summarise(result: dict[str, Any]) -> str:
    return bench_data.summarise(result).replace(
        "## Data stage (PySpark)", "## Data stage on a Spark cluster (loopback, client mode)", 1
    )
