"""`tweet-triage stream rules` and `stream run --sink file:` as a user runs them, against the
X stand-in; and the one-line errors for bad input."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tweet_triage.config import PROFILES_DIR
from tweet_triage.hosts.processes import free_port
from tweet_triage.profile import load_profile
from tweet_triage_local.corpus.store import BUNDLED_TWEETS, load_tweets
from tweet_triage_local.xapi.server import StandIn, XStandInServer

pytestmark = pytest.mark.integration

TOKEN = "cli-test-token"


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    stand_in = StandIn(
        load_tweets(BUNDLED_TWEETS)[:3_000],
        token=TOKEN,
        rate=0,
        state_dir=tmp_path / "xapi",
        keepalive_seconds=0.5,
    )
    with XStandInServer(stand_in) as server:
        monkeypatch.setenv("X_API_BASE_URL", server.url)
        monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
        monkeypatch.setenv("MISSION_PROFILE", "demo")
        yield stand_in


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tweet_triage", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_rules_dry_run_shows_the_diff_and_changes_nothing_then_sync_applies_it(
    standin: StandIn, tmp_path: Path
) -> None:
    demo = load_profile("demo")
    dry = cli("stream", "rules", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"+ [{demo.stream.rules[0].tag}] {demo.stream.rules[0].value}" in dry.stdout
    count = len(demo.stream.rules)
    assert f"{count} rule(s) would be added, 0 would be deleted, 0 unchanged" in dry.stdout
    assert standin.rules == {}

    applied = cli("stream", "rules")
    assert applied.returncode == 0, applied.stderr
    assert {(r.value, r.tag) for r in standin.rules.values()} == {
        (r.value, r.tag) for r in demo.stream.rules
    }

    again = cli("stream", "rules", "--dry-run")
    assert f"0 rule(s) would be added, 0 would be deleted, {count} unchanged" in again.stdout
    as_json = json.loads(cli("stream", "rules", "--dry-run", "--json").stdout)
    assert as_json["dry_run"] is True and as_json["add"] == [] and as_json["delete"] == []
    assert sorted(r["tag"] for r in as_json["keep"]) == sorted(r.tag for r in demo.stream.rules)

    changed = tmp_path / "changed.yaml"
    raw = yaml.safe_load((PROFILES_DIR / "demo.yaml").read_text())
    new_rule = {"value": "webb telescope lang:en -is:retweet", "tag": "new"}
    raw["stream"]["rules"] = [raw["stream"]["rules"][0], new_rule]
    changed.write_text(yaml.safe_dump(raw))
    synced = cli("stream", "rules", "--profile", str(changed))
    assert f"1 rule(s) were added, {count - 1} were deleted, 1 unchanged" in synced.stdout
    assert sorted(r.tag for r in standin.rules.values()) == sorted(
        [demo.stream.rules[0].tag, "new"]
    )


def test_stream_check_writes_the_raw_payloads_to_a_file_and_logs_json(
    standin: StandIn, tmp_path: Path
) -> None:
    out = tmp_path / "check.jsonl"
    result = cli("stream", "run", "--sink", f"file:{out}", "--max-tweets", "100")
    assert result.returncode == 0, result.stderr
    assert "stopped (max tweets reached)" in result.stdout
    lines = out.read_bytes().splitlines(keepends=True)
    assert len(lines) == 100 and all(line.endswith(b"\n") for line in lines)
    payloads = [json.loads(line) for line in lines]
    assert [p["data"]["id"] for p in payloads] == standin.stats_json()["ids_sent"][:100]
    assert all(p["matching_rules"] and p["data"]["created_at"] for p in payloads)
    log = Path(os.environ["TT_STATE_DIR"]) / "stream" / "stream.log.jsonl"
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(e["message"].startswith("streamer stopped") and e["sent"] == 100 for e in entries)
    stats = json.loads((Path(os.environ["TT_STATE_DIR"]) / "stream" / "stats.json").read_text())
    assert (stats["state"], stats["received"], stats["sent"]) == ("stopped", 100, 100)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--sink", "kinesis"], {}, "--sink 'kinesis': use 'firehose' or 'file:PATH'"),
        (["--profile", "nope"], {}, "unknown mission profile 'nope'"),
        (["--sink", "file:/tmp/x.jsonl"], {"X_BEARER_TOKEN": ""}, "X_BEARER_TOKEN"),
        (["--sink", "file:/tmp/x.jsonl"], {"X_BEARER_TOKEN": "wrong"}, "X_BEARER_TOKEN"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(
    standin: StandIn, args: list[str], env: dict[str, str], message: str
) -> None:
    result = cli("stream", "run", *args, **env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_delivery_stream_stops_before_reading(standin: StandIn, local_aws) -> None:
    result = cli("stream", "run", "--max-tweets", "10")
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "aws-create" in result.stderr
    assert standin.stats_json(include_ids=False)["connections"] == 0


def test_x_unreachable_is_exit_1_so_a_supervisor_retries() -> None:
    closed_port = free_port()  # nothing listens there
    result = cli(
        "stream", "rules", X_API_BASE_URL=f"http://127.0.0.1:{closed_port}", X_BEARER_TOKEN="t"
    )
    assert result.returncode == 1
    assert "could not read the stream rules on X" in result.stderr
    assert "retry later" in result.stderr and "Traceback" not in result.stderr


@dataclass
class SilentX:
    url: str
    asked: threading.Event  # set once a request arrived: its client now waits for an answer


@pytest.fixture
def silent_x() -> Iterator[SilentX]:
    """A loopback listener that accepts connections and never answers (a hung X)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    asked = threading.Event()

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection = listener.accept()[0]
                accepted.append(connection)
                if connection.recv(1):  # the request's first byte; no answer will come
                    asked.set()

    threading.Thread(target=accept, daemon=True).start()
    yield SilentX(f"http://127.0.0.1:{listener.getsockname()[1]}", asked)
    listener.close()
    for connection in accepted:
        connection.close()


@pytest.mark.parametrize("rules", ["--sync-rules", "--no-sync-rules"])
def test_sigterm_ends_a_streamer_stuck_on_a_hung_x_within_seconds(
    silent_x: SilentX, tmp_path: Path, rules: str
) -> None:
    # Issue 13, reproduced defect 2: stuck in rule sync for 150 s, through SIGTERM.
    process = subprocess.Popen(
        [sys.executable, "-m", "tweet_triage", "stream", "run", rules,
         "--sink", f"file:{tmp_path / 'out.jsonl'}"],
        env={**os.environ, "X_API_BASE_URL": silent_x.url, "X_BEARER_TOKEN": "t"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        assert silent_x.asked.wait(60), "the streamer never called X"
        assert process.poll() is None  # in the hung call
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "Traceback" not in output


def test_x_unreachable_with_no_sync_rules_is_exit_1_naming_the_cause(tmp_path: Path) -> None:
    closed_port = free_port()  # nothing listens there
    result = cli(
        "stream", "run", "--no-sync-rules", "--max-seconds", "3",
        "--sink", f"file:{tmp_path / 'out.jsonl'}",
        X_API_BASE_URL=f"http://127.0.0.1:{closed_port}", X_BEARER_TOKEN="t",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "never connected" in result.stderr and "refused" in result.stderr.lower()
    assert "Traceback" not in result.stderr


def test_stream_run_that_would_delete_rules_on_x_needs_yes(
    standin: StandIn, tmp_path: Path
) -> None:
    other = tmp_path / "other.yaml"
    raw = yaml.safe_load((PROFILES_DIR / "demo.yaml").read_text())
    raw["stream"]["rules"] = [{"value": "webb telescope lang:en -is:retweet", "tag": "other"}]
    other.write_text(yaml.safe_dump(raw))
    assert cli("stream", "rules", "--profile", str(other)).returncode == 0
    out = tmp_path / "out.jsonl"

    refused = cli("stream", "run", "--max-tweets", "5", "--sink", f"file:{out}")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "would delete 1 rule(s)" in refused.stderr and "--yes" in refused.stderr
    assert "- [other] webb telescope" in refused.stderr  # the dry run, shown first
    assert [r.tag for r in standin.rules.values()] == ["other"]
    assert standin.stats_json(include_ids=False)["connections"] == 0

    confirmed = cli("stream", "run", "--yes", "--max-tweets", "5", "--sink", f"file:{out}")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "other" not in [r.tag for r in standin.rules.values()]
