"""Conversations and the team around them: who owns one (claim, assign, release, resolve), who
has a tweet open right now (presence), internal notes, and the team's saved replies.

Status moves open -> assigned (claimed or given) -> replied (a reply went out; waiting on the
author) -> resolved; the author's answer opens it again (see `tweets`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tweet_triage.live.store.engine import Database
from tweet_triage.live.store.errors import (
    DuplicateShortcodeError,
    InvalidShortcodeError,
    StoreError,
    UnknownSavedReplyError,
    UnknownTweetError,
    UnknownUserError,
)
from tweet_triage.live.store.replies import replies_with_author, reply_view
from tweet_triage.live.store.schema import (
    Activity,
    Conversation,
    ConversationStatus,
    Note,
    Presence,
    Reply,
    SavedReply,
    ScoredTweet,
    User,
    as_utc,
    utc_now,
)
from tweet_triage.live.store.tweets import (
    Assignee,
    conversation_views,
    latest_decision_of,
    tweet_rows,
    with_conversation,
)
from tweet_triage.live.store.views import (
    ConversationView,
    NoteView,
    PresenceView,
    SavedReplyView,
)

PRESENCE_WINDOW = timedelta(seconds=10)  # a heartbeat older than this: the page was left
NOTE_MAX = 2000
TITLE_MAX = 200
SAVED_TEXT_MAX = 1000
SAVED_REPLIES = "saved replies"  # their key among the store's kept values
_SHORTCODE = re.compile(r"/[a-z0-9_-]{1,40}")


def check_shortcode(shortcode: str) -> str:
    """`/thanks` form: lowercased, a leading slash added if missing; else InvalidShortcodeError."""
    code = shortcode.strip().lower()
    code = code if code.startswith("/") else f"/{code}"
    if not _SHORTCODE.fullmatch(code):
        raise InvalidShortcodeError(shortcode)
    return code


def _as_activity(value: str | Activity) -> Activity:
    try:
        return Activity(value)
    except ValueError:
        raise StoreError(
            f"activity {value!r} is not one of {', '.join(a.value for a in Activity)}"
        ) from None


def _checked_text(value: str, what: str, limit: int) -> str:
    text = value.strip()
    if not text:
        raise StoreError(f"the {what} is empty; write what it should say")
    if len(text) > limit:
        raise StoreError(f"the {what} is {len(text)} characters; the limit is {limit}")
    return text


class Conversations(Database):
    """Conversation views, ownership, presence, notes and saved replies."""

    def conversation(self, tweet_id: str) -> ConversationView:
        """The conversation of a tweet: the tweets of it the store holds and the team's
        replies in time order, status, assignee, author, and the notes on its tweets."""
        with self._session() as session:
            conversation_id = _conversation_id(session, tweet_id)
            row = session.execute(
                select(Conversation, Assignee.name)
                .outerjoin(Assignee, Assignee.id == Conversation.assignee_id)
                .where(Conversation.id == conversation_id)
            ).first()
            if row is None:
                raise UnknownTweetError(tweet_id)
            conversation, assignee = row
            latest = latest_decision_of(ScoredTweet.id).limit(1).scalar_subquery()
            thread = (
                with_conversation(tweet_rows(latest))
                .where(ScoredTweet.conversation_id == conversation_id)
                .order_by(ScoredTweet.arrived_at, ScoredTweet.id)
            )
            tweets = conversation_views(session.execute(thread))
            replies = [
                reply_view(*r)
                for r in session.execute(
                    replies_with_author()
                    .where(Reply.conversation_id == conversation_id)
                    .order_by(Reply.created_at, Reply.id)
                )
            ]
            notes = self._notes(session, [t.id for t in tweets])
        author = next((t for t in tweets if t.author_id == conversation.author_id), None)
        author = author or next((t for t in tweets if t.id == conversation_id), None)
        return ConversationView(
            id=conversation.id,
            status=ConversationStatus(conversation.status),
            assignee=assignee,
            author_id=conversation.author_id or (author.author_id if author else None),
            author_name=author.author_name if author else None,
            author_handle=author.author_handle if author else None,
            opened_at=conversation.opened_at,
            reopened_at=conversation.reopened_at,
            first_response_at=conversation.first_response_at,
            resolved_at=conversation.resolved_at,
            tweets=tweets,
            replies=replies,
            notes=notes,
        )

    def claim(self, tweet_id: str, user_id: int) -> None:
        """The user takes the tweet's conversation ("mine")."""
        self._take(tweet_id, _user(self, user_id))

    def assign(self, tweet_id: str, assignee_name: str, by_user_id: int) -> None:
        """Give the tweet's conversation to a teammate (by name; disabled ones cannot)."""
        _user(self, by_user_id)
        with self._session() as session:
            assignee = session.scalar(
                select(User.id).where(
                    User.name == assignee_name.strip(), User.disabled_at.is_(None)
                )
            )
        if assignee is None:
            raise UnknownUserError(assignee_name)
        self._take(tweet_id, assignee)

    def release(self, tweet_id: str, user_id: int) -> None:
        """The user gives the conversation back to the team (only their own)."""
        _user(self, user_id)
        with self._session() as session:
            conversation = _locked(session, tweet_id)
            if conversation.assignee_id != user_id:
                return
            conversation.assignee_id = None
            if conversation.status == ConversationStatus.ASSIGNED.value:
                conversation.status = ConversationStatus.OPEN.value
            conversation.updated_at = utc_now()

    def resolve(self, tweet_id: str, user_id: int, now: datetime | None = None) -> None:
        """The conversation needs nothing more; its authors' answers leave the queue's top."""
        _user(self, user_id)
        now = as_utc(now) if now is not None else utc_now()
        with self._session() as session:
            conversation = _locked(session, tweet_id)
            conversation.status = ConversationStatus.RESOLVED.value
            conversation.resolved_at = conversation.updated_at = now
            session.execute(
                update(ScoredTweet)
                .where(ScoredTweet.conversation_id == conversation.id, ScoredTweet.author_replied)
                .values(author_replied=False)
            )

    def _take(self, tweet_id: str, assignee_id: int) -> None:
        with self._session() as session:
            conversation = _locked(session, tweet_id)
            conversation.assignee_id = assignee_id
            if conversation.status in (
                ConversationStatus.OPEN.value,
                ConversationStatus.RESOLVED.value,
            ):
                conversation.status = ConversationStatus.ASSIGNED.value
                conversation.resolved_at = None
            conversation.updated_at = utc_now()

    # Presence: each open page sends a heartbeat; the others see it for PRESENCE_WINDOW.

    def touch_presence(
        self, tweet_id: str, user_id: int, activity: str | Activity = Activity.VIEWING
    ) -> None:
        """Record that the user has the tweet open (viewing) or is writing a reply (drafting)."""
        values = {
            "tweet_id": tweet_id,
            "user_id": user_id,
            "activity": _as_activity(activity).value,
            "seen_at": utc_now(),
        }
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = insert(Presence).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["tweet_id", "user_id"],
            set_={"activity": statement.excluded.activity, "seen_at": statement.excluded.seen_at},
        )
        with self._session() as session:
            if session.get(ScoredTweet, tweet_id) is None:
                raise UnknownTweetError(tweet_id)
            session.execute(statement)

    def presence(
        self,
        tweet_id: str,
        *,
        exclude_user_id: int | None = None,
        within: timedelta = PRESENCE_WINDOW,
        now: datetime | None = None,
    ) -> list[PresenceView]:
        """Who else had the tweet open within `within` (drafting ones first)."""
        since = as_utc(now or utc_now()) - within
        query = (
            select(User.name, Presence.activity, Presence.seen_at)
            .join(User, User.id == Presence.user_id)
            .where(Presence.tweet_id == tweet_id, Presence.seen_at >= since)
            .order_by(Presence.activity, User.name)  # 'drafting' sorts before 'viewing'
        )
        if exclude_user_id is not None:
            query = query.where(Presence.user_id != exclude_user_id)
        with self._session() as session:
            return [
                PresenceView(name, Activity(activity), seen_at)
                for name, activity, seen_at in session.execute(query)
            ]

    # Internal notes: for the team, never sent.

    def add_note(self, tweet_id: str, user_id: int, text: str) -> NoteView:
        text = _checked_text(text, "note", NOTE_MAX)
        with self._session() as session:
            if session.get(ScoredTweet, tweet_id) is None:
                raise UnknownTweetError(tweet_id)
            user = session.get(User, user_id)
            if user is None:
                raise StoreError(f"no user with id {user_id}")
            note = Note(tweet_id=tweet_id, user_id=user_id, text=text, created_at=utc_now())
            session.add(note)
            session.flush()
            return NoteView(note.id, tweet_id, user.name, text, note.created_at)

    def notes(self, tweet_id: str) -> list[NoteView]:
        """A tweet's notes, oldest first."""
        with self._session() as session:
            return self._notes(session, [tweet_id])

    @staticmethod
    def _notes(session: Session, tweet_ids: list[str]) -> list[NoteView]:
        query = (
            select(Note, User.name)
            .outerjoin(User, User.id == Note.user_id)
            .where(Note.tweet_id.in_(tweet_ids))
            .order_by(Note.created_at, Note.id)
        )
        return [
            NoteView(note.id, note.tweet_id, name, note.text, note.created_at)
            for note, name in session.execute(query)
        ]

    # Saved replies: team-wide, picked by shortcode.

    def saved_replies(self) -> list[SavedReplyView]:
        """Every saved reply, by shortcode (kept briefly: every queue page shows them)."""

        def read() -> list[SavedReplyView]:
            query = _saved_with_creator().order_by(SavedReply.shortcode)
            with self._session() as session:
                return [_saved_view(*row) for row in session.execute(query)]

        return list(self._fresh.get(SAVED_REPLIES, read))

    def saved_reply(self, saved_reply_id: int) -> SavedReplyView:
        with self._session() as session:
            row = session.execute(
                _saved_with_creator().where(SavedReply.id == saved_reply_id)
            ).first()
        if row is None:
            raise UnknownSavedReplyError(saved_reply_id)
        return _saved_view(*row)

    def saved_reply_by_shortcode(self, shortcode: str) -> SavedReplyView | None:
        try:
            code = check_shortcode(shortcode)
        except InvalidShortcodeError:
            return None
        with self._session() as session:
            row = session.execute(_saved_with_creator().where(SavedReply.shortcode == code)).first()
        return None if row is None else _saved_view(*row)

    def create_saved_reply(
        self, shortcode: str, title: str, text: str, user_id: int
    ) -> SavedReplyView:
        code = check_shortcode(shortcode)
        title = _checked_text(title, "saved reply's title", TITLE_MAX)
        text = _checked_text(text, "saved reply's text", SAVED_TEXT_MAX)
        now = utc_now()
        try:
            with self._session() as session:
                saved = SavedReply(
                    shortcode=code,
                    title=title,
                    text=text,
                    created_by=user_id,
                    created_at=now,
                    updated_at=now,
                )
                session.add(saved)
                session.flush()
                saved_id = saved.id
        except IntegrityError:
            raise DuplicateShortcodeError(code) from None
        self._fresh.forget(SAVED_REPLIES)
        return self.saved_reply(saved_id)

    def update_saved_reply(
        self,
        saved_reply_id: int,
        *,
        shortcode: str | None = None,
        title: str | None = None,
        text: str | None = None,
    ) -> SavedReplyView:
        values: dict[str, Any] = {"updated_at": utc_now()}
        if shortcode is not None:
            values["shortcode"] = check_shortcode(shortcode)
        if title is not None:
            values["title"] = _checked_text(title, "saved reply's title", TITLE_MAX)
        if text is not None:
            values["text"] = _checked_text(text, "saved reply's text", SAVED_TEXT_MAX)
        try:
            with self._session() as session:
                done = session.execute(
                    update(SavedReply).where(SavedReply.id == saved_reply_id).values(**values)
                )
                if not done.rowcount:  # type: ignore[attr-defined]
                    raise UnknownSavedReplyError(saved_reply_id)
        except IntegrityError:
            raise DuplicateShortcodeError(values["shortcode"]) from None
        self._fresh.forget(SAVED_REPLIES)
        return self.saved_reply(saved_reply_id)

    def delete_saved_reply(self, saved_reply_id: int) -> None:
        """Delete it; replies made with it keep their text."""
        with self._session() as session:
            saved = session.get(SavedReply, saved_reply_id)
            if saved is None:
                raise UnknownSavedReplyError(saved_reply_id)
            session.delete(saved)
        self._fresh.forget(SAVED_REPLIES)


def _conversation_id(session: Session, tweet_id: str) -> str:
    row = session.execute(
        select(ScoredTweet.id, ScoredTweet.conversation_id).where(ScoredTweet.id == tweet_id)
    ).first()
    if row is None:
        raise UnknownTweetError(tweet_id)
    return row.conversation_id or row.id


def _locked(session: Session, tweet_id: str) -> Conversation:
    conversation = session.get(
        Conversation, _conversation_id(session, tweet_id), with_for_update=True
    )
    if conversation is None:
        raise UnknownTweetError(tweet_id)
    return conversation


def _user(store: Database, user_id: int) -> int:
    with store._session() as session:
        if session.get(User, user_id) is None:
            raise StoreError(f"no user with id {user_id}")
    return user_id


def _saved_with_creator() -> Any:
    return select(SavedReply, User.name).outerjoin(User, User.id == SavedReply.created_by)


def _saved_view(saved: SavedReply, creator: str | None) -> SavedReplyView:
    return SavedReplyView(
        id=saved.id,
        shortcode=saved.shortcode,
        title=saved.title,
        text=saved.text,
        created_by=creator,
        created_at=saved.created_at,
        updated_at=saved.updated_at,
    )
