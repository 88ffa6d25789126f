"""The team's pages over the tweets: the open queue (and its live fragment), all tweets, and
the decision form both post to."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import StringConstraints

from tweet_triage.data.decisions import Decision
from tweet_triage.live.store import DecisionSource, QueueOwner, TriageStore, UnknownTweetError
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
# Rows per page of the queue and of "All tweets": a screenful or two to work from the top of.
# Each row carries its decision and reply forms, so rows are most of a page's time.
PAGE_SIZE = 50
TweetKey = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,32}$")]


def _queue_context(
    store: TriageStore,
    user_id: int,
    order: Order,
    tag: str | None,
    window: str,
    owner: QueueOwner,
) -> dict[str, Any]:
    """The queue's rows: the author answered first, then the flagged open tweets; `owner`
    keeps mine, the unassigned or all."""
    page = store.queue_page(
        order=order,
        tag=tag or None,
        since=window_start(window),
        owner=owner,
        user_id=user_id,
        limit=PAGE_SIZE,
    )
    return {
        "tweets": page.tweets,
        "queue_size": page.queue_size,
        "filtered_size": page.filtered_size,
        "shown": len(page.tweets),
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


def _page_url(filters: dict[str, str], **cursor: str) -> str:
    return "/tweets?" + urlencode({**filters, **cursor})


@router.get("/tweets", response_class=HTMLResponse)
def tweets_page(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    flagged: Literal["all", "yes", "no"] = "all",
    tag: str = "",
    window: Window = "24h",
    before: TweetKey | None = None,
    after: TweetKey | None = None,
) -> Response:
    """Every tweet, newest first, a page at a time: `before` a tweet id pages back to older
    tweets, `after` forward to newer ones (by key, so a page far back costs what the first does)."""
    if before and after:
        raise HTTPException(422, "page with before= or after=, not both")
    flag = {"all": None, "yes": True, "no": False}[flagged]
    try:
        rows = store.tweets(
            flagged=flag,
            tag=tag or None,
            since=window_start(window),
            limit=PAGE_SIZE + 1,
            before=before,
            after=after,
        )
    except UnknownTweetError as exc:
        raise HTTPException(404, f"{exc}; start again from the newest tweets") from exc
    more = len(rows) > PAGE_SIZE  # one more page beyond this one, in the paging direction
    shown = rows[-PAGE_SIZE:] if after else rows[:PAGE_SIZE]
    filters = {"flagged": flagged, "tag": tag, "window": window}
    newer = shown and (before or (after and more))
    older = shown and (after or more)
    return render(
        request,
        "tweets.html",
        {
            "tweets": shown,
            "newer_url": _page_url(filters, after=shown[0].id) if newer else None,
            "older_url": _page_url(filters, before=shown[-1].id) if older else None,
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
