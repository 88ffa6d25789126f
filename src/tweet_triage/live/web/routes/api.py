"""The JSON API for scripts (bearer token only): score texts, read the queue, decide."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, StringConstraints

from tweet_triage.data.decisions import Decision
from tweet_triage.live.store import DecisionSource, QueueOwner
from tweet_triage.live.web.deciding import decision_json, record_decision
from tweet_triage.live.web.deps import ApiUserDep, InboxDep, Order, StoreDep
from tweet_triage.live.web.scoring import ModelUnavailableError, ScoringBusyError

router = APIRouter(prefix="/api")
MAX_TEXT_CHARS = 10_000


def _utf8(text: str) -> str:
    """JSON may carry a lone surrogate (`"\\ud800"`), which no UTF-8 text or database holds."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            "holds a lone surrogate (\\ud800-\\udfff); send valid Unicode text"
        ) from None
    return text


def _in_utc_range(moment: datetime | None) -> datetime | None:
    """A moment the store can compare with: convertible to UTC (9999-12-31T23:59-05:00 is not)."""
    if moment is None:
        return None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC; use an earlier time") from None


Utf8Str = Annotated[StrictStr, AfterValidator(_utf8)]
TweetText = Annotated[Utf8Str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS)]
Since = Annotated[datetime | None, AfterValidator(_in_utc_range)]


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[TweetText] = Field(min_length=1)


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[Utf8Str, StringConstraints(min_length=1, max_length=32)]
    decision: Decision


def _invalid(loc: tuple[str | int, ...], message: str, kind: str) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": loc, "msg": message, "input": None}])


@router.post("/score")
async def score(body: ScoreRequest, user: ApiUserDep, box: InboxDep) -> Response:
    """Scores in the scoring lane's threads (`Inbox.score_lane`), never the pages'."""
    cap = box.config.score_max_texts
    if len(body.texts) > cap:
        raise _invalid(
            ("body", "texts"), f"at most {cap} texts per request, got {len(body.texts)}", "too_long"
        )
    for i, text in enumerate(body.texts):
        if not text.strip():
            raise _invalid(("body", "texts", i), "text is blank", "string_too_short")
    started = time.perf_counter()
    try:
        scores = await to_thread.run_sync(box.model.score, body.texts, limiter=box.score_lane)
    except ModelUnavailableError as exc:
        raise HTTPException(503, f"no model to score with: {exc}") from exc
    except ScoringBusyError as exc:
        raise HTTPException(429, str(exc), {"Retry-After": str(exc.retry_after)}) from exc
    box.metrics.scored_request(len(body.texts), time.perf_counter() - started)
    return JSONResponse(
        [
            {
                "p_needs_support": round(p, 6),
                "needs_support": p >= scores.threshold,
                "model_version": scores.version,
            }
            for p in scores.probabilities
        ]
    )


@router.get("/queue")
def api_queue(
    user: ApiUserDep,
    store: StoreDep,
    order: Order = "likely",
    tag: Utf8Str | None = None,
    since: Since = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    owner: QueueOwner = "all",
) -> list[dict[str, Any]]:
    """The open queue; `owner` keeps the token user's own ("mine") or the unassigned."""
    found = store.queue(
        order=order, tag=tag, since=since, limit=limit, owner=owner, user_id=user.id
    )
    return [t.as_json() for t in found]


@router.post("/decisions")
def api_decide(body: DecisionRequest, user: ApiUserDep, box: InboxDep) -> Response:
    recorded = record_decision(
        box, body.id, user, body.decision, replace=True, source=DecisionSource.API
    )
    return JSONResponse(decision_json(recorded), 201)
