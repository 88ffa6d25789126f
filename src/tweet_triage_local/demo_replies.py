"""The demo's answering half: a scripted team member answers the top flagged tweets through the
inbox's API, X (the stand-in) fails some posts on purpose, some authors answer back, and the
figures a support team is judged by are read back from the store.

The team member is an inbox account with an API token (`triage users add`, `triage tokens
create`, as a person would make them); the replies go through `POST /api/replies` and the
outbox worker of `triage-up`, never around them. The saved replies are chosen by a simple
keyword rule standing in for the person's judgement, so the suggestion's hit rate (how often
the MiniLM suggestion is the saved reply then sent) is measured against a consistent team.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tweet_triage.config import PROJECT_ROOT
from tweet_triage.errors import TriageError

TEAM_MEMBER = "demo-agent"
ANSWERED = 30  # the top flagged tweets the team member answers
RESTRICTED = 1  # of those, tweets whose conversation X says restricts replies (a refusal)
SERVER_ERRORS = 2  # posts X answers with 503 first (the outbox checks and sends again)
AUTHOR_SHARE = 0.5  # replied-to authors who answer back (the stand-in's --author-share)
AUTHOR_DELAY_SECONDS = 10.0

# (shortcode, title, text, words that make the team member pick it)
SAVED_REPLIES = (
    (
        "/tickets",
        "Tickets",
        "Hi {author}, sorry about the tickets trouble: DM us your order "
        "number and we will sort it out. ^{agent}",
        ("ticket", "tickets", "concert", "tour", "show", "sold"),
    ),
    (
        "/tech",
        "Device or app",
        "Hi {author}, sorry it is not working: which device and app "
        "version are you on? We will look into it. ^{agent}",
        ("phone", "iphone", "app", "update", "android", "xbox", "playstation", "samsung", "ipad"),
    ),
    (
        "/watch",
        "Watching",
        "Thanks {author}! It is on again soon: follow us for the times. ^{agent}",
        ("watch", "watching", "episode", "tv", "movie", "film", "series", "game"),
    ),
)
FREE_TEXT = "Thanks for telling us, {author}. We are looking into it. ^{agent}"
MIN_SCORED = 20  # below this many scored replies the demo's hit rate is noise, not a figure
SUGGEST_RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "suggest.json"


class DemoRepliesError(TriageError):
    """The demo's answering step failed; the message says where."""


@dataclass(frozen=True)
class Inbox:
    url: str
    token: str

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise DemoRepliesError(
                f"{method} {path} answered {exc.code}: {exc.read().decode()[:300]}"
            ) from exc


def pick_saved_reply(text: str) -> str | None:
    """The shortcode the scripted team member picks for a tweet, or None for free text."""
    words = {w.strip(".,!?:;'\"()#@").lower() for w in text.split()}
    for shortcode, _title, _text, triggers in SAVED_REPLIES:
        if words & set(triggers):
            return shortcode
    return None


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tweet_triage", *args],
        input=stdin,
        text=True,
        capture_output=True,
        cwd=PROJECT_ROOT,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise DemoRepliesError(f"`tweet-triage {' '.join(args)}` failed: {done.stderr.strip()}")
    return done.stdout.strip()


def team_member_token(env: dict[str, str]) -> str:
    """An agent account and an API token for it, made with the CLI as a person would."""
    _cli(
        env,
        "triage",
        "users",
        "add",
        TEAM_MEMBER,
        "--role",
        "agent",
        "--password-stdin",
        stdin="demo-agent-password-not-used\n",
    )
    return _cli(env, "triage", "tokens", "create", TEAM_MEMBER, "--name", "demo", "--days", "1")


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None}
    ordered = sorted(values)
    p95 = ordered[0] if len(ordered) == 1 else statistics.quantiles(ordered, n=20)[-1]
    return {"n": len(ordered), "p50": statistics.median(ordered), "p95": p95}


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def answer_top_flagged(
    store: Any,
    inbox: Inbox,
    standin: Callable[[str, dict[str, Any]], Any],
    *,
    timeout: float = 180.0,
) -> dict[str, Any]:
    """Answer the top flagged tweets through the API and wait for each reply's outcome."""
    user = next(u for u in store.users() if u.name == TEAM_MEMBER)
    saved = {
        code: store.create_saved_reply(code, title, text, user.id).id
        for code, title, text, _ in SAVED_REPLIES
    }
    texts = {code: text for code, _title, text, _ in SAVED_REPLIES}
    tweets = store.queue(limit=ANSWERED)
    if not tweets:
        raise DemoRepliesError("the inbox has no flagged tweet to answer")
    standin(
        "/_standin/posting",
        {"restricted": [t.id for t in tweets[-RESTRICTED:]], "server_errors": SERVER_ERRORS},
    )
    posted: list[tuple[Any, str | None, dict[str, Any]]] = []
    # A case reference per run: X refuses a text its account posted before (duplicate
    # content), and the stand-in remembers the posts of earlier demo runs, as X would.
    run = datetime.now(UTC).strftime("%m%d%H%M")
    for number, tweet in enumerate(tweets, 1):
        code = pick_saved_reply(tweet.text)
        template = texts[code] if code else FREE_TEXT
        author = tweet.author_name or tweet.author_handle or "there"
        text = f"{template.format(author=author, agent=TEAM_MEMBER)} (case {run}-{number})"
        body: dict[str, Any] = {"tweet_id": tweet.id, "text": text}
        if code:
            body["saved_reply_id"] = saved[code]
        answer = inbox.call("POST", "/api/replies", body)
        posted.append((tweet, code, answer))
    outcomes: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(outcomes) < len(posted) and time.monotonic() < deadline:
        for _tweet, _code, answer in posted:
            if answer["id"] not in outcomes:
                seen = inbox.call("GET", f"/api/replies/{answer['id']}")
                if seen["status"] in ("sent", "failed"):
                    outcomes[answer["id"]] = seen
        time.sleep(0.2)
    delivery = [
        s for s in (_seconds(o["created_at"], o["sent_at"]) for o in outcomes.values()) if s
    ]
    failed = [o for o in outcomes.values() if o["status"] == "failed"]
    return {
        "answered": len(posted),
        "with_saved_reply": sum(1 for _t, code, _a in posted if code),
        "sent": sum(1 for o in outcomes.values() if o["status"] == "sent"),
        "failed": len(failed),
        "failed_reasons": sorted({str(o["error"]) for o in failed}),
        "pending": len(posted) - len(outcomes),
        "retried": sum(1 for _t, _c, a in posted if store.reply(a["id"]).attempts > 1),
        "delivery": percentiles(delivery),
        "examples": [(t.text, saved[c]) for t, c, _a in posted if c],
        "replied_tweets": [
            t.id for t, _c, a in posted if outcomes.get(a["id"], {}).get("status") == "sent"
        ],
    }


def wait_for_author_answers(
    store: Any, standin: Callable[[str, dict[str, Any]], Any], timeout: float
) -> tuple[int, int]:
    """(conversations reopened, answers the stand-in's authors streamed), once every answer
    due has been streamed and has reached the inbox through the streamer, Firehose, the
    follower and the scorer, or at `timeout`."""
    deadline = time.monotonic() + timeout
    reopened, answered = -1, 0
    while time.monotonic() < deadline:
        authors = standin("/_standin/authors", {})
        answered = int(authors["answered"])
        count = sum(1 for t in store.queue(limit=1000) if t.author_replied)
        if count != reopened:
            reopened = count
            print(f"    {count} of {answered} author answer(s) reopened a conversation", flush=True)
        if authors["pending"] == 0 and count >= answered:
            break
        time.sleep(1.0)
    return max(reopened, 0), answered


def suggestion_hit_rate(examples: list[tuple[str, int]]) -> tuple[float, int]:
    """How often the MiniLM suggestion was the saved reply then sent (replies in order). Too
    few to measure: the count only, without loading the encoder for a figure nobody reads."""
    from tweet_triage.live.replies.suggest import ReplyExample, SentenceEncoder, hit_rate

    warm_up = min(10, max(len(examples) - 1, 0))
    if len(examples) - warm_up < MIN_SCORED:
        return 0.0, len(examples) - warm_up
    history = [ReplyExample(text, reply_id) for text, reply_id in examples]
    return hit_rate(SentenceEncoder(), history, warm_up=warm_up)


def reply_summary_lines(replies: dict[str, Any]) -> list[str]:
    delivery, first = replies["delivery"], replies["first_response"]
    lines = [
        f"answering ({replies['answered']} top flagged tweets answered by {TEAM_MEMBER} through "
        f"POST /api/replies, {replies['with_saved_reply']} with saved replies; the X stand-in "
        f"failed {SERVER_ERRORS} posts with 503 and restricted {RESTRICTED} conversation):",
        f"  replies sent {replies['sent']}, failed {replies['failed']}"
        + (f" ({'; '.join(replies['failed_reasons'])})" if replies["failed_reasons"] else "")
        + f", retried {replies['retried']}, still queued {replies['pending']}",
    ]
    if delivery["n"]:
        lines.append(
            f"  delivery (queued -> sent on X): p50 {delivery['p50']:.1f} s, p95 "
            f"{delivery['p95']:.1f} s over {delivery['n']} replies"
        )
    if first["n"]:
        lines.append(
            f"  first-response time (arrival -> first reply on X): p50 {first['p50']:.0f} s, "
            f"p95 {first['p95']:.0f} s over {first['n']} conversations"
        )
    lines.append(
        f"  conversations reopened by the author's answer: {replies['reopened']} of "
        f"{replies['author_answers']} answers (the stand-in's authors answer about "
        f"{AUTHOR_SHARE:.0%} of replies, after {AUTHOR_DELAY_SECONDS:g} s)"
    )
    share, scored = replies["hit_rate"]
    if scored >= MIN_SCORED:
        lines.append(
            f"  suggested saved reply = the one sent: {share:.0%} of {scored} replies "
            "(MiniLM nearest past replies, each scored on the replies before it)"
        )
    elif scored:
        lines.append(
            f"  suggested saved reply: too few saved replies in the demo to measure ({scored} "
            f"scored); {benchmarked_hit_rate()}"
        )
    return lines


def benchmarked_hit_rate() -> str:
    """The suggestion's hit rate from the committed benchmark, or how to measure it."""
    try:
        head = json.loads(SUGGEST_RESULTS.read_text())["headline"]
        return (
            f"`make bench BENCH=suggest`: {head['hit_rate']:.0%} of {head['scored']:,} corpus "
            f"replies (the most used reply so far: {head['majority']:.0%})"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "`make bench BENCH=suggest` measures it on the corpus"
