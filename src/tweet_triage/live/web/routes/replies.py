"""Answering a tweet on X from the inbox. A reply is saved here (queued) and sent by the outbox
worker, so a request never waits on X and nothing is posted twice.

For scripts and the pages' own script (`deps.team_user`: a bearer token, or the session with
`X-CSRF-Token`):
- `POST /api/replies` `{"tweet_id", "text", "confirm"?, "saved_reply_id"?}`: 202 with the reply
  (`{"id", "status": "queued", ...}`); 422 names X's limit and the text's weighted count; 409
  names who replied to the tweet within the confirm window, unless `"confirm": true`.
- `GET /api/replies/{id}`: its delivery (queued, sent with X's id, failed with X's reason).
- `POST /api/replies/{id}/resend` `{"text"}`: a failed reply, edited, queued again.
- `GET /api/suggestions/{tweet_id}` and `GET /api/saved-replies/{id}/text?tweet_id=`: the
  suggested saved reply and a saved reply's text, filled in for that tweet's author.

For pages without script, the same as forms: `POST /replies`, `POST /replies/{id}/resend`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from tweet_triage.live.store import (
    AlreadyRepliedError,
    ReplyNotFailedError,
    ReplyTextError,
    ReplyView,
    SavedReplyView,
    StoreError,
    UnknownReplyError,
    UnknownSavedReplyError,
    UnknownTweetError,
    UserView,
)
from tweet_triage.live.web.deps import CsrfSessionDep, Inbox, InboxDep, RowId, TeamUserDep, ago
from tweet_triage.live.web.errors import Refusal
from tweet_triage.live.web.routes.api import Utf8Str

router = APIRouter()
MAX_REPLY_CHARS = 10_000  # far over X's limit: the store counts and refuses with the count
TweetId = Annotated[Utf8Str, StringConstraints(min_length=1, max_length=32)]
ReplyText = Annotated[Utf8Str, StringConstraints(max_length=MAX_REPLY_CHARS)]


class ReplyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tweet_id: TweetId
    text: ReplyText
    confirm: bool = False
    saved_reply_id: RowId | None = None


class ResendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: ReplyText


def queue_reply(
    box: Inbox,
    user: UserView,
    tweet_id: str,
    text: str,
    *,
    confirm: bool,
    saved_reply_id: int | None,
) -> ReplyView:
    """Queue `user`'s reply, or refuse it saying why (404, 409 who replied, 422 the count)."""
    try:
        return box.store.queue_reply(
            tweet_id,
            user.id,
            text,
            confirm=confirm,
            saved_reply_id=saved_reply_id,
            window=timedelta(minutes=box.config.reply_window_minutes),
        )
    except UnknownTweetError as exc:
        raise HTTPException(404, str(exc)) from exc
    except ReplyTextError as exc:
        raise _too_long(exc) from exc
    except AlreadyRepliedError as exc:
        raise Refusal(
            409,
            f"{exc.by_user} already replied to this tweet {ago(exc.at)}; send again with "
            "confirm to reply once more",
            replied_by=exc.by_user,
            replied_at=exc.at.isoformat(),
            reply_id=exc.reply_id,
        ) from exc
    except StoreError as exc:  # e.g. a saved reply that no longer exists
        raise HTTPException(422, str(exc)) from exc


def _too_long(exc: ReplyTextError) -> Refusal:
    return Refusal(422, str(exc), count=exc.count, limit=exc.limit)


def _resend(box: Inbox, user: UserView, reply_id: int, text: str) -> ReplyView:
    try:
        return box.store.resend_reply(reply_id, user.id, text)
    except UnknownReplyError as exc:
        raise HTTPException(404, str(exc)) from exc
    except ReplyTextError as exc:
        raise _too_long(exc) from exc
    except ReplyNotFailedError as exc:
        raise HTTPException(409, str(exc)) from exc


def _reply(box: Inbox, reply_id: int) -> ReplyView:
    try:
        return box.store.reply(reply_id)
    except UnknownReplyError as exc:
        raise HTTPException(404, str(exc)) from exc


@router.post("/api/replies", status_code=202)
def api_reply(body: ReplyRequest, user: TeamUserDep, box: InboxDep) -> Response:
    reply = queue_reply(
        box,
        user,
        body.tweet_id,
        body.text,
        confirm=body.confirm,
        saved_reply_id=body.saved_reply_id,
    )
    return JSONResponse(reply.as_json(), 202)


@router.get("/api/replies/{reply_id}")
def api_reply_status(reply_id: RowId, user: TeamUserDep, box: InboxDep) -> dict[str, Any]:
    return _reply(box, reply_id).as_json()


@router.post("/api/replies/{reply_id}/resend", status_code=202)
def api_resend(reply_id: RowId, body: ResendRequest, user: TeamUserDep, box: InboxDep) -> Response:
    return JSONResponse(_resend(box, user, reply_id, body.text).as_json(), 202)


def _saved(box: Inbox, saved_reply_id: int) -> SavedReplyView:
    try:
        return box.store.saved_reply(saved_reply_id)
    except UnknownSavedReplyError as exc:
        raise HTTPException(404, str(exc)) from exc


def _filled(saved: SavedReplyView, box: Inbox, tweet_id: str, user: UserView) -> dict[str, Any]:
    try:
        tweet = box.store.get_tweet(tweet_id)
    except UnknownTweetError as exc:
        raise HTTPException(404, str(exc)) from exc
    text = saved.expand(author=tweet.author_name, handle=tweet.author_handle, agent=user.name)
    return {"id": saved.id, "shortcode": saved.shortcode, "title": saved.title, "text": text}


@router.get("/api/saved-replies/{saved_reply_id}/text")
def api_saved_reply_text(
    saved_reply_id: RowId, tweet_id: TweetId, user: TeamUserDep, box: InboxDep
) -> dict[str, Any]:
    """A saved reply's text with {author}, {handle} and {agent} filled for this tweet."""
    return _filled(_saved(box, saved_reply_id), box, tweet_id, user)


@router.get("/api/suggestions/{tweet_id}")
def api_suggestion(tweet_id: TweetId, user: TeamUserDep, box: InboxDep) -> dict[str, Any]:
    """The saved reply the team used most on the most similar past tweets, or null."""
    try:
        tweet = box.store.get_tweet(tweet_id)
    except UnknownTweetError as exc:
        raise HTTPException(404, str(exc)) from exc
    suggested = box.suggestions.suggest(tweet.text)
    if suggested is None:
        return {"saved_reply": None}
    try:
        return {"saved_reply": _filled(_saved(box, suggested), box, tweet_id, user)}
    except HTTPException:  # deleted since it was used
        return {"saved_reply": None}


@router.post("/replies")
def reply_from_form(
    session: CsrfSessionDep,
    box: InboxDep,
    tweet_id: Annotated[TweetId, Form()],
    text: Annotated[ReplyText, Form()],
    confirm: Annotated[bool, Form()] = False,
    saved_reply_id: Annotated[RowId | None, Form()] = None,
) -> Response:
    queue_reply(box, session.user, tweet_id, text, confirm=confirm, saved_reply_id=saved_reply_id)
    return RedirectResponse(f"/conversations/{tweet_id}#replies", status_code=303)


@router.post("/replies/{reply_id}/resend")
def resend_from_form(
    reply_id: RowId,
    session: CsrfSessionDep,
    box: InboxDep,
    text: Annotated[ReplyText, Form()],
) -> Response:
    reply = _resend(box, session.user, reply_id, text)
    return RedirectResponse(f"/conversations/{reply.tweet_id}#replies", status_code=303)
