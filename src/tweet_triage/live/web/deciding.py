"""Recording a decision from the inbox: the one path the queue, the label page and the API share."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

from tweet_triage.data.decisions import Decision
from tweet_triage.live.store import DecisionView, UnknownTweetError, UserView
from tweet_triage.live.web.deps import Inbox


def record_decision(box: Inbox, tweet_id: str, user: UserView, decision: Decision) -> DecisionView:
    """Record `user`'s decision on a tweet and count it in the metrics (404: no such tweet)."""
    try:
        recorded = box.store.decide(tweet_id, user.id, decision.value)
    except UnknownTweetError as exc:
        raise HTTPException(404, str(exc)) from exc
    box.metrics.decided(box.store, tweet_id, recorded.decided_at)
    return recorded


def decision_json(recorded: DecisionView) -> dict[str, Any]:
    """A recorded decision as the API and the pages' scripts receive it."""
    return {
        "id": recorded.tweet_id,
        "decision": recorded.decision,
        "display": Decision(recorded.decision).display,
        "user": recorded.user_name,
        "decided_at": recorded.decided_at.isoformat(),
    }
