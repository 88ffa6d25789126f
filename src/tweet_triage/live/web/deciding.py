"""Recording a decision from the inbox: the one path the queue, the label page and the API share.

`handled` is for flagged tweets (the queue's); a tweet the model did not flag is
`needed_us` (a miss) or `not_for_us`.

Two people may decide the same tweet at nearly the same time; the store serialises decisions
on one tweet and says who decided first. A page's decision on a tweet someone else decided
meanwhile is not recorded: the person is told who decided first (409). The API records it
(the latest decision counts, as scripts correct themselves) and says whose it replaced.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

from tweet_triage.data.decisions import Decision
from tweet_triage.live.store import (
    DecidedByOtherError,
    DecisionSource,
    DecisionView,
    UnknownTweetError,
    UserView,
)
from tweet_triage.live.web.deps import Inbox, ago


def record_decision(
    box: Inbox,
    tweet_id: str,
    user: UserView,
    decision: Decision,
    *,
    replace: bool,
    source: DecisionSource,
) -> DecisionView:
    """Record `user`'s decision made on `source` (the queue, the label page, the API) and count
    it in the metrics; its `earlier_by_other` is the other person's decision it replaced
    (`replace`), which is otherwise a 409. 404: no such tweet; 422: `handled` on a tweet that
    was never flagged."""
    try:
        if decision is Decision.HANDLED and not box.store.get_tweet(tweet_id).flagged:
            raise HTTPException(
                422,
                f"tweet {tweet_id} was not flagged, so it was never in the queue to be "
                f"handled; decide {Decision.NEEDED_US.value} (the model missed it) or "
                f"{Decision.NOT_FOR_US.value}",
            )
        recorded = box.store.decide(
            tweet_id, user.id, decision, replace_others=replace, source=source
        )
    except UnknownTweetError as exc:
        raise HTTPException(404, str(exc)) from exc
    except DecidedByOtherError as exc:
        first = exc.earlier
        raise HTTPException(
            409,
            f"{first.user_name} decided this tweet first ({first.decision.display}, "
            f"{ago(first.decided_at)}); your decision was not saved",
        ) from exc
    box.metrics.decided(box.store, tweet_id, recorded.decided_at)
    return recorded


def decision_json(recorded: DecisionView) -> dict[str, Any]:
    """A recorded decision as the API and the pages' scripts receive it."""
    answer: dict[str, Any] = {
        "id": recorded.tweet_id,
        "decision": recorded.decision,
        "display": Decision(recorded.decision).display,
        "user": recorded.user_name,
        "decided_at": recorded.decided_at.isoformat(),
    }
    replaced = recorded.earlier_by_other
    if replaced is not None:
        answer["replaced"] = {
            "decision": replaced.decision,
            "user": replaced.user_name,
            "decided_at": replaced.decided_at.isoformat(),
        }
    return answer
