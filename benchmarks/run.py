"""`make bench`: run every stage's benchmark, write JSON results and a Markdown summary.

Each stage compares side by side in one run and reports ratios: this machine is shared and
noisy, so absolute numbers are context and the ratios are the finding.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
STAGES = ("stream", "data", "model", "inbox", "triage")
# Only when named (`make bench BENCH=soak`): soak takes 10 minutes, corpus_model about an hour,
# prior_shift a demo-budget training run and scoring the corpus val and test splits, data_cluster
# the 1.2 M data bench twice (local mode, then a cluster on loopback), store the triage store
# at a team's year (1 M tweets, 200 k decisions) on SQLite and PostgreSQL, suggest the saved-reply
# suggestion replayed over 1,500 corpus tweets with MiniLM on the CPU.
LONG_STAGES = ("soak", "corpus_model", "prior_shift", "data_cluster", "store", "suggest")


def machine() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    # Checked by hand: argparse tests an empty `*` positional against `choices` as one value.
    parser.add_argument("stages", nargs="*", help=f"Any of {', '.join(STAGES + LONG_STAGES)}.")
    parser.add_argument(
        "--summary-only", action="store_true", help="Rebuild summary.md from the results files."
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.stages) - set(STAGES + LONG_STAGES))
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(unknown)}; choose from {STAGES + LONG_STAGES}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    summary_lines = []
    for stage in [] if args.summary_only else args.stages or STAGES:
        module = importlib.import_module(f"benchmarks.bench_{stage}")
        started = time.perf_counter()
        result = module.run()
        result["machine"] = machine()
        result["wall_seconds"] = round(time.perf_counter() - started, 1)
        (RESULTS_DIR / f"{stage}.json").write_text(json.dumps(result, indent=2, default=str))
        summary_lines.append(module.summarise(result))
        print(summary_lines[-1], flush=True)
    # The summary covers every stage with a results file, so running one stage keeps the others.
    summary_lines = []
    for stage in STAGES + LONG_STAGES:
        path = RESULTS_DIR / f"{stage}.json"
        if path.is_file():
            module = importlib.import_module(f"benchmarks.bench_{stage}")
            try:
                summary_lines.append(module.summarise(json.loads(path.read_text())))
            except (KeyError, TypeError, IndexError) as exc:
                print(f"{path}: older format ({exc!r}); re-run this stage", file=sys.stderr)
    (RESULTS_DIR / "summary.md").write_text("\n\n".join(summary_lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
