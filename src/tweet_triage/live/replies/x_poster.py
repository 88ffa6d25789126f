"""X's write side over HTTP for the outbox: `POST /2/tweets` as the connected account, and the
account's latest posts (`GET /2/users/:id/tweets`) to settle an uncertain attempt.

Each X answer is classified by what it proves (outbox.PostOutcome): only a 201 is a post, only
429/400/401/403 prove that nothing was created; a 5xx, a timeout or a lost connection may hide a
created post, so the outbox looks before trying again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from tweet_triage.live.replies.outbox import PostedReply, PostOutcome, PostResult

DUPLICATE_DETAIL = "duplicate content"


def _reason(response: httpx.Response) -> str:
    """X's own words for a refusal: `detail`, else the first error's message."""
    try:
        body: Any = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        errors = body.get("errors") or []
        if errors and isinstance(errors[0], dict) and errors[0].get("message"):
            return str(errors[0]["message"])
        if body.get("detail"):
            return str(body["detail"])
        if body.get("title"):
            return str(body["title"])
    return f"HTTP {response.status_code}"


def classify(response: httpx.Response) -> PostResult:
    """What one answer to `POST /2/tweets` proves."""
    status = response.status_code
    if status == 201:
        return PostResult(PostOutcome.CREATED, x_post_id=str(response.json()["data"]["id"]))
    reason = _reason(response)
    if status == 429:
        reset = response.headers.get("x-rate-limit-reset", "")
        retry_at = datetime.fromtimestamp(int(reset), tz=UTC) if reset.isdigit() else None
        return PostResult(PostOutcome.RATE_LIMITED, reason=reason, retry_at=retry_at)
    if status == 401:
        return PostResult(PostOutcome.UNAUTHORIZED, reason=reason)
    if status == 403 and DUPLICATE_DETAIL in reason:
        return PostResult(PostOutcome.DUPLICATE, reason=reason)
    if 400 <= status < 500:
        return PostResult(PostOutcome.REFUSED, reason=f"{status}: {reason}")
    return PostResult(PostOutcome.UNCERTAIN, reason=f"{status}: {reason}")


class HttpXPoster:
    """Posts as the connected account; the token comes from `access_token()` at each call, so a
    refreshed or reconnected account is used at once."""

    def __init__(
        self,
        base_url: str,
        account_id: str,
        access_token: Callable[[], str | None],
        *,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.account_id = account_id
        self.access_token = access_token
        self.client = client or httpx.Client(timeout=timeout)

    def _headers(self) -> dict[str, str] | None:
        token = self.access_token()
        return {"Authorization": f"Bearer {token}"} if token else None

    def post_reply(self, text: str, in_reply_to_tweet_id: str) -> PostResult:
        headers = self._headers()
        if headers is None:
            return PostResult(PostOutcome.UNAUTHORIZED, reason="no X account is connected")
        body = {"text": text, "reply": {"in_reply_to_tweet_id": in_reply_to_tweet_id}}
        try:
            response = self.client.post(f"{self.base_url}/2/tweets", json=body, headers=headers)
        except httpx.HTTPError as exc:  # the request may have reached X
            return PostResult(PostOutcome.UNCERTAIN, reason=f"{type(exc).__name__}: {exc}")
        return classify(response)

    def recent_posts(self) -> list[PostedReply]:
        """The account's latest 100 posts; raises httpx.HTTPError when X cannot say."""
        headers = self._headers() or {}
        response = self.client.get(
            f"{self.base_url}/2/users/{self.account_id}/tweets",
            params={"max_results": 100, "tweet.fields": "referenced_tweets"},
            headers=headers,
        )
        response.raise_for_status()
        posts = []
        for tweet in response.json().get("data") or []:
            replied_to = next(
                (
                    r["id"]
                    for r in tweet.get("referenced_tweets") or []
                    if r["type"] == "replied_to"
                ),
                None,
            )
            posts.append(PostedReply(str(tweet["id"]), replied_to, tweet["text"]))
        return posts
