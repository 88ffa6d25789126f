"""Inbox benchmark: requests/s and latency of the queue page and the scoring API under load.

A real `tweet-triage triage serve` (uvicorn, one worker, SQLite store) on loopback, seeded
with scored tweets the way the streaming scorer writes them; 20 concurrent clients (threads,
keep-alive connections) send a bounded number of requests per scenario:

- the queue page (`GET /`, server-rendered, the 100 most likely open tweets) and
  `GET /api/queue` (100 tweets as JSON);
- `POST /api/score` with one text and with a batch of 64;
- mixed load: one client sending single texts while two others keep sending 256 texts of
  10,000 characters each (the single text's latency is the finding: passes take from every
  waiting request in turn, and long texts are cut at the model's token limit).

The model is MODEL_DIR when it holds a trained model, else the offline backbone with an
untrained three-class head (speed does not depend on what the head learned). The clients
run on the same two shared cores as the server, so absolute figures are a floor; the ratio
of texts/s between batched and single-text scoring is the finding that carries over.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

CLIENTS = int(os.environ.get("BENCH_INBOX_CLIENTS", "20"))
SEED_TWEETS = int(os.environ.get("BENCH_INBOX_TWEETS", "5000"))
SCALE = float(os.environ.get("BENCH_INBOX_SCALE", "1"))  # request counts x SCALE
TAGS = ("jwst", "launch", "nasa", "webb-deploy", "livestream")
PASSWORD = "benchmark password"


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: str
    requests: int
    texts: int = 0
    auth: str = "token"  # or "session"


def _texts() -> list[str]:
    from tweet_triage.config import CORPUS_DIR

    files = sorted(CORPUS_DIR.glob("tweets.jsonl*"))
    if not files:
        raise SystemExit("no tweets to benchmark with: the bundled corpus is missing")
    opener = gzip.open if files[0].suffix == ".gz" else open
    texts = []
    with opener(files[0], "rt") as lines:
        for line in lines:
            text = json.loads(line).get("text")
            if text:
                texts.append(str(text))
            if len(texts) >= max(SEED_TWEETS, 2000):
                break
    return texts


def _model_dir(settings: Any, scratch: Path) -> tuple[Path, str]:
    """MODEL_DIR if it holds a trained model, else the backbone with an untrained head."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tweet_triage.model.folder import SENTIMENT_LABELS, ModelMeta, resolve_backbone

    if (settings.model_dir / "triage.json").is_file():
        return settings.model_dir, f"trained model in {settings.model_dir}"
    backbone = resolve_backbone(settings.model_name_or_path)
    folder = scratch / "model"
    model = AutoModelForSequenceClassification.from_pretrained(
        backbone, num_labels=3, id2label=SENTIMENT_LABELS
    )
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(backbone).save_pretrained(folder)
    ModelMeta(
        objective="three_class",
        threshold=0.5,
        id2label=dict(SENTIMENT_LABELS),
        needs_support_ids=[0, 1],
        max_length=64,
        backbone=str(backbone),
    ).save(folder)
    name = settings.model_name_or_path or "the offline all-MiniLM-L6-v2"
    return folder, f"{name} backbone with an untrained 3-class head"


def _seed(store: Any, texts: list[str]) -> int:
    from tweet_triage.live.store import ScoredRecord, utc_now

    rng = random.Random(7)
    now = utc_now()
    records = []
    for i in range(SEED_TWEETS):
        arrived = now - timedelta(seconds=rng.uniform(0, 86400))
        p = rng.random()
        records.append(
            ScoredRecord(
                id=str(1_600_000_000_000_000_000 + i),
                created_at=arrived - timedelta(seconds=2),
                received_at=arrived,
                scored_at=arrived + timedelta(seconds=20),
                text=texts[i % len(texts)],
                rule_tags=rng.sample(TAGS, rng.randint(1, 2)),
                p_needs_support=p,
                flagged=p >= 0.7,
                model_version="bench",
            )
        )
    return store.upsert_scored(records)


def _wait_for(url: str, server: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the inbox exited while starting:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the inbox did not answer within {seconds:.0f} s:\n{log.read_text()[-2000:]}")


def _model_passes(url: str, headers: dict[str, str]) -> int:
    """Forward passes run so far (from /metrics): concurrent requests share passes."""
    import httpx

    text = httpx.get(url + "/metrics", headers=headers, timeout=60).text
    found = re.search(r"^triage_api_model_passes_total (\S+)$", text, re.MULTILINE)
    return int(float(found.group(1))) if found else 0


def _session_cookie(url: str) -> dict[str, str]:
    import httpx

    with httpx.Client(base_url=url) as client:
        page = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        done = client.post(
            "/login", data={"username": "bench", "password": PASSWORD, "csrf_token": csrf}
        )
        if done.status_code not in (200, 303):
            raise SystemExit(f"benchmark login failed: HTTP {done.status_code}")
        return {"tt_session": client.cookies["tt_session"]}


def _load(
    url: str, scenario: Scenario, headers: dict[str, str], cookies: dict[str, str], texts: list[str]
) -> dict[str, Any]:
    import httpx

    remaining = [scenario.requests]
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []

    def worker(offset: int) -> None:
        rng = random.Random(offset)
        with httpx.Client(
            base_url=url,
            headers=headers if scenario.auth == "token" else {},
            cookies=cookies if scenario.auth == "session" else {},
            timeout=120,
        ) as client:
            while True:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                body = {"texts": rng.sample(texts, scenario.texts)} if scenario.texts else None
                started = time.perf_counter()
                response = client.request(scenario.method, scenario.path, json=body)
                elapsed = time.perf_counter() - started
                with lock:
                    if response.status_code == 200:
                        latencies.append(elapsed)
                    else:
                        errors.append(f"HTTP {response.status_code}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    result = {
        "scenario": scenario.name,
        "path": f"{scenario.method} {scenario.path}",
        "clients": CLIENTS,
        "requests": scenario.requests,
        "ok": len(latencies),
        "errors": len(errors),
        "seconds": round(seconds, 2),
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(pct(0.50), 1),
        "p95_ms": round(pct(0.95), 1),
        "p99_ms": round(pct(0.99), 1),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1) if ordered else 0.0,
    }
    if scenario.texts:
        result["texts_per_request"] = scenario.texts
        result["texts_per_s"] = round(len(latencies) * scenario.texts / seconds, 1)
    return result


def _long_texts(texts: list[str], count: int, chars: int = 10_000) -> list[str]:
    """`count` texts of `chars` characters, made of the corpus's tweets."""
    rng = random.Random(11)
    out = []
    for _ in range(count):
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < chars:
            parts.append(rng.choice(texts))
        out.append(" ".join(parts)[:chars])
    return out


def _mixed(url: str, headers: dict[str, str], texts: list[str], singles: int) -> dict[str, Any]:
    """Single-text latency while two clients keep sending 256 texts of 10,000 characters."""
    import httpx

    big = {"texts": _long_texts(texts, 256)}
    stop = threading.Event()
    big_latencies: list[float] = []
    statuses: list[int] = []

    def flood() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
            while not stop.is_set():
                started = time.perf_counter()
                response = client.post("/api/score", json=big)
                statuses.append(response.status_code)
                if response.status_code == 200:
                    big_latencies.append(time.perf_counter() - started)

    floods = [threading.Thread(target=flood) for _ in range(2)]
    for thread in floods:
        thread.start()
    time.sleep(1.0)  # both large requests are in
    single: list[float] = []
    with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
        for text in texts[:singles]:
            started = time.perf_counter()
            response = client.post("/api/score", json={"texts": [text]})
            statuses.append(response.status_code)
            if response.status_code == 200:
                single.append(time.perf_counter() - started)
    stop.set()
    for thread in floods:
        thread.join()
    ordered = sorted(single)

    def pct(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else 0.0

    return {
        "single_requests": len(single),
        "single_p50_ms": round(pct(ordered, 0.50), 1),
        "single_p95_ms": round(pct(ordered, 0.95), 1),
        "large_requests": len(big_latencies),
        "large_p50_ms": round(pct(sorted(big_latencies), 0.50), 1),
        "not_200": sorted({code for code in statuses if code != 200}),
    }


def run() -> dict[str, Any]:
    from tweet_triage.config import load_settings
    from tweet_triage.hosts.processes import free_port
    from tweet_triage.live.store import TriageStore
    from tweet_triage.live.web.security import hash_password, new_api_token, token_digest

    settings = load_settings()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts = _texts()
    scenarios = [
        Scenario("queue page (100 tweets, HTML)", "GET", "/", int(400 * SCALE), auth="session"),
        Scenario("GET /api/queue (100 tweets, JSON)", "GET", "/api/queue", int(400 * SCALE)),
        Scenario("POST /api/score, 1 text", "POST", "/api/score", int(400 * SCALE), texts=1),
        Scenario("POST /api/score, 64 texts", "POST", "/api/score", int(40 * SCALE), texts=64),
    ]
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        model_dir, model_note = _model_dir(settings, scratch)
        state = scratch / "state"
        store = TriageStore(f"sqlite:///{state / 'triage' / 'triage.db'}")
        store.migrate()
        seeded = _seed(store, texts)
        store.add_user("bench", hash_password(PASSWORD))
        token = new_api_token()
        store.add_token("bench", "bench", token_digest(token))
        open_queue = store.queue_size()
        store.close()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = scratch / "inbox.log"
        env = {
            **os.environ,
            "TT_STATE_DIR": str(state),
            "TT_IGNORE_DOTENV": "1",
            "TRIAGE_PORT": str(port),
            "TRIAGE_LOGIN_ATTEMPTS": "1000",
        }
        with log.open("wb") as log_file:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tweet_triage",
                    "--log-level",
                    "WARNING",
                    "triage",
                    "serve",
                    "--model",
                    str(model_dir),
                ],
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_for(url, server, log, 120)
            headers = {"Authorization": f"Bearer {token}"}
            cookies = _session_cookie(url)
            import httpx

            started = time.perf_counter()
            warm = httpx.post(
                url + "/api/score", json={"texts": texts[:64]}, headers=headers, timeout=300
            )
            model_load_s = time.perf_counter() - started
            if warm.status_code != 200:
                raise SystemExit(f"/api/score warm-up failed: {warm.status_code} {warm.text}")
            load_before = os.getloadavg()[0]
            results = []
            for scenario in scenarios:
                before = _model_passes(url, headers)
                result = _load(url, scenario, headers, cookies, texts)
                passes = _model_passes(url, headers) - before
                if scenario.texts and passes:
                    result["forward_passes"] = passes
                    result["texts_per_pass"] = round(result["ok"] * scenario.texts / passes, 1)
                results.append(result)
            mixed = _mixed(url, headers, texts, max(5, int(40 * SCALE)))
        finally:
            server.terminate()
            server.wait(timeout=60)
    single, batch = results[2], results[3]
    return {
        "model": model_note,
        "seeded_tweets": seeded,
        "open_queue": open_queue,
        "first_score_with_model_load_s": round(model_load_s, 2),
        "load_average_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "scenarios": results,
        "mixed_load": mixed,
        "batch_vs_single_texts_per_s": round(batch["texts_per_s"] / single["texts_per_s"], 1)
        if single["texts_per_s"]
        else None,
    }


def summarise(result: dict[str, Any]) -> str:
    lines = [
        "## Inbox: queue page and scoring API under load",
        "",
        f"`tweet-triage triage serve` (uvicorn, one worker, SQLite store with "
        f"{result['seeded_tweets']:,} scored tweets, {result['open_queue']:,} open), "
        f"{result['scenarios'][0]['clients']} concurrent keep-alive clients on the same 2 "
        f"shared cores; model: {result['model']} (first score, loading it: "
        f"{result['first_score_with_model_load_s']} s).",
        "",
        "| request | requests | errors | requests/s | p50 ms | p95 ms | texts/s | texts per "
        "forward pass |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["scenarios"]:
        lines.append(
            f"| {row['scenario']} | {row['requests']} | {row['errors']} | "
            f"{row['requests_per_s']:.1f} | {row['p50_ms']:.0f} | {row['p95_ms']:.0f} | "
            f"{row.get('texts_per_s', '')} | {row.get('texts_per_pass', '')} |"
        )
    single, batch = result["scenarios"][2], result["scenarios"][3]
    lines += [
        "",
        f"{single['clients']} clients sending one text each reach {single['texts_per_s']} texts/s, "
        f"{single['texts_per_s'] / batch['texts_per_s']:.0%} of the {batch['texts_per_s']} "
        "texts/s that batches of 64 reach: concurrent requests share forward passes "
        f"({single.get('texts_per_pass', 1)} texts per pass on average), so many small callers "
        "cost little more than one caller sending batches. A batch's p95 is its wait behind "
        "the other clients' batches (one pass at a time).",
    ]
    mixed = result.get("mixed_load")
    if mixed:
        lines += [
            "",
            f"Mixed load: while two clients kept sending 256 texts of 10,000 characters "
            f"(p50 {mixed['large_p50_ms'] / 1000:.1f} s each), single texts took p50 "
            f"{mixed['single_p50_ms']:.0f} ms, p95 {mixed['single_p95_ms']:.0f} ms "
            f"({mixed['single_requests']} requests).",
        ]
    load = result.get("load_average_1min")
    if load:
        lines.append(
            f"Load average (1 min) {load[0]} at the start and {load[1]} at the end, on 2 cores."
        )
    return "\n".join(lines)


if __name__ == "__main__":
    outcome = run()
    print(json.dumps(outcome, indent=2))
    print(summarise(outcome))
