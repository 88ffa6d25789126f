"""The one retry helper (tweet_triage.retry) as the sender and the supervisor use it."""

from __future__ import annotations

from tweet_triage.hosts.supervisor import RestartPolicy
from tweet_triage.retry import DEFAULT_DELAYS, Backoff


def test_backoff_doubles_to_its_caps_with_equal_jitter() -> None:
    backoff = Backoff(base_seconds=1, cap_seconds=8, permanent_cap_seconds=30)
    for attempt, ceiling in enumerate([1, 2, 4, 8, 8]):
        assert ceiling / 2 <= backoff.delay(attempt) <= ceiling
    assert 15 <= backoff.delay(10, permanent=True) <= 30


def test_a_long_outage_does_not_overflow_the_exponent() -> None:
    assert Backoff(cap_seconds=20, jitter=False).delay(5_000) == 20


def test_restarts_and_aws_waits_are_the_same_backoff_without_jitter() -> None:
    policy = RestartPolicy(initial_delay=1, max_delay=60)
    assert [policy.next_delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert DEFAULT_DELAYS == (1, 2, 4, 8, 16, 20, 20, 20, 20, 20)
