"""The suggested saved reply on the bundled corpus: how often it is the reply the team then sent.

The demo answers too few tweets to measure this, so the benchmark replays the corpus instead.
The "team" is the demo's scripted member (`demo_replies.pick_saved_reply`): a keyword rule
standing in for people, so the suggestion (MiniLM nearest past replies, `suggest.hit_rate`)
is judged on how well it learns that rule from text similarity alone. The first `SAMPLE`
corpus tweets (arrival order) the rule answers with a saved reply are replayed in order, each
suggested for from the replies before it only, beside two baselines on the same tweets:

- majority: the saved reply used most so far;
- random: one of the saved replies at random (the mean over `RANDOM_DRAWS` seeded draws).

Also the hit rate by how many past replies exist (windows of the replay), the suggestion's
parameters (`k`, `min_similarity`) at the defaults and a few alternatives, the encoder's
throughput (batched) and the time of one live suggestion (one tweet encoded, then the vote).

    python -m benchmarks.run suggest
"""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

SAMPLE = 1500
WARM_UP = 50
WINDOWS = ((50, 200), (200, 1000), (1000, SAMPLE))
DEFAULTS = {"k": 10, "min_similarity": 0.3}
ALTERNATIVES = (
    {"k": 1, "min_similarity": 0.3},
    {"k": 30, "min_similarity": 0.3},
    {"k": 10, "min_similarity": 0.5},
)
TIMED_SUGGESTIONS = 50
SEED = 0
RANDOM_DRAWS = 100


class CachedEncoder:
    """The real encoder, each distinct text encoded once: the replays with other parameters and
    windows reuse the vectors of the first."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.vectors: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if missing:
            self.vectors.update(zip(missing, self.encoder.encode(missing), strict=True))
        return np.stack([self.vectors[t] for t in texts])


def corpus_examples(count: int) -> tuple[list[Any], dict[str, int]]:
    """The first `count` bundled corpus tweets the demo's team member answers with a saved
    reply, as reply examples in arrival order, and the saved replies' ids."""
    from tweet_triage.live.replies.suggest import ReplyExample
    from tweet_triage_local.corpus.store import BUNDLED_TWEETS, load_tweets
    from tweet_triage_local.demo_replies import SAVED_REPLIES, pick_saved_reply

    ids = {code: number for number, (code, *_rest) in enumerate(SAVED_REPLIES, 1)}
    tweets = sorted(load_tweets(BUNDLED_TWEETS), key=lambda t: t["created_at"])
    examples = []
    for tweet in tweets:
        code = pick_saved_reply(tweet["text"])
        if code:
            examples.append(ReplyExample(tweet["text"], ids[code]))
            if len(examples) == count:
                break
    return examples, ids


def baselines(reply_ids: Sequence[int], choices: Sequence[int], start: int, end: int) -> dict:
    """Hit shares of the majority-so-far and the random baseline on replies start..end-1."""
    guesses = np.random.default_rng(SEED).choice(choices, size=(RANDOM_DRAWS, end - start))
    randomly = float((guesses == np.asarray(reply_ids[start:end])).mean())
    seen = Counter(reply_ids[:start])
    majority = 0
    for index in range(start, end):
        # Ties go to the lower id, as the suggestion's vote does.
        best = max(seen, key=lambda r: (seen[r], -r)) if seen else None
        majority += best == reply_ids[index]
        seen[reply_ids[index]] += 1
    return {"majority": majority / (end - start), "random": randomly}


def no_suggestion_share(vectors: np.ndarray, reply_ids: Sequence[int], **params: Any) -> float:
    """How often no past reply is similar enough to vote (`hit_rate` counts these as misses):
    the share of the replay where the inbox would show no suggestion."""
    from tweet_triage.live.replies.suggest import suggest_from_vectors

    missing = sum(
        suggest_from_vectors(vectors[i], vectors[:i], reply_ids[:i], **params) is None
        for i in range(WARM_UP, len(reply_ids))
    )
    return missing / (len(reply_ids) - WARM_UP)


def run() -> dict[str, Any]:
    from tweet_triage.live.replies.suggest import ReplySuggester, SentenceEncoder, hit_rate

    load_start = os.getloadavg()
    examples, ids = corpus_examples(SAMPLE + TIMED_SUGGESTIONS)
    replayed, fresh = examples[:SAMPLE], examples[SAMPLE:]
    if len(fresh) < TIMED_SUGGESTIONS:
        raise RuntimeError(
            f"the bundled corpus has {len(examples)} tweets the demo's rule answers with a saved "
            f"reply, fewer than SAMPLE + TIMED_SUGGESTIONS; lower SAMPLE in {__file__}"
        )
    reply_ids = [e.saved_reply_id for e in replayed]

    started = time.perf_counter()
    encoder = CachedEncoder(SentenceEncoder())
    load_seconds = time.perf_counter() - started
    texts = [e.tweet_text for e in replayed]
    started = time.perf_counter()
    encoder.encode(texts)
    encode_seconds = time.perf_counter() - started

    def replay(params: dict[str, Any], start: int, end: int) -> dict[str, Any]:
        began = time.perf_counter()
        share, scored = hit_rate(encoder, replayed[:end], warm_up=start, **params)
        seconds = time.perf_counter() - began
        return {"hit_rate": share, "scored": scored, "vote_ms": 1000 * seconds / scored}

    headline = {
        **replay(DEFAULTS, WARM_UP, SAMPLE),
        **baselines(reply_ids, list(ids.values()), WARM_UP, SAMPLE),
    }
    windows = [
        {
            "past_replies": f"{start}-{end - 1}",
            "suggestion": replay(DEFAULTS, start, end)["hit_rate"],
            **baselines(reply_ids, list(ids.values()), start, end),
        }
        for start, end in WINDOWS
    ]
    vectors = encoder.encode(texts)
    alternatives = []
    for params in (DEFAULTS, *ALTERNATIVES):
        replayed_with = replay(params, WARM_UP, SAMPLE)
        silent = no_suggestion_share(vectors, reply_ids, **params)
        alternatives.append(
            {
                **params,
                **replayed_with,
                "no_suggestion": silent,
                "hit_rate_when_suggested": replayed_with["hit_rate"] / (1 - silent),
            }
        )

    # One live suggestion: a tweet not yet encoded, against every replayed reply.
    suggester = ReplySuggester(encoder, replayed, **DEFAULTS)
    latencies = []
    for example in fresh:
        began = time.perf_counter()
        suggester.suggest(example.tweet_text)
        latencies.append(1000 * (time.perf_counter() - began))
    return {
        "sample": SAMPLE,
        "warm_up": WARM_UP,
        "team": "demo_replies.pick_saved_reply (a keyword rule)",
        "saved_replies": ids,
        "reply_mix": {code: reply_ids.count(number) / SAMPLE for code, number in ids.items()},
        "defaults": DEFAULTS,
        "headline": headline,
        "windows": windows,
        "alternatives": alternatives,
        "encoder": {
            "load_seconds": round(load_seconds, 1),
            "batched_tweets_per_second": round(SAMPLE / encode_seconds, 1),
        },
        "suggestion_ms": {
            "n": len(latencies),
            "p50": round(statistics.median(latencies), 1),
            "p95": round(statistics.quantiles(latencies, n=20)[-1], 1),
            "history": len(replayed),
        },
        "load_average_at_start": load_start[0],
        "load_average_at_end": os.getloadavg()[0],
    }


def summarise(result: dict[str, Any]) -> str:
    head, enc, lat = result["headline"], result["encoder"], result["suggestion_ms"]
    lines = [
        "## Replies: the suggested saved reply",
        "",
        f"The first {result['sample']:,} bundled corpus tweets the demo's keyword rule answers "
        f"with a saved reply, replayed in arrival order after a warm-up of {result['warm_up']}; "
        f"hit = the suggestion is the reply the rule chose. Load average "
        f"{result['load_average_at_start']:.1f} at start, {result['load_average_at_end']:.1f} "
        "at the end.",
        "",
        f"| past replies | suggestion (k {result['defaults']['k']}, min similarity "
        f"{result['defaults']['min_similarity']}) | majority so far | random |",
        "|---|---:|---:|---:|",
        f"| {result['warm_up']}-{result['sample'] - 1} | {head['hit_rate']:.1%} | "
        f"{head['majority']:.1%} | {head['random']:.1%} |",
    ]
    lines += [
        f"| {w['past_replies']} | {w['suggestion']:.1%} | {w['majority']:.1%} | {w['random']:.1%} |"
        for w in result["windows"]
    ]
    lines += [
        "",
        "| k | min similarity | hit rate | no suggestion | hit rate when suggesting |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {a['k']} | {a['min_similarity']} | {a['hit_rate']:.1%} | {a['no_suggestion']:.1%} "
        f"| {a['hit_rate_when_suggested']:.1%} |"
        for a in result["alternatives"]
    ]
    lines += [
        "",
        f"Encoder: {enc['batched_tweets_per_second']:.0f} tweets/s batched (loaded in "
        f"{enc['load_seconds']:.1f} s); one suggestion (encode one tweet, vote over "
        f"{lat['history']:,} past replies): p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms; "
        f"the vote alone {head['vote_ms']:.2f} ms.",
    ]
    return "\n".join(lines)
