"""`make demo`: from a fresh clone to a trained, evaluated model, then tear everything down.

Each step runs the same make target or CLI command a user would run, so the demo proves the
documented path rather than a shortcut. A failing step stops the demo with its cause, and the
teardown (streamer, stack, stand-ins) runs whatever happened, so nothing is left running.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tweet_triage.config import PROJECT_ROOT, Settings, load_settings
from tweet_triage.errors import TriageError
from tweet_triage.hosts.processes import free_port
from tweet_triage.live.scorer_status import scorer_stats_path
from tweet_triage_local.demo_replies import (
    AUTHOR_DELAY_SECONDS,
    AUTHOR_SHARE,
    Inbox,
    answer_top_flagged,
    percentiles,
    reply_summary_lines,
    suggestion_hit_rate,
    team_member_token,
    wait_for_author_answers,
)

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


def _standin_call(path: str, changes: dict[str, Any] | None = None) -> Any:
    """One call to the X stand-in's control API; its URL and token are the settings
    `local xapi-up` wrote (re-read: the stand-in started after this process)."""
    current = Settings(deployment="local")
    token = current.x_bearer_token.get_secret_value() if current.x_bearer_token else ""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(
        f"{current.x_api_base_url}{path}",
        data=None if changes is None else json.dumps(changes).encode(),
        method="GET" if changes is None else "POST",
        headers=headers,
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _xapi_stats() -> dict[str, Any]:
    """The stand-in's counters."""
    return dict(_standin_call("/_standin/stats?ids=false"))


def _xapi_replay(changes: dict[str, Any]) -> dict[str, Any]:
    """Move the stand-in's replay (start, rate, reset_stats) through its control endpoint."""
    return dict(_standin_call("/_standin/replay", changes))


def _sent_ids() -> list[str]:
    return [str(i) for i in _standin_call("/_standin/stats").get("ids_sent", [])]


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


# --- the live half: a fresh slice through streamer, Firehose, S3, follower, scorer, inbox ---

LIVE_SLICE = 3000  # tweets the stand-in replays for the live half (the corpus's last ones)
LIVE_RATE = 50.0  # tweets per second
LIVE_SCORE_EVERY = "5"  # seconds between the scorer's micro-batches
LIVE_FOLLOW_SECONDS = "2"  # seconds between the follower's bucket polls


def live_environment(settings: Settings, port: int) -> dict[str, str]:
    """The live half's own folders and store, so it scores only the fresh slice.

    The pid files stay in the usual state folder (`triage-down` and the teardown find them).
    """
    root = live_dir(settings)
    return {
        "DATA_DIR": str(root / "data"),
        "TRIAGE_CHECKPOINT_DIR": str(root / "checkpoint"),
        "TRIAGE_DATABASE_URL": f"sqlite:///{root / 'triage.db'}",
        "TRIAGE_SCORE_EVERY": LIVE_SCORE_EVERY,
        "TRIAGE_FOLLOW_SECONDS": LIVE_FOLLOW_SECONDS,
        "TRIAGE_PORT": str(port),
    }


def live_dir(settings: Settings) -> Path:
    return settings.state_dir.expanduser().resolve() / "demo-live"


def latency_summary(sent_at: dict[str, float], stored_at: dict[str, float]) -> dict[str, Any]:
    """Seconds from sent (at the streamer) to stored (in the inbox store), per tweet in both.

    A tweet the profile's filter dropped never reaches the store and is not counted; a tweet
    seen in the store without a send time (sent before polling began) is skipped too.
    """
    seconds = sorted(stored_at[i] - sent_at[i] for i in stored_at if i in sent_at)
    if not seconds:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    p95 = seconds[0] if len(seconds) == 1 else statistics.quantiles(seconds, n=20)[-1]
    return {
        "n": len(seconds),
        "p50": statistics.median(seconds),
        "p95": p95,
        "max": seconds[-1],
    }


def follow_live_slice(
    store_url: str, scorer_stats: Path, poll: float = 0.5, timeout: float = 600.0
) -> dict[str, Any]:
    """Replay the slice and watch both ends on this process's wall clock (time.time()).

    A tweet's arrival at the streamer is when the stand-in's `ids_sent` first lists it (the
    streamer reads the stream over loopback); its appearance in the inbox store is when the
    store first lists it. Both are polled every `poll` seconds, so each carries up to that.
    The scorer's own stats file gives its sustained rate: tweets scored per second of
    micro-batches.
    """
    from tweet_triage.live.store import TriageStore

    stats = _xapi_stats()
    start = max(int(stats["corpus_size"]) - LIVE_SLICE, 0)
    _xapi_replay({"start": start, "rate": LIVE_RATE, "reset_stats": True})
    store = TriageStore(store_url)
    store.migrate()  # safe to repeat; the inbox has already migrated it
    sent_at: dict[str, float] = {}
    stored_at: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    last_change = time.monotonic()
    exhausted = False
    try:
        while time.monotonic() < deadline:
            now = time.time()
            for tweet_id in _sent_ids():
                sent_at.setdefault(tweet_id, now)
            if store.count_scored() != len(stored_at):
                now = time.time()
                for view in store.tweets(limit=1_000_000):
                    if view.id not in stored_at:
                        stored_at[view.id] = now
                        last_change = time.monotonic()
                print(
                    f"    {len(sent_at):,} sent to the streamer, {len(stored_at):,} in the inbox",
                    flush=True,
                )
            exhausted = exhausted or bool(_xapi_stats()["exhausted"])
            # done: the slice is out and the scorer has had 4 micro-batches with nothing new
            if exhausted and time.monotonic() - last_change >= 4 * float(LIVE_SCORE_EVERY) + 10:
                break
            time.sleep(poll)
        else:
            raise DemoError(f"the live slice did not settle within {timeout:.0f} s")
        return {
            "sent": len(sent_at),
            "received": store.count_scored(),
            "flagged": store.count_flagged(),
            "latency": latency_summary(sent_at, stored_at),
            "scorer": json.loads(scorer_stats.read_text()) if scorer_stats.is_file() else None,
        }
    finally:
        store.close()


def answer_and_measure(live_env: dict[str, str]) -> dict[str, Any]:
    """The answering half on the live slice's inbox (see demo_replies); its figures."""
    from tweet_triage.live.store import TriageStore

    env = {**os.environ, **DEMO_ENVIRONMENT, **live_env}
    inbox = Inbox(f"http://127.0.0.1:{live_env['TRIAGE_PORT']}", team_member_token(env))
    store = TriageStore(live_env["TRIAGE_DATABASE_URL"])
    try:
        replies = answer_top_flagged(store, inbox, _standin_call)
        replies["reopened"], replies["author_answers"] = wait_for_author_answers(
            store, _standin_call, timeout=AUTHOR_DELAY_SECONDS + 180
        )
        since = datetime.now(UTC) - timedelta(days=1)
        replies["first_response"] = percentiles(store.first_response_times(since))
    finally:
        store.close()
    replies["hit_rate"] = suggestion_hit_rate(replies["examples"])
    return replies


def demo_steps(
    settings: Settings, replay_rate: float, train_args: str, facts: dict[str, Any]
) -> list[Step]:
    """The demo, step by step; `facts` collects what the summary reports besides files."""

    def stream_corpus() -> None:
        facts["xapi"] = wait_until_corpus_streamed()

    live_env = live_environment(settings, free_port())

    def fresh_live_dir() -> None:
        shutil.rmtree(live_dir(settings), ignore_errors=True)
        live_dir(settings).mkdir(parents=True)

    def stream_live_slice() -> None:
        stats = scorer_stats_path(settings.state_dir)
        facts["live"] = follow_live_slice(live_env["TRIAGE_DATABASE_URL"], stats)

    def answer_in_inbox() -> None:
        facts["replies"] = answer_and_measure(live_env)

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
                "--author-share",
                str(AUTHOR_SHARE),
                "--author-delay",
                str(AUTHOR_DELAY_SECONDS),
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
        # the live half: an empty bucket and fresh folders, so only the new slice is scored
        Step("live: recreate the stack (empty bucket)", _stream_make("aws-destroy")),
        Step("live: create the AWS stack again", _stream_make("aws-create")),
        Step("live: provision the streamer host again", _stream_make("provision")),
        Step("live: fresh folders and store for the live half", action=fresh_live_dir),
        Step(
            "live: connect the stand-in's X account (OAuth with PKCE, approved by script)",
            [sys.executable, "-m", "tweet_triage", "local", "xapi-connect"],
            env=live_env,
        ),
        Step(
            f"live: start the sync follower, the scorer (every {LIVE_SCORE_EVERY} s), the inbox, "
            "the outbox worker",
            _stream_make("triage-up"),
            env=live_env,
        ),
        Step("live: start the streamer", _stream_make("stream-start")),
        Step(
            f"live: replay the corpus's last {LIVE_SLICE:,} tweets at {LIVE_RATE:g}/s into the "
            "inbox",
            action=stream_live_slice,
        ),
        Step(
            "live: a team member answers the top flagged tweets through the inbox's API; "
            "some authors answer back",
            action=answer_in_inbox,
        ),
        Step("live: stop the inbox, scorer and follower", _stream_make("triage-down")),
        Step("live: stop the streamer", _stream_make("stream-stop")),
        Step("destroy the AWS stack", _stream_make("aws-destroy")),
        Step("stop every local stand-in", _stream_make("local-down")),
    ]


def teardown() -> None:
    """Best effort, each part independent: leave nothing running after a failed step."""
    for command in (
        _stream_make("triage-down"),
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

    live = facts.get("live")
    if live:
        lines += ["", *live_summary_lines(live)]
    if facts.get("replies"):
        lines += ["", *reply_summary_lines(facts["replies"])]

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


def live_summary_lines(live: dict[str, Any]) -> list[str]:
    latency = live["latency"]
    lines = [
        f"live half ({LIVE_SLICE:,} tweets replayed at {LIVE_RATE:g}/s, scorer every "
        f"{LIVE_SCORE_EVERY} s):",
        f"  {live['sent']:,} sent to the streamer, {live['received']:,} kept by the profile and "
        f"received by the inbox, {live['flagged']:,} flagged",
    ]
    if latency["n"]:
        lines.append(
            f"  streamer -> inbox store: p50 {latency['p50']:.1f} s, p95 {latency['p95']:.1f} s, "
            f"max {latency['max']:.1f} s over {latency['n']:,} tweets (the demo's wall clock, "
            "polled every 0.5 s)"
        )
    scorer = live.get("scorer")
    if scorer and scorer.get("busy_seconds"):
        lines.append(
            f"  scorer: {scorer['scored'] / scorer['busy_seconds']:.0f} tweets/s sustained "
            f"({scorer['scored']:,} scored in {scorer['busy_seconds']:.0f} s of "
            f"{scorer['batches']} micro-batches, {scorer['engine']})"
        )
    lines.append(
        "  the Firehose stand-in (moto) delivers to S3 at once; on AWS add the buffering "
        "interval (FIREHOSE_BUFFER_SECONDS)"
    )
    return lines
