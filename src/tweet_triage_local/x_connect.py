"""Connect the X stand-in's account without a person: the OAuth flow `triage x connect` asks an
admin to do in a browser, played against the stand-in's approve page.

`make live` and the demo use it so the inbox can reply at once; it is the real flow (authlib's
PKCE request, the stand-in's approve form and redirect, the code exchange, `GET /2/users/me`),
only the click on "Authorize app" is scripted. It refuses anything but the stand-in's page.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx

from tweet_triage.errors import TriageError
from tweet_triage.live.replies.x_account import AccountTokens, XAccount

_APPROVAL = re.compile(r'name="approval" value="([^"]+)"')


class ScriptedConnectError(TriageError):
    """The stand-in's approve page did not answer as expected."""


def approve_on_standin(authorize_url: str, *, timeout: float = 10.0) -> str:
    """Open the authorize URL, press "Authorize app"; the redirect URL X would send the
    browser to."""
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        page = client.get(authorize_url)
        found = _APPROVAL.search(page.text)
        if page.status_code != 200 or found is None:
            raise ScriptedConnectError(
                f"{authorize_url.split('?')[0]} did not show the X stand-in's approve page "
                f"(HTTP {page.status_code}): is `tweet-triage local xapi-up` running and "
                "X_API_BASE_URL its address?"
            )
        answer = client.post(
            urljoin(authorize_url, "/2/oauth2/authorize"),
            data={"approval": found.group(1), "decision": "approve"},
        )
    location = answer.headers.get("location")
    if answer.status_code != 302 or not location:
        raise ScriptedConnectError(
            f"the X stand-in refused the approval (HTTP {answer.status_code}): {answer.text[:200]}"
        )
    return location


def connect_standin_account(account: XAccount, redirect_uri: str) -> AccountTokens:
    """Connect `account` through the stand-in; its tokens are sealed in the store."""
    pending = account.begin_connect(redirect_uri)
    return account.finish_connect(pending, approve_on_standin(pending.authorize_url))
