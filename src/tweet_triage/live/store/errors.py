"""What the triage store raises: one family, each message naming the input and the fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tweet_triage.errors import TriageError

if TYPE_CHECKING:
    from tweet_triage.live.store.views import DecisionView


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


class DecidedByOtherError(StoreError):
    """Someone else decided the tweet first; `earlier` says who, what and when."""

    def __init__(self, earlier: DecisionView) -> None:
        super().__init__(
            f"{earlier.user_name} decided tweet {earlier.tweet_id} first "
            f"({earlier.decision.display}, {earlier.decided_at:%Y-%m-%d %H:%M:%S} UTC); "
            "this decision was not saved"
        )
        self.earlier = earlier
