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

from tweet_triage.config import PROJECT_ROOT, Settings, load_settings
from tweet_triage.errors import TriageError

# Every step runs against the stand-ins with the profile the bundled corpus was measured for,
# whatever .env says (a profile matching no bundled tweet would stream nothing).
DEMO_ENVIRONMENT = {"TT_DEPLOYMENT": "local", "MISSION_PROFILE": "demo"}


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


def _xapi_stats() -> dict[str, Any]:
    """The stand-in's counters; its URL and token are the settings `local xapi-up` wrote."""
    current = Settings(deployment="local")  # re-read: the stand-in started after this process
    token = current.x_bearer_token.get_secret_value() if current.x_bearer_token else ""
    request = urllib.request.Request(
        f"{current.x_api_base_url}/_standin/stats?ids=false",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.load(response))


def wait_until_corpus_streamed(timeout: float = 900.0) -> dict[str, Any]:
    """Wait until the stand-in has replayed the whole corpus and its counter stops moving."""
    deadline = time.monotonic() + timeout
    last_sent, steady_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        stats = _xapi_stats()
        sent = int(stats["tweets_sent"])
        if sent != last_sent:
            last_sent, steady_since = sent, time.monotonic()
            print(
                f"    replayed {stats['position']:,}/{stats['corpus_size']:,} tweets, "
                f"{sent:,} matched the rules and were sent",
                flush=True,
            )
        if stats["exhausted"] and time.monotonic() - steady_since >= 3.0:
            return stats
        time.sleep(1.0)
    raise DemoError(f"the corpus was not replayed within {timeout:.0f} s (stand-in stats: {stats})")


def demo_steps(
    settings: Settings, replay_rate: float, train_args: str, facts: dict[str, Any]
) -> list[Step]:
    """The demo, step by step; `facts` collects what the summary reports besides files."""

    def stream_corpus() -> None:
        facts["xapi"] = wait_until_corpus_streamed()

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
            action=stream_corpus,
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
    facts: dict[str, Any] = {}
    steps = demo_steps(settings, replay_rate, train_args, facts)
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
    print(summary(settings, results, time.monotonic() - started, facts), flush=True)
    return results


def _run_step(step: Step) -> bool:
    try:
        if step.action is not None:
            step.action()
            return True
        assert step.command is not None
        env = {**os.environ, **DEMO_ENVIRONMENT, **step.env}
        return subprocess.run(step.command, cwd=PROJECT_ROOT, env=env, check=False).returncode == 0
    except (OSError, TriageError) as exc:
        print(f"    error: {exc}", flush=True)
        return False


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def summary(
    settings: Settings, results: list[StepResult], total_seconds: float, facts: dict[str, Any]
) -> str:
    """What the demo did, read back from the files each stage writes."""
    stage = {
        name: _read_json(settings.data_dir / "summaries" / f"{name}.json")
        for name in ("sync", "combine", "filter", "process", "label", "split")
    }
    manifest = _read_json(settings.data_dir / "splits" / "manifest.json")
    evaluation = _read_json(settings.reports_dir / "evaluation.json")
    lines = ["", "=" * 78, f"demo finished in {total_seconds / 60:.1f} min", "", "steps:"]
    lines += [f"  {r.seconds:7.1f} s  {r.title}" for r in results]

    xapi = facts.get("xapi", {})
    lines += ["", "tweets:"]
    if xapi:
        lines.append(
            f"  {xapi['position']:,} replayed by the X stand-in, {xapi['tweets_sent']:,} matched "
            "the profile's rules and were streamed through Firehose"
        )
    if stage["combine"]:
        lines.append(
            f"  {stage['sync'].get('rows_out', '?')} raw objects synced, "
            f"{stage['combine']['rows_in']:,} raw records, "
            f"{stage['combine']['rows_out']:,} unique tweets after combine"
        )
    kept = [
        f"{name} {stage[name]['rows_out']:,}"
        for name in ("filter", "process", "label")
        if stage[name]
    ]
    if kept:
        lines.append("  kept: " + ", ".join(kept))
    for name, split in (manifest.get("splits") or {}).items():
        counts = split.get("needs_support", {})
        share = counts.get("1", 0) / max(split["rows"], 1)
        lines.append(
            f"  {name:5s} {split['rows']:6,} tweets, {share:.1%} need support, "
            f"{split['first_created_at']} .. {split['last_created_at']}"
        )

    if evaluation:
        m, b = evaluation["metrics"], evaluation["business"]
        lo, hi = evaluation["intervals"]["f2"]
        lines += [
            "",
            f"needs-support model on the test split ({m['n']:,} tweets; threshold "
            f"{m['threshold']:.2f} chosen on val for F2):",
            f"  F2 {m['f2']:.3f} [{lo:.3f}, {hi:.3f}]   precision {m['precision']:.3f}   recall "
            f"{m['recall']:.3f}   PR AUC {m['pr_auc']:.3f}   ROC AUC {m['roc_auc']:.3f}",
            f"  flags {m['flag_rate']:.1%} of tweets; flagging every tweet would score F2 "
            f"{evaluation['f2_flag_everything']:.3f}",
            "  support-team minutes    model   random, same flag rate     random, 50%",
        ]
        for kind in ("missed", "wasted"):
            key = f"time_{kind}_min"
            cells = [f"{b['model'][key]:9.1f}"]
            for baseline in ("naive_same_rate", "naive_50"):
                change = b["pct_reduction"][baseline][f"time_{kind}"]
                word = "less" if change >= 0 else "more"
                cells.append(f"{b[baseline][key]:7.1f} (model {abs(change):.0f}% {word})")
            lines.append(f"  time {kind:6s}       " + "   ".join(cells))
        if "flag_everything" in b:  # the headline: missed + wasted against the extremes
            cut = b["pct_reduction"]["flag_everything"]["total_lost"]
            lines.append(
                f"  support minutes lost (missed + wasted) {b['model']['total_lost_min']:.1f}"
                f", flag everything {b['flag_everything']['total_lost_min']:.1f} (model "
                f"{-cut:+.0f}%), flag nothing {b['flag_nothing']['total_lost_min']:.1f}"
            )
        mlflow = evaluation.get("mlflow", {})
        lines.append(
            f"  MLflow run {mlflow.get('run_id')}, registered model version "
            f"{mlflow.get('registered_version')}: make mlflow-ui"
        )
    lines += [
        "",
        f"reports: {settings.reports_dir / 'evaluation.md'}, {settings.reports_dir / 'trends.md'}",
    ]
    return "\n".join(lines)
