"""`make demo`: from a fresh clone to a trained, evaluated model, then tear everything down.

Each step runs the same make target or CLI command a user would run, so the demo proves the
documented path rather than a shortcut. A failing step stops the demo with its cause, and the
teardown (streamer, stack, stand-ins) runs whatever happened, so nothing is left running.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tweet_triage.config import PROJECT_ROOT, Settings, load_dotenv_files, load_settings
from tweet_triage.errors import TriageError


class DemoError(TriageError):
    """A demo step failed; the message names the step and where its output is."""


@dataclass
class Step:
    title: str
    command: list[str] | None = None
    action: Callable[[], None] | None = None
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class StepResult:
    title: str
    seconds: float
    ok: bool


def _make(*targets: str, makefile: str = "Makefile", **variables: str) -> list[str]:
    return ["make", "--no-print-directory", "-f", makefile, *targets] + [
        f"{key}={value}" for key, value in variables.items()
    ]


def _stream_make(*targets: str) -> list[str]:
    return _make(*targets, makefile="Makefile-stream")


def _xapi_stats(settings: Settings) -> dict[str, Any]:
    """The stand-in's counters; its URL and token are the settings `local xapi-up` wrote."""
    load_dotenv_files()
    base_url = os.environ.get("X_API_BASE_URL", settings.x_api_base_url)
    request = urllib.request.Request(
        f"{base_url}/_standin/stats?ids=false",
        headers={"Authorization": f"Bearer {os.environ.get('X_BEARER_TOKEN', '')}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.load(response))


def wait_until_corpus_streamed(settings: Settings, timeout: float = 900.0) -> None:
    """Wait until the stand-in has replayed the whole corpus and its counter stops moving."""
    deadline = time.monotonic() + timeout
    last_sent, steady_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        stats = _xapi_stats(settings)
        sent = int(stats["tweets_sent"])
        if sent != last_sent:
            last_sent, steady_since = sent, time.monotonic()
            print(
                f"    replayed {stats['position']:,}/{stats['corpus_size']:,} tweets, "
                f"{sent:,} matched the rules and were sent",
                flush=True,
            )
        if stats["exhausted"] and time.monotonic() - steady_since >= 3.0:
            return
        time.sleep(1.0)
    raise DemoError(f"the corpus was not replayed within {timeout:.0f} s (stand-in stats: {stats})")


def demo_steps(settings: Settings, replay_rate: float, train_args: str) -> list[Step]:
    return [
        Step("start the local AWS stand-in (moto server)", _stream_make("local-aws-up")),
        Step(
            "start the X API stand-in, replaying the demo corpus from its start",
            [
                sys.executable,
                "-m",
                "tweet_triage",
                "local",
                "xapi-up",
                "--start",
                "0",
                "--rate",
                str(replay_rate),
            ],
        ),
        Step("start the streamer host (sshd on loopback)", _stream_make("local-host-up")),
        Step("create the AWS stack with Ansible", _stream_make("aws-create")),
        Step("show the stack", _stream_make("aws-status")),
        Step("provision the streamer host with Ansible", _stream_make("provision")),
        Step("start the streamer", _stream_make("stream-start")),
        Step(
            "stream the demo corpus through Firehose into S3",
            action=lambda: wait_until_corpus_streamed(settings),
        ),
        Step("stop the streamer cleanly (flush, exit 0)", _stream_make("stream-stop")),
        Step("streamer status after the stop", _stream_make("stream-status")),
        Step("sync raw objects from S3", _make("sync")),
        Step("combine (Spark)", _make("combine")),
        Step("filter (Spark)", _make("filter")),
        Step("process (Spark)", _make("process")),
        Step("label (Spark)", _make("label")),
        Step("split (Spark)", _make("split")),
        Step("train the needs-support model", _make("train", TRAIN_ARGS=train_args)),
        Step("evaluate: ML and business metrics, plots, report", _make("evaluate")),
        Step("predict on the test split and check drift", _make("inference")),
        Step("destroy the AWS stack", _stream_make("aws-destroy")),
        Step("stop every local stand-in", _stream_make("local-down")),
    ]


def teardown() -> None:
    """Best effort, each part independent: leave nothing running after a failed step."""
    for command in (
        _stream_make("stream-stop"),
        _stream_make("aws-destroy"),
        _stream_make("local-down"),
    ):
        subprocess.run(command, cwd=PROJECT_ROOT, check=False)


def run_demo(replay_rate: float = 2000.0, train_args: str = "--budget demo") -> list[StepResult]:
    settings = load_settings()
    steps = demo_steps(settings, replay_rate, train_args)
    results: list[StepResult] = []
    started = time.monotonic()
    for number, step in enumerate(steps, 1):
        print(f"\n==> [{number}/{len(steps)}] {step.title}", flush=True)
        if step.command:
            print(f"    $ {' '.join(step.command)}", flush=True)
        step_started = time.monotonic()
        ok = _run_step(step)
        results.append(StepResult(step.title, time.monotonic() - step_started, ok))
        print(f"    ({results[-1].seconds:.1f} s)", flush=True)
        if not ok:
            print(
                f"\n!! demo stopped: step '{step.title}' failed (its output is above); "
                "tearing down so nothing is left running",
                flush=True,
            )
            teardown()
            raise DemoError(f"step '{step.title}' failed; see its output above")
    print(summary(settings, results, time.monotonic() - started), flush=True)
    return results


def _run_step(step: Step) -> bool:
    try:
        if step.action is not None:
            step.action()
            return True
        assert step.command is not None
        env = {**os.environ, **step.env}
        return subprocess.run(step.command, cwd=PROJECT_ROOT, env=env, check=False).returncode == 0
    except (OSError, TriageError) as exc:
        print(f"    error: {exc}", flush=True)
        return False


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def summary(settings: Settings, results: list[StepResult], total_seconds: float) -> str:
    """What the demo did, read back from the files each stage writes."""
    summaries = settings.data_dir / "summaries"
    lines = ["", "=" * 78, f"demo finished in {total_seconds / 60:.1f} min", ""]
    lines.append("step timings:")
    lines += [f"  {r.seconds:7.1f} s  {r.title}" for r in results]
    lines.append("")
    lines.append("data kept per stage (rows in -> rows out):")
    for stage in ("sync", "combine", "filter", "process", "label", "split"):
        data = _read_json(summaries / f"{stage}.json")
        if data:
            lines.append(
                f"  {stage:8s} {data.get('rows_in', '?'):>8} -> {data.get('rows_out', '?')}"
            )
    manifest = _read_json(settings.data_dir / "splits" / "manifest.json")
    for name, split in (manifest.get("splits") or {}).items():
        lines.append(
            f"  split {name:5s} {split.get('rows', split.get('count', '?'))} tweets, "
            f"needs support {split.get('needs_support_share', '?')}"
        )
    metrics = _read_json(settings.reports_dir / "metrics.json")
    if metrics:
        lines.append("")
        lines.append("needs-support model on the test split:")
        lines.append(json.dumps(metrics.get("headline", metrics), indent=2)[:2000])
    lines.append("")
    lines.append(f"report:  {settings.reports_dir}")
    lines.append("MLflow:  make mlflow-ui  (then http://127.0.0.1:5001)")
    return "\n".join(lines)
