"""X's write side as the stand-in plays it: `POST /2/tweets` and `GET /2/tweets/:id`.

Checked in X's order, with X's answers:
- user context only (the server refuses an app-only bearer with X's 403 before this runs);
- 100 posts per 15 minutes per user, with `x-rate-limit-limit|remaining|reset` on every answer
  and 429 past the limit;
- the app's access level (403 `client-forbidden` when set to read-only) and the token's
  `tweet.write` scope;
- the body: `text` (280 weighted characters, `tweet_triage.live.replies.x_text`), an optional
  `reply.in_reply_to_tweet_id`;
- the replied-to post: 403 when it is deleted or unknown, or when its conversation restricts
  replies (`reply_settings` other than everyone, or the `restricted` fault);
- duplicate content: 403 when the same user already posted the same text.

Every accepted post is kept (`<state>/xapi-posts.json`) and listed at `GET /_standin/posts`, so a
test can count that each reply went out exactly once. Faults (`POST /_standin/posting`) make
the next posts fail with 503 or 429, restrict or delete posts, or make the app read-only.
`GET /2/users/:id/tweets` lists a user's posts, newest first: how a client that crashed between
sending a post and recording X's answer finds out whether the post went out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from tweet_triage.live.replies.x_text import MAX_WEIGHTED_LENGTH, weighted_length
from tweet_triage_local.corpus.tweets import iso_millis, snowflake_from_ms
from tweet_triage_local.xapi import problems
from tweet_triage_local.xapi.oauth import Grant
from tweet_triage_local.xapi.state import StandInError, StateFiles

POSTS_FILE = "xapi-posts.json"
POST_LIMIT = 100
POST_WINDOW_SECONDS = 900
TOO_LONG = (
    "Your Tweet text is too long. For more information on how X determines text length see "
    "https://github.com/twitter/twitter-text."
)


def forbidden(detail: str) -> dict[str, Any]:
    return {"detail": detail, "type": "about:blank", "title": "Forbidden", "status": 403}


REPLY_NOT_VISIBLE = forbidden(
    "You attempted to reply to a Tweet that is deleted or not visible to you."
)
REPLY_RESTRICTED = forbidden(
    "Reply to this conversation is not allowed because you have not been mentioned or otherwise "
    "engaged by the author of the post you are replying to."
)
DUPLICATE = forbidden("You are not allowed to create a Tweet with duplicate content.")
CLIENT_FORBIDDEN = {
    "title": "Client Forbidden",
    "detail": "This request must be made using an approved developer account that is enrolled "
    "in the requested endpoint. Learn more by visiting our documentation.",
    "reason": "client-not-enrolled",
    "required_enrollment": "Appropriate Level of API Access",
    "type": f"{problems.PROBLEMS}/client-forbidden",
}
TOO_MANY = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
            "status": 429}  # fmt: skip


@dataclass
class Post:
    id: str
    text: str
    author_id: str
    username: str
    created_at: str
    conversation_id: str
    in_reply_to_tweet_id: str | None = None
    in_reply_to_user_id: str | None = None

    def as_tweet(self) -> dict[str, Any]:
        """The post as X's Tweet object (the fields a client may ask for)."""
        tweet: dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "edit_history_tweet_ids": [self.id],
            "author_id": self.author_id,
            "created_at": self.created_at,
            "conversation_id": self.conversation_id,
        }
        if self.in_reply_to_tweet_id:
            tweet["referenced_tweets"] = [{"type": "replied_to", "id": self.in_reply_to_tweet_id}]
            if self.in_reply_to_user_id:
                tweet["in_reply_to_user_id"] = self.in_reply_to_user_id
        return tweet


@dataclass
class PostFaults:
    """What the next posts meet: injected errors, restricted or deleted posts, access level."""

    server_errors: int = 0
    rate_limited: int = 0
    restricted: list[str] = field(default_factory=list)  # post ids; "*" restricts every post
    deleted: list[str] = field(default_factory=list)
    read_only: bool = False

    def update(self, changes: Mapping[str, Any]) -> None:
        unknown = set(changes) - set(asdict(self))
        if unknown:
            raise StandInError(
                f"unknown posting fault(s) {sorted(unknown)}; use {', '.join(asdict(self))}"
            )
        for name, value in changes.items():
            expected = type(getattr(self, name))
            if expected is list:
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise StandInError(f"{name} must be a list of post ids")
            elif expected is int and (not isinstance(value, int) or value < 0):
                raise StandInError(f"{name} must be a count >= 0")
            elif expected is bool and not isinstance(value, bool):
                raise StandInError(f"{name} must be true or false")
            setattr(self, name, value)


@dataclass
class _Window:
    start: float
    used: int = 0


Answer = tuple[int, dict[str, Any], dict[str, str]]


class PostBook:
    """The posts made through the stand-in, their rate limits and the faults they meet."""

    def __init__(
        self,
        files: StateFiles,
        lookup: Callable[[str], Mapping[str, Any] | None],
        *,
        clock: Callable[[], float] = time.time,
        limit: int = POST_LIMIT,
        window_seconds: float = POST_WINDOW_SECONDS,
        on_reply: Callable[[dict[str, Any], Mapping[str, Any]], None] | None = None,
    ) -> None:
        self.files = files
        self.lookup = lookup
        self.on_reply = on_reply
        self.clock = clock
        self.limit = limit
        self.window_seconds = window_seconds
        self.faults = PostFaults()
        self.lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._sequence = 0
        saved = files.read(POSTS_FILE) or []
        self.posts: list[Post] = [Post(**item) for item in saved]

    def _window(self, user_id: str) -> _Window:
        """The user's current 15-minute window, a new one once the last has passed."""
        now = self.clock()
        window = self._windows.get(user_id)
        if window is None or now >= window.start + self.window_seconds:
            window = self._windows[user_id] = _Window(now)
        return window

    def _headers(self, window: _Window) -> dict[str, str]:
        return {
            "x-rate-limit-limit": str(self.limit),
            "x-rate-limit-remaining": str(max(0, self.limit - window.used)),
            "x-rate-limit-reset": str(int(window.start + self.window_seconds)),
        }

    def create(self, grant: Grant, body: Any) -> Answer:
        """`POST /2/tweets` for a user-context grant: (status, body, headers)."""
        with self.lock:
            window = self._window(grant.account.id)
            if window.used >= self.limit or self.faults.rate_limited:
                if self.faults.rate_limited:
                    self.faults.rate_limited -= 1
                return 429, TOO_MANY, {**self._headers(window), "x-rate-limit-remaining": "0"}
            window.used += 1
            headers = self._headers(window)
            if self.faults.server_errors:
                self.faults.server_errors -= 1
                return 503, problems.service_unavailable(), headers
            if self.faults.read_only:
                return 403, CLIENT_FORBIDDEN, headers
            if "tweet.write" not in grant.scopes:
                return 403, forbidden("Missing the tweet.write scope: reconnect the app."), headers
            problem = _body_problem(body)
            if problem:
                return 400, problems.invalid_request([{"message": problem}]), headers
            text: str = body["text"]
            if weighted_length(text).weighted > MAX_WEIGHTED_LENGTH:
                return 400, problems.invalid_request([{"message": TOO_LONG}]), headers
            parent_id = (body.get("reply") or {}).get("in_reply_to_tweet_id")
            parent = self._visible(parent_id) if parent_id else None
            if parent_id and parent is None:
                return 403, REPLY_NOT_VISIBLE, headers
            if parent is not None and self._restricted(parent):
                return 403, REPLY_RESTRICTED, headers
            if any(p.author_id == grant.account.id and p.text == text for p in self.posts):
                return 403, DUPLICATE, headers
            post = self._post(grant, text, parent)
            return 201, {"data": {"id": post.id, "text": post.text,
                                  "edit_history_tweet_ids": [post.id]}}, headers  # fmt: skip

    def _post(self, grant: Grant, text: str, parent: Mapping[str, Any] | None) -> Post:
        now_ms = int(self.clock() * 1000)
        self._sequence += 1
        post_id = str(snowflake_from_ms(now_ms, self._sequence))
        created = iso_millis(datetime.fromtimestamp(now_ms / 1000, tz=UTC))
        post = Post(
            id=post_id,
            text=text,
            author_id=grant.account.id,
            username=grant.account.username,
            created_at=created,
            conversation_id=str(parent.get("conversation_id") or parent["id"])
            if parent
            else post_id,
            in_reply_to_tweet_id=str(parent["id"]) if parent else None,
            in_reply_to_user_id=parent.get("author_id") if parent else None,
        )
        self.posts.append(post)
        self.files.write(POSTS_FILE, [asdict(p) for p in self.posts])
        if parent is not None and self.on_reply is not None:
            self.on_reply(post.as_tweet(), parent)
        return post

    def _visible(self, tweet_id: str) -> Mapping[str, Any] | None:
        if tweet_id in self.faults.deleted:
            return None
        return self.tweet(tweet_id)

    def _restricted(self, parent: Mapping[str, Any]) -> bool:
        restricted = self.faults.restricted
        settings = parent.get("reply_settings", "everyone")
        return "*" in restricted or str(parent["id"]) in restricted or settings != "everyone"

    def tweet(self, tweet_id: str) -> Mapping[str, Any] | None:
        """A post made here, else a replayed corpus tweet; None when X would not find it."""
        for post in self.posts:
            if post.id == tweet_id:
                return post.as_tweet()
        return self.lookup(tweet_id)

    def timeline(self, user_id: str, max_results: int) -> list[dict[str, Any]]:
        """A user's posts, newest first (`GET /2/users/:id/tweets`)."""
        with self.lock:
            mine = [p.as_tweet() for p in self.posts if p.author_id == user_id]
        return list(reversed(mine))[:max_results]

    def listing(self) -> list[dict[str, Any]]:
        with self.lock:
            return [asdict(p) for p in self.posts]

    def set_faults(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.faults.update(changes)
            return asdict(self.faults)


def _body_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "The request body must be a JSON object"
    unknown = set(body) - {"text", "reply", "reply_settings", "quote_tweet_id", "media", "poll"}
    if unknown:
        return f"The request body has unknown field(s): {', '.join(sorted(unknown))}"
    if not isinstance(body.get("text"), str) or not body["text"].strip():
        return "text must be a non-empty string"
    reply = body.get("reply")
    if reply is not None and (
        not isinstance(reply, dict)
        or not isinstance(reply.get("in_reply_to_tweet_id"), str)
        or not reply["in_reply_to_tweet_id"].isdigit()
    ):
        return "reply.in_reply_to_tweet_id must be a tweet id (a string of digits)"
    return None
