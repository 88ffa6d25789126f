"""A conversation: the author's tweets and the team's replies in time order, who owns it, the
team's notes, and who else has it open.

- `GET /conversations/{tweet_id}`: the page (any tweet of the conversation names it).
- `GET /api/conversations/{tweet_id}`: the same for scripts: tweets and replies in time order,
  status and assignee.
- ownership: `claim` (mine), `assign` (to a teammate by name), `release`, `resolve`, as a form
  (`POST /conversations/{tweet_id}/status`) or JSON (`POST /api/conversations/{tweet_id}/status`).
- notes, never sent to X: `POST /conversations/{tweet_id}/notes` (form) and
  `POST /api/conversations/{tweet_id}/notes` (JSON).
- presence: the page posts `POST /api/presence` every few seconds (viewing, or drafting while
  its reply box holds text) and gets back who else is there; `GET /api/presence/{tweet_id}` reads
  it. Someone counts as there while their last heartbeat is recent (the store's window).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from tweet_triage.live.store import (
    Activity,
    ConversationView,
    StoreError,
    UnknownTweetError,
    UnknownUserError,
    UserView,
)
from tweet_triage.live.web.deps import (
    CsrfSessionDep,
    Inbox,
    InboxDep,
    SessionDep,
    TeamUserDep,
    render,
)
from tweet_triage.live.web.routes.api import Utf8Str
from tweet_triage.live.web.routes.replies import TweetId

router = APIRouter()
MAX_NOTE_CHARS = 5_000
Action = Literal["claim", "assign", "release", "resolve"]
UserName = Annotated[Utf8Str, StringConstraints(min_length=1, max_length=100)]
NoteText = Annotated[Utf8Str, StringConstraints(min_length=1, max_length=MAX_NOTE_CHARS)]


class StatusRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Action
    assignee: UserName | None = None


class NoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: NoteText


class PresenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tweet_id: TweetId
    activity: Activity


def _conversation(box: Inbox, tweet_id: str) -> ConversationView:
    try:
        return box.store.conversation(tweet_id)
    except UnknownTweetError as exc:
        raise HTTPException(404, str(exc)) from exc


def change_status(
    box: Inbox, tweet_id: str, user: UserView, action: Action, assignee: str | None
) -> ConversationView:
    """Claim, assign, release or resolve the tweet's conversation as `user`."""
    try:
        match action:
            case "claim":
                box.store.claim(tweet_id, user.id)
            case "assign":
                if not assignee:
                    raise HTTPException(422, "assign needs the teammate's name (assignee)")
                box.store.assign(tweet_id, assignee, user.id)
            case "release":
                box.store.release(tweet_id, user.id)
            case "resolve":
                box.store.resolve(tweet_id, user.id)
    except UnknownTweetError as exc:
        raise HTTPException(404, str(exc)) from exc
    except UnknownUserError as exc:
        raise HTTPException(422, str(exc)) from exc
    except StoreError as exc:  # e.g. releasing a conversation someone else holds
        raise HTTPException(409, str(exc)) from exc
    return _conversation(box, tweet_id)


def _add_note(box: Inbox, tweet_id: str, user: UserView, text: str) -> dict[str, Any]:
    try:
        return box.store.add_note(tweet_id, user.id, text).as_json()
    except UnknownTweetError as exc:
        raise HTTPException(404, str(exc)) from exc
    except StoreError as exc:  # blank or too long, said with the limit
        raise HTTPException(422, str(exc)) from exc


def others_here(box: Inbox, tweet_id: str, user: UserView) -> list[dict[str, Any]]:
    """Who else has the tweet open or is drafting a reply to it, now."""
    return [seen.as_json() for seen in box.store.presence(tweet_id, exclude_user_id=user.id)]


@router.get("/conversations/{tweet_id}", response_class=HTMLResponse)
def conversation_page(
    request: Request, tweet_id: TweetId, session: SessionDep, box: InboxDep
) -> Response:
    conversation = _conversation(box, tweet_id)
    timeline = [("tweet", t.arrived_at, t) for t in conversation.tweets]
    timeline += [("reply", r.created_at, r) for r in conversation.replies]
    timeline.sort(key=lambda item: item[1])
    return render(
        request,
        "conversation.html",
        {
            "conversation": conversation,
            "timeline": [(kind, item) for kind, _at, item in timeline],
            # the team answers the newest tweet of the conversation
            "t": conversation.tweets[-1],
            "tweet_id": tweet_id,
            "teammates": [u.name for u in box.store.users() if not u.disabled],
            "others": others_here(box, tweet_id, session.user),
            "saved_replies": box.store.saved_replies(),
        },
    )


@router.get("/api/conversations/{tweet_id}")
def api_conversation(tweet_id: TweetId, user: TeamUserDep, box: InboxDep) -> dict[str, Any]:
    return _conversation(box, tweet_id).as_json()


@router.post("/api/conversations/{tweet_id}/status")
def api_status(
    tweet_id: TweetId, body: StatusRequest, user: TeamUserDep, box: InboxDep
) -> dict[str, Any]:
    conversation = change_status(box, tweet_id, user, body.action, body.assignee)
    return {"id": conversation.id, "status": conversation.status, "assignee": conversation.assignee}


@router.post("/conversations/{tweet_id}/status")
def status_from_form(
    tweet_id: TweetId,
    session: CsrfSessionDep,
    box: InboxDep,
    action: Annotated[Action, Form()],
    assignee: Annotated[UserName | None, Form()] = None,
) -> Response:
    change_status(box, tweet_id, session.user, action, assignee)
    return RedirectResponse(f"/conversations/{tweet_id}", status_code=303)


@router.post("/api/conversations/{tweet_id}/notes", status_code=201)
def api_note(tweet_id: TweetId, body: NoteRequest, user: TeamUserDep, box: InboxDep) -> Response:
    return JSONResponse(_add_note(box, tweet_id, user, body.text), 201)


@router.post("/conversations/{tweet_id}/notes")
def note_from_form(
    tweet_id: TweetId,
    session: CsrfSessionDep,
    box: InboxDep,
    text: Annotated[NoteText, Form()],
) -> Response:
    _add_note(box, tweet_id, session.user, text)
    return RedirectResponse(f"/conversations/{tweet_id}#notes", status_code=303)


@router.post("/api/presence")
def api_heartbeat(body: PresenceRequest, user: TeamUserDep, box: InboxDep) -> dict[str, Any]:
    """I am on this tweet (viewing or drafting): and who else is?"""
    try:
        box.store.touch_presence(body.tweet_id, user.id, body.activity)
    except UnknownTweetError as exc:
        raise HTTPException(404, str(exc)) from exc
    return {"others": others_here(box, body.tweet_id, user)}


@router.get("/api/presence/{tweet_id}")
def api_presence(tweet_id: TweetId, user: TeamUserDep, box: InboxDep) -> dict[str, Any]:
    return {"others": others_here(box, tweet_id, user)}
