"""The capacity view: what a team that reads at a given rate reaches, in model or arrival order.

The team is one queue over the split's own timeline: tweets arrive at `created_at`; whenever
the team is free it reads one waiting tweet, either the highest-scored (model order) or the
oldest (arrival order), and stops at the last arrival (what is still waiting then is not
reached). Capacity is in tweets per hour (every tweet costs the same) or in minutes of work
per hour (a tweet costs its response time if it needs support, its reading time if not, as
in the business metrics). Reported per order: the share of needs-support tweets reached and
the median wait (arrival to read) of a needs-support tweet, a tweet never reached counting
as an endless wait (so the median is None when fewer than half are reached).
"""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np

from tweet_triage.model.metrics import tweet_seconds
from tweet_triage.model.parameters import BusinessParams, Capacity

ORDERS = ("model", "arrival")


def work_seconds(
    y_true: np.ndarray, words: np.ndarray, params: BusinessParams, unit: str
) -> np.ndarray:
    """Work one tweet costs in the capacity's unit: 1 tweet, or seconds of reading/replying."""
    y = np.asarray(y_true, dtype=int)
    if unit == "tweets":
        return np.ones(len(y))
    response, waste = tweet_seconds(words, params)
    return np.where(y == 1, response, waste)


def simulate_queue(
    arrival_s: np.ndarray, score: np.ndarray, work: np.ndarray, rate: float, order: str
) -> np.ndarray:
    """Read time (seconds, same clock as arrivals) of each tweet; NaN if not read by the end.

    `rate` is work units the team does per second of wall time; reading a tweet takes
    `work / rate` seconds. Ties in score go to the earlier arrival.
    """
    arrival = np.asarray(arrival_s, dtype=float)
    by_arrival = np.argsort(arrival, kind="stable")
    end = float(arrival.max()) if len(arrival) else 0.0
    read_at = np.full(len(arrival), np.nan)
    waiting: list[tuple[float, float, int]] = []
    clock, next_up = (float(arrival[by_arrival[0]]) if len(arrival) else 0.0), 0
    while True:
        while next_up < len(by_arrival) and arrival[by_arrival[next_up]] <= clock:
            i = int(by_arrival[next_up])
            key = -float(score[i]) if order == "model" else 0.0
            heapq.heappush(waiting, (key, float(arrival[i]), i))
            next_up += 1
        if not waiting:
            if next_up == len(by_arrival):
                break
            clock = float(arrival[by_arrival[next_up]])
            continue
        _, _, i = heapq.heappop(waiting)
        finished = clock + float(work[i]) / rate
        if finished > end:
            break
        read_at[i] = finished
        clock = finished
    return read_at


def reach(
    y_true: np.ndarray,
    arrival_s: np.ndarray,
    score: np.ndarray,
    work: np.ndarray,
    rate: float,
    order: str,
) -> dict[str, Any]:
    """Share of needs-support tweets read and their median wait in minutes (None: < half)."""
    y = np.asarray(y_true, dtype=int)
    read_at = simulate_queue(arrival_s, score, work, rate, order)
    positives = y == 1
    waits = np.where(np.isnan(read_at), np.inf, read_at - np.asarray(arrival_s, dtype=float))
    waits = waits[positives]
    reached = float(np.isfinite(waits).mean()) if positives.any() else float("nan")
    median = float(np.median(waits)) if positives.any() else float("nan")
    return {
        "reached_share": reached,
        "median_wait_min": median / 60 if np.isfinite(median) else None,
        "tweets_read": int((~np.isnan(read_at)).sum()),
    }


def capacity_view(
    y_true: np.ndarray,
    p: np.ndarray,
    created_at: Any,
    words: np.ndarray,
    params: BusinessParams,
    capacity: Capacity,
    grid_points: int = 12,
) -> dict[str, Any]:
    """Reach and median wait at the team's capacity in both orders, and reach over a grid of
    capacities (0 to 1.5 x the work arriving per hour, and the team's capacity if higher) for
    the plot; {} without times."""
    import pandas as pd

    times = pd.to_datetime(pd.Series(created_at), utc=True, errors="coerce")
    keep = times.notna().to_numpy()
    if keep.sum() < 2:
        return {}
    seconds = (times[keep] - times[keep].min()).dt.total_seconds().to_numpy()
    y, score = np.asarray(y_true, dtype=int)[keep], np.asarray(p, dtype=float)[keep]
    work = work_seconds(y, np.asarray(words)[keep], params, capacity.unit)
    per_unit = 3600.0 if capacity.unit == "tweets" else 60.0  # work units per hour -> per s
    hours = max(float(seconds.max()) / 3600.0, 1e-9)
    arriving_per_hour = float(work.sum()) / (per_unit if capacity.unit == "minutes" else 1.0)
    arriving_per_hour /= hours
    at_capacity = {
        order: reach(y, seconds, score, work, capacity.per_hour / per_unit, order)
        for order in ORDERS
    }
    # Reach changes below the arriving work; above it every order reaches everything. The
    # grid covers that range, plus the team's capacity when it lies beyond.
    grid = np.linspace(0, 1.5 * arriving_per_hour, grid_points + 1)[1:]
    if capacity.per_hour > grid[-1]:
        grid = np.append(grid, capacity.per_hour)
    curve = [
        {
            "capacity_per_hour": float(c),
            **{
                f"{order}_reached": reach(y, seconds, score, work, c / per_unit, order)[
                    "reached_share"
                ]
                for order in ORDERS
            },
        }
        for c in grid
    ]
    return {
        "capacity_per_hour": capacity.per_hour,
        "unit": capacity.unit,
        "hours": hours,
        "tweets": len(y),
        "arriving_per_hour": arriving_per_hour,
        **at_capacity,
        "curve": curve,
    }
