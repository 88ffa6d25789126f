"""What the triage store raises: one family, each message naming the input and the fix."""

from __future__ import annotations

from tweet_triage.errors import TriageError


class StoreError(TriageError):
    """The triage store cannot do what was asked; the message names the input and the fix."""


class UnknownTweetError(StoreError, LookupError):
    def __init__(self, tweet_id: str) -> None:
        super().__init__(f"no tweet with id {tweet_id!r} in the triage store")
        self.tweet_id = tweet_id


class UnknownUserError(StoreError, LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"no user {name!r} in the triage store; create it with "
            f"`tweet-triage triage users add {name}`"
        )
        self.name = name


class DuplicateUserError(StoreError):
    pass


class DatabaseUnavailableError(StoreError):
    """The database cannot be reached (or is locked); retrying later may work."""


class InvalidUserNameError(StoreError, ValueError):
    pass


class LastAdminError(StoreError):
    """The change would leave the inbox without an active admin to manage it."""
