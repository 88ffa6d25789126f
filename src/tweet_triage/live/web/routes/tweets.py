"""The team's pages over the tweets: the open queue (and its live fragment), all tweets, and
the decision form both post to."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from tweet_triage.data.decisions import Decision
from tweet_triage.live.store import DecisionSource, QueueOwner, TriageStore
from tweet_triage.live.web.deciding import decision_json, record_decision
from tweet_triage.live.web.deps import (
    WINDOWS,
    CsrfSessionDep,
    InboxDep,
    Order,
    SessionDep,
    StoreDep,
    Window,
    render,
    safe_next,
    window_start,
)

router = APIRouter()
PAGE_SIZE = 100  # tweets per page of "All tweets"
MAX_PAGES = 100  # further back, a narrower window or filter finds them


def _queue_context(
    store: TriageStore,
    user_id: int,
    order: Order,
    tag: str | None,
    window: str,
    owner: QueueOwner,
    limit: int = 100,
) -> dict[str, Any]:
    """The queue's rows: the author answered first, then the flagged open tweets; `owner`
    keeps mine, the unassigned or all."""
    filters = {"tag": tag or None, "since": window_start(window), "owner": owner}
    tweets = store.queue(order=order, limit=limit, user_id=user_id, **filters)
    return {
        "tweets": tweets,
        "queue_size": store.queue_size(),
        "filtered_size": store.queue_size(user_id=user_id, **filters),
        "shown": len(tweets),
    }


@router.get("/", response_class=HTMLResponse)
def queue_page(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    order: Order = "likely",
    tag: str = "",
    window: Window = "all",
    owner: QueueOwner = "all",
) -> Response:
    filters = {"order": order, "tag": tag, "window": window, "owner": owner}
    return render(
        request,
        "queue.html",
        {
            **filters,
            "windows": list(WINDOWS),
            "tags": store.rule_tags(),
            "fragment_url": "/fragments/queue?" + urlencode(filters),
            "saved_replies": store.saved_replies(),
            **_queue_context(store, session.user.id, order, tag, window, owner),
        },
    )


@router.get("/fragments/queue", response_class=HTMLResponse)
def queue_fragment(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    order: Order = "likely",
    tag: str = "",
    window: Window = "all",
    owner: QueueOwner = "all",
) -> Response:
    return render(
        request,
        "_queue_rows.html",
        _queue_context(store, session.user.id, order, tag, window, owner),
    )


@router.get("/tweets", response_class=HTMLResponse)
def tweets_page(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    flagged: Literal["all", "yes", "no"] = "all",
    tag: str = "",
    window: Window = "24h",
    page: Annotated[int, Query(ge=1, le=MAX_PAGES)] = 1,
) -> Response:
    flag = {"all": None, "yes": True, "no": False}[flagged]
    newest = store.tweets(
        flagged=flag, tag=tag or None, since=window_start(window), limit=page * PAGE_SIZE + 1
    )
    filters = {"flagged": flagged, "tag": tag, "window": window}
    return render(
        request,
        "tweets.html",
        {
            "tweets": newest[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
            "first": (page - 1) * PAGE_SIZE + 1,
            "newer_url": f"/tweets?{urlencode({**filters, 'page': page - 1})}"
            if page > 1
            else None,
            "older_url": (
                f"/tweets?{urlencode({**filters, 'page': page + 1})}"
                if len(newest) > page * PAGE_SIZE and page < MAX_PAGES
                else None
            ),
            **filters,
            "windows": list(WINDOWS),
            "tags": store.rule_tags(),
            "saved_replies": store.saved_replies(),
        },
    )


@router.post("/decisions")
def decide_from_form(
    request: Request,
    session: CsrfSessionDep,
    box: InboxDep,
    tweet_id: Annotated[str, Form(max_length=32)],
    decision: Annotated[Decision, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    recorded = record_decision(
        box, tweet_id, session.user, decision, replace=False, source=DecisionSource.QUEUE
    )
    if request.headers.get("accept", "").startswith("application/json"):
        return JSONResponse(decision_json(recorded))
    return RedirectResponse(safe_next(next), status_code=303)
