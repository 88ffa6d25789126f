"""Store benchmark: the triage store at a team's year, on SQLite and on a real PostgreSQL.

The store is seeded with BENCH_STORE_TWEETS scored tweets (default 1,000,000, arrivals spread
over a year, a fifth flagged) and BENCH_STORE_DECISIONS decisions (default 200,000): the team
worked the queue from the most likely tweets down (answering a tenth of them on X), and
answered some label-page questions near the threshold. Then BENCH_STORE_CLIENTS concurrent
clients (default 20) make the store calls of each page and API request as the inbox makes
them, served by as many threads as the inbox serves requests with (TRIAGE_REQUEST_THREADS):

- queue page (all, and "mine"): `queue_page` (its rows and two sizes) + `rule_tags` +
  `saved_replies`; `/api/queue?order=newest`: `queue`;
- all tweets: the first page, and a page a year back (paged by key: `tweets(before=...)`);
- one tweet: `get_tweet`; a conversation page: `conversation` + `users` + `presence` +
  `saved_replies`;
- dashboard (24 h, 30 d, any time): `recent_dashboard` + `totals` (the loop card): figures kept
  `FIGURES_MAX_AGE`, recounted behind the callers; and what one recount costs (`dashboard`
  itself, at 24 h and 30 d, one client: one background thread makes it);
- label page: `next_from_store` (the undecided tweet closest to the threshold, or with the
  random pool drawn first, a random one of the evaluation pool) + `count_decisions(user,
  source="label")`;
- `/metrics`: `totals`, `reply_counts`, `first_response_histogram` (the last two kept 10 s, as
  /metrics keeps them);
- a decision: `decide` on an open tweet.

Then the same pages through the inbox itself: `tweet-triage triage serve` (uvicorn, one
worker) on the seeded store, BENCH_STORE_CLIENTS keep-alive HTTP clients (threads of this
process), logged in as a teammate who owns a share of the conversations; each page is what a
browser fetches (server-rendered HTML, the JSON API with a token, /metrics). Those figures are
the team's: store, rendering and the web framework together.

The PostgreSQL server is the stand-in of `tweet_triage_local.postgres` (fsync off), on the same
shared cores as the clients and the inbox, so absolute figures are a floor.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tweet_triage.config import load_settings
from tweet_triage.live.active import next_from_store
from tweet_triage.live.store import FIGURES_MAX_AGE, Fresh, TriageStore, utc_now
from tweet_triage.live.web.metrics import FIRST_RESPONSE_BUCKETS
from tweet_triage.live.web.routes.labelling import LOOK_AHEAD
from tweet_triage.live.web.routes.tweets import PAGE_SIZE
from tweet_triage.live.web.security import new_api_token, token_digest

TWEETS = int(os.environ.get("BENCH_STORE_TWEETS", "1000000"))
DECISIONS = int(os.environ.get("BENCH_STORE_DECISIONS", "200000"))
CLIENTS = int(os.environ.get("BENCH_STORE_CLIENTS", "20"))
REQUEST_THREADS = load_settings().triage_request_threads  # the inbox's, for the store calls
RECOUNT = "dashboard recount (1 client)"
REQUESTS = int(os.environ.get("BENCH_STORE_REQUESTS", "100"))  # per scenario
BACKENDS = tuple(os.environ.get("BENCH_STORE_BACKENDS", "sqlite,postgresql").split(","))
TAGS = ("jwst", "launch", "nasa", "webb-deploy", "livestream")
USERS = 20
PAGE = 10_000


def _seed(store: Any, now: datetime) -> dict[str, Any]:
    """Tweets through `upsert_scored` (timed: the streaming scorer's write path), then users
    and decisions in bulk."""
    from sqlalchemy import bindparam, func, select, update

    from benchmarks.bench_inbox import PASSWORD
    from tweet_triage.live.store import ScoredRecord
    from tweet_triage.live.store.schema import Conversation, DecisionRecord, Reply, ScoredTweet
    from tweet_triage.live.web.security import hash_password

    rng = random.Random(7)
    started = time.perf_counter()
    scores: list[tuple[str, float, datetime]] = []
    for start in range(0, TWEETS, PAGE):
        records = []
        for i in range(start, min(start + PAGE, TWEETS)):
            # Tweets arrive in id order over the year (X ids grow with time).
            arrived = now - timedelta(seconds=(TWEETS - i) / TWEETS * 365 * 86400)
            p = rng.betavariate(0.6, 1.6)
            tweet_id = str(1_600_000_000_000_000_000 + i)
            scores.append((tweet_id, p, arrived))
            records.append(
                ScoredRecord(
                    id=tweet_id,
                    created_at=arrived - timedelta(seconds=2),
                    received_at=arrived,
                    scored_at=arrived + timedelta(seconds=20),
                    text=f"tweet {i}: the telescope page does not load for me since the update",
                    rule_tags=rng.sample(TAGS, rng.randint(1, 2)),
                    p_needs_support=p,
                    flagged=False,  # set below from the score quantile
                    model_version="bench",
                )
            )
        store.upsert_scored(records)
    upsert_s = time.perf_counter() - started

    by_score = sorted(scores, key=lambda s: -s[1])
    threshold = by_score[len(by_score) // 5][1]
    with store.engine.begin() as connection:
        connection.execute(
            update(ScoredTweet).where(ScoredTweet.p_needs_support >= threshold).values(flagged=True)
        )
    # The first teammate can log in (the HTTP half of the bench); hashing is slow on purpose.
    users = [store.add_user("bench", hash_password(PASSWORD))]
    users += [store.add_user(f"agent{u:02d}", "argon2-hash-not-used") for u in range(1, USERS)]
    flagged = [s for s in by_score if s[1] >= threshold]
    from_queue = flagged[: int(DECISIONS * 0.9)]  # most likely first
    near = sorted(by_score[len(flagged) :], key=lambda s: abs(s[1] - threshold))
    from_label = near[: DECISIONS - len(from_queue)]
    rows = []
    for tweet_id, p, arrived in from_queue + from_label:
        decided = min(now, arrived + timedelta(seconds=rng.expovariate(1 / 1800)))
        kind = "handled" if p >= threshold else rng.choice(("needed_us", "not_for_us"))
        rows.append(
            {
                "tweet_id": tweet_id,
                "user_id": rng.choice(users).id,
                "decision": kind,
                "decided_at": decided,
                "source": "queue" if p >= threshold else "label",
            }
        )
    first = (
        select(func.min(DecisionRecord.decided_at))
        .where(DecisionRecord.tweet_id == ScoredTweet.id)
        .scalar_subquery()
    )
    replies = [
        {
            "tweet_id": row["tweet_id"],
            "conversation_id": row["tweet_id"],
            "user_id": row["user_id"],
            "text": "Thanks for telling us: the page is back now.",
            "status": "sent",
            "attempts": 1,
            "uncertain": False,
            "not_before": row["decided_at"],
            "x_post_id": f"9{row['tweet_id']}",
            "created_at": row["decided_at"],
            "sent_at": row["decided_at"],
            "updated_at": row["decided_at"],
        }
        for row in rows[: len(from_queue) : 10]
    ]
    answered = (
        update(Conversation)
        .where(Conversation.id == bindparam("cid"))
        .values(
            status="replied",
            assignee_id=bindparam("uid"),
            first_response_at=bindparam("at"),
            updated_at=bindparam("at"),
        )
    )
    with store.engine.begin() as connection:  # in bulk, so what `decide` keeps is set here
        for start in range(0, len(rows), PAGE):
            connection.execute(DecisionRecord.__table__.insert(), rows[start : start + PAGE])
        connection.execute(update(ScoredTweet).values(first_decided_at=first))
        for start in range(0, len(replies), PAGE):
            page = replies[start : start + PAGE]
            connection.execute(Reply.__table__.insert(), page)
            connection.execute(
                answered,
                [{"cid": r["tweet_id"], "uid": r["user_id"], "at": r["sent_at"]} for r in page],
            )
    # Each teammate has claimed some open tweets (their "mine" queue): one in twenty.
    open_flagged = flagged[len(from_queue) :]
    claimed = [
        {"cid": tweet_id, "uid": users[i % len(users)].id, "at": now}
        for i, (tweet_id, _p, _arrived) in enumerate(open_flagged[::20])
    ]
    claim = (
        update(Conversation)
        .where(Conversation.id == bindparam("cid"))
        .values(status="assigned", assignee_id=bindparam("uid"), updated_at=bindparam("at"))
    )
    with store.engine.begin() as connection:
        connection.execute(claim, claimed)
    # Statistics, and on PostgreSQL the visibility map, as autovacuum would leave them after
    # a bulk load (without the map, counts from an index read every row's page too); on
    # SQLite the bulk load's log folded into the database, as its checkpoints would have.
    maintenance = (
        ["VACUUM (ANALYZE)"]
        if store.dialect == "postgresql"
        else ["ANALYZE", "PRAGMA wal_checkpoint(TRUNCATE)"]
    )
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for statement in maintenance:
            connection.exec_driver_sql(statement)
    open_ids = [s[0] for s in open_flagged]
    return {
        "upsert_tweets_per_s": round(TWEETS / upsert_s),
        "threshold": round(threshold, 4),
        "flagged": len(flagged),
        "decisions": len(rows),
        "replies": len(replies),
        "open_ids": open_ids,
        "year_back_id": scores[len(scores) // 100][0],
        "users": [u.id for u in users],
    }


def _scenarios(store: Any, seeded: dict[str, Any], now: datetime) -> dict[str, Callable[[], Any]]:
    rng = random.Random(11)
    lock = threading.Lock()
    open_ids = list(seeded["open_ids"])
    rng.shuffle(open_ids)
    users = seeded["users"]
    sla = timedelta(minutes=60)

    def queue_page(owner: str) -> Callable[[], None]:
        def page() -> None:
            store.queue_page(limit=PAGE_SIZE, owner=owner, user_id=rng.choice(users))
            store.rule_tags()
            store.saved_replies()

        return page

    def all_tweets(before: str | None) -> Callable[[], None]:
        def page() -> None:
            store.tweets(limit=PAGE_SIZE + 1, before=before)
            store.rule_tags()
            store.saved_replies()

        return page

    def conversation_page() -> None:
        tweet_id = rng.choice(open_ids)
        store.conversation(tweet_id)
        store.users()
        store.presence(tweet_id, exclude_user_id=rng.choice(users))
        store.saved_replies()

    def dashboard(hours: int | None) -> Callable[[], None]:
        window = None if hours is None else timedelta(hours=hours)

        def page() -> None:
            store.recent_dashboard(window, sla=sla)
            store.totals()

        return page

    def recount(hours: int) -> Callable[[], None]:
        return lambda: store.dashboard(utc_now() - timedelta(hours=hours), sla=sla)

    def label_page(random_share: float) -> Callable[[], None]:
        def page() -> None:
            next_from_store(store, random_share=random_share, window=LOOK_AHEAD)
            store.count_decisions(user_id=rng.choice(users), source="label")

        return page

    scrape = Fresh(FIGURES_MAX_AGE)  # as /metrics keeps its reply figures

    def metrics() -> None:
        store.totals()
        scrape.get("replies", store.reply_counts)
        scrape.get(
            "first responses", lambda: store.first_response_histogram(FIRST_RESPONSE_BUCKETS)
        )

    def decide() -> None:
        with lock:
            tweet_id = open_ids.pop()
        store.decide(tweet_id, rng.choice(users), "handled")

    return {
        "queue page": queue_page("all"),
        "queue page, mine": queue_page("mine"),
        "/api/queue newest": lambda: store.queue(order="newest", limit=100),
        "all tweets, first page": all_tweets(None),
        "all tweets, a page a year back": all_tweets(seeded["year_back_id"]),
        "one tweet": lambda: store.get_tweet(rng.choice(open_ids)),
        "conversation page": conversation_page,
        "dashboard 24 h": dashboard(24),
        "dashboard 30 d": dashboard(24 * 30),
        "dashboard any time": dashboard(None),
        "label page": label_page(0.0),
        "label page, random pool": label_page(1.0),
        "/metrics": metrics,
        "decide": decide,
        # What the dashboard's figures cost when counted again (one background thread, at
        # most once per window and FIGURES_MAX_AGE): not a request anyone waits for, so one
        # client, while nothing else runs.
        f"{RECOUNT}, 24 h": recount(24),
        f"{RECOUNT}, 30 d": recount(24 * 30),
    }


def _load(call: Callable[[], Any], clients: int = CLIENTS) -> dict[str, Any]:
    """`clients` requests always waiting, served by as many threads as the inbox serves
    requests with (TRIAGE_REQUEST_THREADS); a request's time runs from when its client
    asked, so waiting for a thread counts."""
    call()  # warm the caches and the connection pool
    latencies: list[float] = []
    errors: list[str] = []

    def one(asked: float) -> None:
        try:
            call()
        except Exception as exc:  # counted and reported: the run goes on
            errors.append(f"{type(exc).__name__}: {str(exc)[:160]}")
        latencies.append(time.perf_counter() - asked)

    started = time.perf_counter()
    with ThreadPoolExecutor(min(clients, REQUEST_THREADS)) as pool:
        waiting = {pool.submit(one, started) for _ in range(min(clients, REQUESTS))}
        asked = len(waiting)
        while waiting:
            done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            for _ in done:  # each answered client asks again
                if asked < REQUESTS:
                    waiting.add(pool.submit(one, time.perf_counter()))
                    asked += 1
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": REQUESTS,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "requests_per_s": round(REQUESTS / wall, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def _run_backend(url: str, scratch: Path) -> dict[str, Any]:
    store = TriageStore(url)
    store.migrate()
    now = utc_now()
    try:
        started = time.perf_counter()
        seeded = _seed(store, now)
        seed_s = time.perf_counter() - started
        seeded["load_average_1min"] = round(os.getloadavg()[0], 1)
        results = {
            name: _load(call, 1 if name.startswith(RECOUNT) else CLIENTS)
            for name, call in _scenarios(store, seeded, now).items()
        }
        token = new_api_token()
        store.add_token("bench", "bench", token_digest(token))
    finally:
        store.close()
    pages = _pages(url, seeded, token, scratch)
    for key in ("open_ids", "users", "year_back_id"):
        seeded.pop(key)
    return {"seed_s": round(seed_s, 1), **seeded, "scenarios": results, "pages": pages}


def _pages(database_url: str, seeded: dict[str, Any], token: str, scratch: Path) -> dict[str, Any]:
    """The pages and API calls through a real inbox on this store (HTTP, `CLIENTS` clients)."""
    import httpx

    from benchmarks.bench_inbox import _session_cookie, _wait_for
    from tweet_triage.hosts.processes import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    state = scratch / f"inbox-{port}"
    log = scratch / f"inbox-{port}.log"
    env = {
        **os.environ,
        "TT_STATE_DIR": str(state),
        "TT_IGNORE_DOTENV": "1",
        "TRIAGE_DATABASE_URL": database_url,
        "TRIAGE_PORT": str(port),
        "TRIAGE_LOGIN_ATTEMPTS": "1000",
    }
    command = [sys.executable, "-m", "tweet_triage", "--log-level", "WARNING", "triage", "serve"]
    with log.open("wb") as log_file:
        server = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        _wait_for(base, server, log, 120)
        cookies = _session_cookie(base)
        open_ids = list(seeded["open_ids"])
        random.Random(13).shuffle(open_ids)
        lock = threading.Lock()

        def decide(client: httpx.Client) -> httpx.Response:
            with lock:
                tweet_id = open_ids.pop()
            return client.post("/api/decisions", json={"id": tweet_id, "decision": "handled"})

        def get(path: str) -> Callable[[httpx.Client], httpx.Response]:
            return lambda client: client.get(path)

        year_back = seeded["year_back_id"]
        conversation = f"/conversations/{open_ids[-1]}"
        pages = {
            "queue page": get("/"),
            "queue page, mine": get("/?owner=mine"),
            "queue refresh (fragment)": get("/fragments/queue"),
            "all tweets, first page": get("/tweets?window=all"),
            "all tweets, a page a year back": get(f"/tweets?window=all&before={year_back}"),
            "conversation page": get(conversation),
            "dashboard 24 h": get("/dashboard?window=24h"),
            "dashboard 30 d": get("/dashboard?window=30d"),
            "label page": get("/label"),
        }
        api = {
            "/api/queue newest": get("/api/queue?order=newest"),
            "/metrics": get("/metrics"),
            "decide (/api/decisions)": decide,
        }
        results = {name: _http_load(base, call, cookies=cookies) for name, call in pages.items()}
        headers = {"Authorization": f"Bearer {token}"}
        results |= {name: _http_load(base, call, headers=headers) for name, call in api.items()}
        return results
    finally:
        server.terminate()
        server.wait(timeout=60)


def _http_load(
    base: str,
    call: Callable[[Any], Any],
    *,
    cookies: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`REQUESTS` requests from `CLIENTS` keep-alive clients; a 2xx is an answer."""
    import httpx

    remaining = [REQUESTS]
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []

    def client_loop() -> None:
        with httpx.Client(base_url=base, cookies=cookies, headers=headers, timeout=120) as client:
            call(client)  # warm the connection
            while True:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                started = time.perf_counter()
                response = call(client)
                elapsed = time.perf_counter() - started
                with lock:
                    if response.is_success:
                        latencies.append(elapsed)
                    else:
                        errors.append(f"HTTP {response.status_code}: {response.text[:160]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(lambda _: client_loop(), range(CLIENTS)))
    wall = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]
    return {
        "requests": REQUESTS,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "requests_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def run() -> dict[str, Any]:
    result: dict[str, Any] = {
        "tweets": TWEETS,
        "decisions_asked": DECISIONS,
        "clients": CLIENTS,
        "request_threads": REQUEST_THREADS,
        "requests_per_scenario": REQUESTS,
        "backends": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-store-") as scratch:
        if "sqlite" in BACKENDS:
            sqlite_url = f"sqlite:///{Path(scratch) / 't.db'}"
            result["backends"]["sqlite"] = _run_backend(sqlite_url, Path(scratch))
            print(summarise(result), flush=True)
        if "postgresql" in BACKENDS:
            from tweet_triage_local.postgres import remove_postgres, start_postgres

            state = Path(scratch) / "postgres"
            server = start_postgres(state, durable=False)
            try:
                url = server.create_database("bench_store")
                result["backends"]["postgresql"] = _run_backend(url, Path(scratch))
            finally:
                remove_postgres(state)
    result["load_average_1min"] = round(os.getloadavg()[0], 1)
    return result


def summarise(result: dict[str, Any]) -> str:
    backends = result["backends"]
    names = list(backends)
    lines = [
        "## Triage store at a team's year",
        "",
        f"{result['tweets']:,} scored tweets, {result['decisions_asked']:,} decisions; "
        f"{result['clients']} concurrent clients served by {result.get('request_threads', '?')} "
        f"threads (TRIAGE_REQUEST_THREADS), {result['requests_per_scenario']} requests per row; "
        "first the store calls of each request alone, on the same shared cores as the database.",
        "",
        "| request | " + " | ".join(f"{n} p50 ms | {n} p95 ms" for n in names) + " |",
        "|---|" + "---:|---:|" * len(names),
    ]
    scenarios = next(iter(backends.values()))["scenarios"] if backends else {}
    for scenario in scenarios:
        cells = []
        for name in names:
            row = backends[name]["scenarios"][scenario]
            flag = f" ({row['errors']} errors)" if row["errors"] else ""
            cells.append(f"{row['p50_ms']:.0f} | {row['p95_ms']:.0f}{flag}")
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Through the inbox (HTTP, `tweet-triage triage serve`, one worker; pages as a browser "
        "fetches them, the API with a token):",
        "",
        "| request | " + " | ".join(f"{n} p50 ms | {n} p95 ms" for n in names) + " |",
        "|---|" + "---:|---:|" * len(names),
    ]
    pages = next(iter(backends.values())).get("pages", {}) if backends else {}
    for page in pages:
        cells = []
        for name in names:
            row = backends[name].get("pages", {}).get(page)
            if row is None:
                cells.append("- | -")
                continue
            flag = f" ({row['errors']} errors)" if row["errors"] else ""
            cells.append(f"{row['p50_ms']:.0f} | {row['p95_ms']:.0f}{flag}")
        lines.append(f"| {page} | " + " | ".join(cells) + " |")
    lines.append("")
    for name in names:
        b = backends[name]
        lines.append(
            f"- {name}: `upsert_scored` wrote {b['upsert_tweets_per_s']:,} tweets/s while "
            f"seeding ({b['flagged']:,} flagged, {b['decisions']:,} decisions, "
            f"{b.get('replies', 0):,} sent replies; seeding {b['seed_s']} s); load average "
            f"(1 min) {b.get('load_average_1min', '?')} when its requests began."
        )
    if result.get("runs"):
        lines.append(f"- {result['runs']}.")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarise(run()))
