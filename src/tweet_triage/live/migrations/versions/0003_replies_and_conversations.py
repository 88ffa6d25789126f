"""Answering from the inbox: replies, conversations, ownership, notes, presence, saved replies
and the X account's sealed tokens.

- scored tweets keep their author (id, name, handle) and where they sit in X's threads
  (conversation, the user and tweet they answer), and whether the tweet is the author
  answering the team (`author_replied`); existing tweets are each their own conversation;
- decisions say where they were made (`source`: queue, label, api or reply); existing ones
  were made in the queue;
- one `conversations` row per conversation (status, assignee, response times), created here
  for the existing tweets as open;
- the reply outbox (`replies`), `saved_replies`, internal `notes`, `presence` heartbeats and
  the one-row `x_account_tokens`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tweet_triage.live.store.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scored_tweets") as scored:
        scored.add_column(sa.Column("author_id", sa.String(32), nullable=True))
        scored.add_column(sa.Column("author_name", sa.String(200), nullable=True))
        scored.add_column(sa.Column("author_handle", sa.String(100), nullable=True))
        scored.add_column(sa.Column("conversation_id", sa.String(32), nullable=True))
        scored.add_column(sa.Column("in_reply_to_user_id", sa.String(32), nullable=True))
        scored.add_column(sa.Column("in_reply_to_tweet_id", sa.String(32), nullable=True))
        scored.add_column(
            sa.Column("author_replied", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute("UPDATE scored_tweets SET conversation_id = id")
    op.create_index(
        "ix_scored_tweets_conversation", "scored_tweets", ["conversation_id", "arrived_at"]
    )
    op.create_index(
        "ix_scored_tweets_author_replied", "scored_tweets", ["author_replied", "first_decided_at"]
    )

    with op.batch_alter_table("decisions") as decisions:
        decisions.add_column(
            sa.Column("source", sa.String(16), nullable=False, server_default="queue")
        )
        decisions.create_check_constraint(
            "ck_decisions_source", "source IN ('queue', 'label', 'api', 'reply')"
        )

    op.create_table(
        "conversations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column(
            "assignee_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("author_id", sa.String(32), nullable=True),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("reopened_at", UTCDateTime(), nullable=True),
        sa.Column("first_response_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'assigned', 'replied', 'resolved')",
            name="ck_conversations_status",
        ),
    )
    op.create_index("ix_conversations_assignee_id", "conversations", ["assignee_id"])
    op.create_index("ix_conversations_status_opened", "conversations", ["status", "opened_at"])
    op.create_index("ix_conversations_first_response", "conversations", ["first_response_at"])
    op.execute(
        "INSERT INTO conversations (id, status, opened_at, updated_at) "
        "SELECT id, 'open', arrived_at, arrived_at FROM scored_tweets"
    )

    op.create_table(
        "saved_replies",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("shortcode", sa.String(64), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "created_by",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "replies",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "tweet_id",
            sa.String(32),
            sa.ForeignKey("scored_tweets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "conversation_id",
            sa.String(32),
            sa.ForeignKey("conversations.id"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="queued"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("uncertain", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("x_post_id", sa.String(32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "saved_reply_id",
            sa.Integer(),
            sa.ForeignKey("saved_replies.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'failed')", name="ck_replies_status"
        ),
    )
    op.create_index("ix_replies_conversation_id", "replies", ["conversation_id"])
    op.create_index("ix_replies_tweet_created", "replies", ["tweet_id", "created_at"])
    op.create_index("ix_replies_due", "replies", ["status", "not_before"])
    op.create_index("ix_replies_sent", "replies", ["sent_at", "user_id"])
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "tweet_id",
            sa.String(32),
            sa.ForeignKey("scored_tweets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_notes_tweet_created", "notes", ["tweet_id", "created_at"])
    op.create_table(
        "presence",
        sa.Column(
            "tweet_id",
            sa.String(32),
            sa.ForeignKey("scored_tweets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("activity", sa.String(16), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("activity IN ('viewing', 'drafting')", name="ck_presence_activity"),
    )
    op.create_table(
        "x_account_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_x_account_tokens_one_row"),
    )


def downgrade() -> None:
    for table in ("x_account_tokens", "presence", "notes", "replies", "saved_replies"):
        op.drop_table(table)
    op.drop_table("conversations")
    with op.batch_alter_table("decisions") as decisions:
        decisions.drop_constraint("ck_decisions_source", type_="check")
        decisions.drop_column("source")
    op.drop_index("ix_scored_tweets_author_replied", table_name="scored_tweets")
    op.drop_index("ix_scored_tweets_conversation", table_name="scored_tweets")
    with op.batch_alter_table("scored_tweets") as scored:
        for column in (
            "author_replied",
            "in_reply_to_tweet_id",
            "in_reply_to_user_id",
            "conversation_id",
            "author_handle",
            "author_name",
            "author_id",
        ):
            scored.drop_column(column)
