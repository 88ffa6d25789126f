"""What only an admin may do in the inbox: connect the team's X account and keep the saved
replies. Every route here sits behind `deps.require_admin` (on the router): an agent gets 403.

Connecting is OAuth 2.0 with PKCE (`replies.x_account`): `GET /admin/x/connect` sends the admin
to X's authorize page; X sends the browser back to `GET /x/callback`, which finishes with the
code verifier the server kept (`x_link.PendingConnects`) and stores the sealed tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import StringConstraints

from tweet_triage.live.replies.x_account import XAccount, XAccountError
from tweet_triage.live.replies.x_connection import describe_connection, disconnect
from tweet_triage.live.store import (
    DuplicateShortcodeError,
    StoreError,
    UnknownSavedReplyError,
)
from tweet_triage.live.web.deps import (
    CsrfSessionDep,
    Inbox,
    InboxDep,
    RowId,
    SessionDep,
    render,
    require_admin,
)
from tweet_triage.live.web.routes.api import Utf8Str

router = APIRouter(dependencies=[Depends(require_admin)])
Shortcode = Annotated[Utf8Str, StringConstraints(min_length=2, max_length=64)]
Title = Annotated[Utf8Str, StringConstraints(min_length=1, max_length=200)]
SavedText = Annotated[Utf8Str, StringConstraints(min_length=1, max_length=2_000)]


def _account(box: Inbox) -> XAccount:
    if box.x_account is None:
        raise HTTPException(409, f"no X app is set up: {box.x_problem}")
    return box.x_account


@router.get("/admin/x", response_class=HTMLResponse)
def x_account_page(request: Request, session: SessionDep, box: InboxDep) -> Response:
    account = box.x_account
    try:
        connection = describe_connection(account) if account else None
    except XAccountError as exc:
        connection = str(exc)
    return render(
        request,
        "x_account.html",
        {
            "active": "x",
            "account": account,
            "connection": connection,
            "problem": box.x_problem,
            "redirect_uri": box.config.x_redirect_uri,
        },
    )


@router.get("/admin/x/connect")
def x_connect(box: InboxDep) -> Response:
    """To X's authorize page; the PKCE verifier stays here until X sends the admin back."""
    pending = _account(box).begin_connect(box.config.x_redirect_uri)
    box.connects.add(pending)
    return RedirectResponse(pending.authorize_url, status_code=303)


@router.get("/x/callback")
def x_callback(
    request: Request,
    box: InboxDep,
    state: Annotated[str, StringConstraints(max_length=200)] = "",
    error: Annotated[str | None, StringConstraints(max_length=200)] = None,
) -> Response:
    account = _account(box)
    pending = box.connects.take(state)
    if pending is None:
        raise HTTPException(
            400,
            "this X approval does not answer a connect begun here in the last 10 minutes; "
            "connect again from the X account page",
        )
    if error:
        raise HTTPException(400, f"X did not approve the connection ({error}); connect again")
    try:
        account.finish_connect(pending, str(request.url))
    except XAccountError as exc:
        raise HTTPException(400, str(exc)) from exc
    return RedirectResponse("/admin/x", status_code=303)


@router.post("/admin/x/disconnect")
def x_disconnect(session: CsrfSessionDep, box: InboxDep) -> Response:
    disconnect(_account(box))
    return RedirectResponse("/admin/x", status_code=303)


@router.get("/admin/saved-replies", response_class=HTMLResponse)
def saved_replies_page(request: Request, session: SessionDep, box: InboxDep) -> Response:
    return render(
        request,
        "saved_replies.html",
        {"active": "saved", "saved_replies": box.store.saved_replies()},
    )


@contextmanager
def _saved_reply_checked() -> Iterator[None]:
    """The store's refusals of a saved reply as answers: 409 a taken shortcode, 404 gone, 422
    anything malformed (the shortcode's rule, an empty or long text)."""
    try:
        yield
    except DuplicateShortcodeError as exc:
        raise HTTPException(409, str(exc)) from exc
    except UnknownSavedReplyError as exc:
        raise HTTPException(404, str(exc)) from exc
    except StoreError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.post("/admin/saved-replies")
def create_saved_reply(
    session: CsrfSessionDep,
    box: InboxDep,
    shortcode: Annotated[Shortcode, Form()],
    title: Annotated[Title, Form()],
    text: Annotated[SavedText, Form()],
) -> Response:
    with _saved_reply_checked():
        box.store.create_saved_reply(shortcode.strip(), title.strip(), text, session.user.id)
    return RedirectResponse("/admin/saved-replies", status_code=303)


@router.post("/admin/saved-replies/{saved_reply_id}")
def edit_saved_reply(
    saved_reply_id: RowId,
    session: CsrfSessionDep,
    box: InboxDep,
    shortcode: Annotated[Shortcode, Form()],
    title: Annotated[Title, Form()],
    text: Annotated[SavedText, Form()],
) -> Response:
    with _saved_reply_checked():
        box.store.update_saved_reply(
            saved_reply_id, shortcode=shortcode.strip(), title=title.strip(), text=text
        )
    return RedirectResponse("/admin/saved-replies", status_code=303)


@router.post("/admin/saved-replies/{saved_reply_id}/delete")
def delete_saved_reply(saved_reply_id: RowId, session: CsrfSessionDep, box: InboxDep) -> Response:
    with _saved_reply_checked():
        box.store.delete_saved_reply(saved_reply_id)
    return RedirectResponse("/admin/saved-replies", status_code=303)
