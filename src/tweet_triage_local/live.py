"""`make live`: the whole stack on this machine with a trained model, left running for people.

Stand-ins (moto, X replaying the demo corpus at LIVE_RATE tweets/s, the SSH streamer host),
the stack, the streamer, then the live half (`triage-up`: sync follower, streaming scorer,
inbox, reply outbox worker), with the stand-in's X account connected so replies go out at
once. Without a model it first trains one with the demo budget on what has streamed so far
(the data stages and `train`, as `make demo` runs them), while the replay goes on. It ends by
printing the inbox URL and a generated login. `make live-down` stops everything, in reverse.

Every step is the make target or command a user would run (`tweet_triage_local.demo`'s
helpers).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

from tweet_triage.config import PROJECT_ROOT, load_settings
from tweet_triage.errors import TriageError
from tweet_triage.live.store import TriageStore
from tweet_triage_local.demo import DEMO_ENVIRONMENT, _make, _stream_make

LIVE_USER = "live"
FIRST_TWEETS_WAIT = 300.0  # seconds `make live` waits to report the first scored tweets


class LiveError(TriageError):
    """A `make live` step failed; the message names it."""


def _run(command: list[str], **extra_env: str) -> None:
    print(f"==> {' '.join(command)}", flush=True)
    env = {**os.environ, **DEMO_ENVIRONMENT, **extra_env}
    if subprocess.run(command, cwd=PROJECT_ROOT, env=env, check=False).returncode != 0:
        raise LiveError(f"`{' '.join(command)}` failed (output above); `make live-down` cleans up")


def has_model() -> bool:
    from tweet_triage.model.registry import NoModelError, resolve_model

    settings = load_settings()
    try:
        resolve_model(settings, settings.triage_model)
    except (NoModelError, TriageError):
        return False
    return True


def wait_for_first_tweets(store: TriageStore, before: int, started: float) -> None:
    """Say when the scorer's first micro-batch reached the inbox (it takes a backlog in small
    batches, so this is well within a minute of its start on a quiet machine)."""
    deadline = started + FIRST_TWEETS_WAIT
    while time.monotonic() < deadline:
        if store.count_scored() > before:
            print(
                f"first tweets in the inbox {time.monotonic() - started:.0f} s after `triage-up`",
                flush=True,
            )
            return
        time.sleep(1.0)
    print(
        f"no new tweet in the inbox {FIRST_TWEETS_WAIT:.0f} s after `triage-up`; the scorer's "
        "log is in the state folder's triage/ (`make -f Makefile-stream triage-status`)",
        flush=True,
    )


def live_up(rate: float, stream_before_training: float) -> None:
    cli = [sys.executable, "-m", "tweet_triage"]
    _run(_stream_make("local-aws-up"))
    _run([*cli, "local", "xapi-up", "--start", "0", "--rate", str(rate)])
    for target in ("local-host-up", "aws-create", "provision", "stream-start"):
        _run(_stream_make(target))
    if not has_model():
        print(
            f"no model yet: streaming for {stream_before_training:.0f} s, then training one "
            "with the demo budget on what arrived",
            flush=True,
        )
        time.sleep(stream_before_training)
        for target in ("sync", "combine", "filter", "process", "label", "split"):
            _run(_make(target))
        _run(_make("train", TRAIN_ARGS="--budget demo"))
    from tweet_triage.model.registry import describe_model

    settings = load_settings()
    print(f"scoring with {describe_model(settings, settings.triage_model)}", flush=True)
    store = TriageStore(settings.triage_store_url)
    store.migrate()
    _run([*cli, "local", "xapi-connect"])
    before = store.count_scored()
    started = time.monotonic()
    _run(_stream_make("triage-up"))
    wait_for_first_tweets(store, before, started)
    password = secrets.token_urlsafe(12)
    login = subprocess.run(
        [*cli, "triage", "users", "add", LIVE_USER, "--password-stdin", "--replace"],
        input=password + "\n",
        text=True,
        capture_output=True,
        cwd=PROJECT_ROOT,
        check=False,
    )
    if login.returncode != 0:  # the first time: the user does not exist yet
        login = subprocess.run(
            [*cli, "triage", "users", "add", LIVE_USER, "--password-stdin"],
            input=password + "\n",
            text=True,
            capture_output=True,
            cwd=PROJECT_ROOT,
            check=False,
        )
    if login.returncode != 0:
        raise LiveError(f"could not create the inbox login: {login.stderr.strip()}")
    settings = load_settings()
    print(
        f"\nlive: the inbox is at http://{settings.triage_host}:{settings.triage_port}/\n"
        f"      login: {LIVE_USER} / {password}   (shown once; `make live-down` stops it all)\n"
        "      replies post as the X stand-in's account (connected); what went out: "
        "`tweet-triage local xapi-posts`",
        flush=True,
    )


def live_down() -> None:
    """Best effort, each part independent, so a half-started stack is cleaned up too."""
    for command in (
        _stream_make("triage-down"),
        _stream_make("stream-stop"),
        _stream_make("aws-destroy"),
        _stream_make("local-down"),
    ):
        print(f"==> {' '.join(command)}", flush=True)
        subprocess.run(command, cwd=PROJECT_ROOT, check=False)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tweet_triage_local.live", description=__doc__)
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--rate", type=float, default=float(os.environ.get("LIVE_RATE", "20")))
    parser.add_argument(
        "--stream-before-training",
        type=float,
        default=float(os.environ.get("LIVE_TRAIN_AFTER_SECONDS", "120")),
    )
    args = parser.parse_args(argv)
    try:
        if args.action == "up":
            live_up(args.rate, args.stream_before_training)
        else:
            live_down()
    except TriageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
