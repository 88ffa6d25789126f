"""The mission's X account and its poster, built from the settings and the triage store.

The inbox (connect page, banner), the CLI (`triage x ...`) and the outbox worker build them here,
so all three agree on the endpoints, the client, where the sealed tokens live and which key
opens them.
"""

from __future__ import annotations

from typing import Protocol

import httpx
from cryptography.fernet import Fernet

from tweet_triage.config import PUBLIC_X_API, Settings, SettingsError
from tweet_triage.live.replies.outbox import PostedReply, PostResult
from tweet_triage.live.replies.x_account import (
    ConnectionState,
    TokenSlot,
    XAccount,
    XAccountError,
    XOAuthEndpoints,
    load_or_create_key,
)
from tweet_triage.live.replies.x_poster import HttpXPoster

# X sends the person to x.com to approve; the stand-in serves the page under its API address.
X_AUTHORIZE_URL = "https://x.com/i/oauth2/authorize"


class TokenStore(Protocol):
    """The part of the triage store that keeps the sealed tokens."""

    def x_token_slot(self) -> TokenSlot: ...


def oauth_endpoints(settings: Settings) -> XOAuthEndpoints:
    """X's endpoints, or the stand-in's when X_API_BASE_URL points at it."""
    base = settings.x_api_base_url.rstrip("/")
    authorize = X_AUTHORIZE_URL if base == PUBLIC_X_API else f"{base}/2/oauth2/authorize"
    return XOAuthEndpoints(authorize, f"{base}/2/oauth2/token", base)


def token_key(settings: Settings) -> bytes:
    """X_TOKEN_KEY, else the 0600 key file in the state folder (created on first use)."""
    if settings.x_token_key is not None and settings.x_token_key.get_secret_value():
        key = settings.x_token_key.get_secret_value().encode()
        try:
            Fernet(key)
        except ValueError as exc:
            raise SettingsError(
                "X_TOKEN_KEY is not a Fernet key (32 url-safe base64-encoded bytes): make one "
                "with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`, or unset it to use the key file "
                f"{settings.x_token_key_path}"
            ) from exc
        return key
    return load_or_create_key(settings.x_token_key_path)


def x_account(settings: Settings, store: TokenStore) -> XAccount:
    """The account the team answers as; raises SettingsError when no X app is configured."""
    if not settings.x_client_id:
        hint = (
            "start the X stand-in (`tweet-triage local xapi-up`), which sets it"
            if settings.uses_local_aws
            else "copy it from the X developer portal (the app's 'Keys and tokens', OAuth 2.0 "
            "Client ID) into .env"
        )
        raise SettingsError(f"X_CLIENT_ID is not set: {hint}; see docs/replies.md")
    secret = settings.x_client_secret.get_secret_value() if settings.x_client_secret else None
    return XAccount(
        oauth_endpoints(settings),
        settings.x_client_id,
        secret or None,
        store.x_token_slot(),
        token_key(settings),
    )


class ConnectedPoster:
    """`HttpXPoster` as whichever account is connected at the moment of each call, so the
    worker started before the connect (or across a reconnect) posts as the right account."""

    def __init__(self, account: XAccount, base_url: str, *, timeout: float = 10.0) -> None:
        self.account = account
        self.http = HttpXPoster(base_url, "", account.access_token, timeout=timeout)

    def post_reply(self, text: str, in_reply_to_tweet_id: str) -> PostResult:
        return self.http.post_reply(text, in_reply_to_tweet_id)

    def recent_posts(self) -> list[PostedReply]:
        tokens = self.account.tokens()
        if tokens is None:
            raise XAccountError("no X account is connected: cannot list its posts")
        self.http.account_id = tokens.account_id
        return self.http.recent_posts()

    def close(self) -> None:
        self.http.client.close()


def x_poster(settings: Settings, account: XAccount) -> ConnectedPoster:
    return ConnectedPoster(account, settings.x_api_base_url)


def describe_connection(account: XAccount) -> str:
    """One line for people: who is connected, or what an admin must do. Never a token."""
    state = account.state()
    tokens = account.tokens() if state is not ConnectionState.NOT_CONNECTED else None
    name = f"@{tokens.username}" if tokens else "the account"
    match state:
        case ConnectionState.CONNECTED:
            return f"connected as {name}"
        case ConnectionState.EXPIRED:
            return f"{name}: the access token expired and cannot be refreshed; connect again"
        case ConnectionState.REVOKED:
            return f"{name}: X refused the tokens (revoked); connect again"
        case _:
            return "not connected: `tweet-triage triage x connect` (or the inbox's admin page)"


def disconnect(account: XAccount, *, timeout: float = 10.0) -> str:
    """Revoke the stored tokens at X (RFC 7009) and forget them here; what happened, in words.

    The tokens are forgotten even when X cannot be reached: the inbox stops posting at once,
    and the message says to remove the app on X (Settings, 'Connected apps') as well.
    """
    try:
        tokens = account.tokens()
    except XAccountError:  # sealed with another key: nothing here can use them anyway
        tokens = None
    unrevoked = []
    if tokens is not None:
        auth = (account.client_id, account.client_secret) if account.client_secret else None
        url = f"{account.endpoints.api_base_url}/2/oauth2/revoke"
        for hint, token in (
            ("refresh_token", tokens.refresh_token),
            ("access_token", tokens.access_token),
        ):
            if not token:
                continue
            form = {"token": token, "token_type_hint": hint, "client_id": account.client_id}
            try:
                answer = httpx.post(url, data=form, auth=auth, timeout=timeout)
                answer.raise_for_status()
            except httpx.HTTPError:
                unrevoked.append(hint.replace("_", " "))
    account.slot.clear()
    if tokens is None:
        return "no X account was connected; nothing stored"
    if unrevoked:
        return (
            f"@{tokens.username} forgotten here, but X did not confirm revoking the "
            f"{' and '.join(unrevoked)}: remove the app on X too (Settings, Security and "
            "account access, Apps and sessions, Connected apps)"
        )
    return f"@{tokens.username} disconnected: tokens revoked at X and forgotten here"
