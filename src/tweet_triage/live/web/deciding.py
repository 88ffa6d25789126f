"""Recording a decision from the inbox: the one path the queue, the label page and the API share.

`handled` is for flagged tweets (the queue's); a tweet the model did not flag is
`needed_us` (a miss) or `not_for_us`.

Two people may decide the same tweet at nearly the same time. Decisions are recorded one at a
time (the inbox is one process), and a page's decision on a tweet someone else has decided
meanwhile is not recorded: the person is told who decided first (409). The API records it (the
latest decision counts, as scripts correct themselves) and says whose decision it replaced.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

from tweet_triage.data.decisions import Decision
from tweet_triage.live.store import DecisionView, TriageStore, UnknownTweetError, UserView
from tweet_triage.live.web.deps import Inbox, ago


def record_decision(
    box: Inbox, tweet_id: str, user: UserView, decision: Decision, *, replace: bool
) -> tuple[DecisionView, DecisionView | None]:
    """Record `user`'s decision and count it in the metrics; with it, the other person's
    decision it replaced (`replace`) or met (409 without `replace`). 404: no such tweet."""
    with box.decisions_lock:
        try:
            tweet = box.store.get_tweet(tweet_id)
        except UnknownTweetError as exc:
            raise HTTPException(404, str(exc)) from exc
        if decision is Decision.HANDLED and not tweet.flagged:
            raise HTTPException(
                422,
                f"tweet {tweet_id} was not flagged, so it was never in the queue to be handled; "
                f"decide {Decision.NEEDED_US.value} (the model missed it) or "
                f"{Decision.NOT_FOR_US.value}",
            )
        earlier = _latest_decision(box.store, tweet_id) if tweet.decision is not None else None
        if earlier is not None and earlier.user_name == user.name:
            earlier = None  # people may correct themselves
        if earlier is not None and not replace:
            raise HTTPException(
                409,
                f"{earlier.user_name} decided this tweet first ({earlier.decision.display}, "
                f"{ago(earlier.decided_at)}); your decision was not saved",
            )
        recorded = box.store.decide(tweet_id, user.id, decision)
    box.metrics.decided(box.store, tweet_id, recorded.decided_at)
    return recorded, earlier


def _latest_decision(store: TriageStore, tweet_id: str) -> DecisionView:
    """The latest decision on a decided tweet (read only when the tweet has one)."""
    return next(d for d in reversed(store.decisions()) if d.tweet_id == tweet_id)


def decision_json(recorded: DecisionView, replaced: DecisionView | None = None) -> dict[str, Any]:
    """A recorded decision as the API and the pages' scripts receive it."""
    answer: dict[str, Any] = {
        "id": recorded.tweet_id,
        "decision": recorded.decision,
        "display": Decision(recorded.decision).display,
        "user": recorded.user_name,
        "decided_at": recorded.decided_at.isoformat(),
    }
    if replaced is not None:
        answer["replaced"] = {
            "decision": replaced.decision,
            "user": replaced.user_name,
            "decided_at": replaced.decided_at.isoformat(),
        }
    return answer
