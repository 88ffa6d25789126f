"""The triage store's first schema: scored tweets and their rule tags, users, decisions,
API tokens and web sessions.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tweet_triage.live.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scored_tweets",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=True),
        sa.Column("scored_at", UTCDateTime(), nullable=False),
        sa.Column("arrived_at", UTCDateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("url", sa.String(80), nullable=False),
        sa.Column(
            "rule_tags", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("p_needs_support", sa.Float(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
    )
    op.create_index("ix_scored_tweets_arrived_at", "scored_tweets", ["arrived_at"])
    op.create_index("ix_scored_tweets_flagged_p", "scored_tweets", ["flagged", "p_needs_support"])
    op.create_table(
        "tweet_tags",
        sa.Column(
            "tweet_id",
            sa.String(32),
            sa.ForeignKey("scored_tweets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tag", sa.String(200), primary_key=True),
    )
    op.create_index("ix_tweet_tags_tag", "tweet_tags", ["tag"])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "tweet_id",
            sa.String(32),
            sa.ForeignKey("scored_tweets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "decision IN ('handled', 'not_for_us', 'needed_us')", name="ck_decisions_decision"
        ),
    )
    op.create_index("ix_decisions_tweet_id", "decisions", ["tweet_id"])
    op.create_index("ix_decisions_decided_at", "decisions", ["decided_at"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])


def downgrade() -> None:
    for table in ("web_sessions", "api_tokens", "decisions", "users", "tweet_tags"):
        op.drop_table(table)
    op.drop_table("scored_tweets")
