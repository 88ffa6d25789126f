"""What the triage store raises: one family, each message naming the input and the fix."""

from __future__ import annotations

from datetime import datetime
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


class UnknownReplyError(StoreError, LookupError):
    def __init__(self, reply_id: int) -> None:
        super().__init__(f"no reply with id {reply_id!r} in the triage store")
        self.reply_id = reply_id


class ReplyTextError(StoreError, ValueError):
    """The reply is empty or longer than X allows (weighted as X counts it)."""

    def __init__(self, count: int, limit: int) -> None:
        if count <= 0:
            message = f"the reply is empty; write up to {limit} characters"
        else:
            message = (
                f"the reply is {count} characters as X counts them (a link counts 23); the "
                f"limit is {limit}: shorten it by {count - limit}"
            )
        super().__init__(message)
        self.count = count
        self.limit = limit


class AlreadyRepliedError(StoreError):
    """Someone on the team replied to the tweet a short while ago; send again only when sure."""

    def __init__(self, by_user: str, at: datetime, reply_id: int) -> None:
        super().__init__(
            f"{by_user} already replied to this tweet at {at:%Y-%m-%d %H:%M:%S} UTC "
            f"(reply {reply_id}); send again with confirm to reply a second time"
        )
        self.by_user = by_user
        self.at = at
        self.reply_id = reply_id


class ReplyNotFailedError(StoreError):
    """Only a reply X refused can be edited and sent again."""

    def __init__(self, reply_id: int, status: str) -> None:
        super().__init__(
            f"reply {reply_id} is {status}; only a failed reply can be edited and sent again"
        )
        self.reply_id = reply_id
        self.status = status


class InvalidShortcodeError(StoreError, ValueError):
    def __init__(self, shortcode: str) -> None:
        super().__init__(
            f"shortcode {shortcode[:80]!r} is not allowed: use a slash and 1 to 40 lowercase "
            "letters, digits, _ or -, e.g. /thanks"
        )
        self.shortcode = shortcode


class DuplicateShortcodeError(StoreError):
    def __init__(self, shortcode: str) -> None:
        super().__init__(
            f"a saved reply with shortcode {shortcode!r} exists; pick another shortcode or edit "
            "that saved reply"
        )
        self.shortcode = shortcode


class UnknownSavedReplyError(StoreError, LookupError):
    def __init__(self, key: int | str) -> None:
        super().__init__(f"no saved reply {key!r}; list them on the saved replies page")
        self.key = key
