"""Roles and disabling on users, an expiry on API tokens, and the decision indexes that let
counts and latencies be computed over a time window without reading every decision.

The earliest existing user becomes the admin (the first user is the admin from now on);
existing API tokens expire 90 days after this migration, so scripts keep working while
their owners make new ones.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from tweet_triage.live.store.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

EXISTING_TOKENS_LIFETIME = timedelta(days=90)


def upgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="agent"))
        users.add_column(sa.Column("disabled_at", UTCDateTime(), nullable=True))
        users.create_check_constraint("ck_users_role", "role IN ('admin', 'agent')")
    users_table = sa.table("users", sa.column("id", sa.Integer), sa.column("role", sa.String))
    first = sa.select(sa.func.min(users_table.c.id)).scalar_subquery()
    op.execute(users_table.update().where(users_table.c.id == first).values(role="admin"))

    with op.batch_alter_table("api_tokens") as tokens:
        tokens.add_column(sa.Column("expires_at", UTCDateTime(), nullable=True))
    tokens_table = sa.table("api_tokens", sa.column("expires_at", UTCDateTime()))
    expires = datetime.now(UTC) + EXISTING_TOKENS_LIFETIME
    op.execute(tokens_table.update().values(expires_at=expires))
    with op.batch_alter_table("api_tokens") as tokens:
        tokens.alter_column("expires_at", existing_type=UTCDateTime(), nullable=False)

    op.drop_index("ix_decisions_tweet_id", table_name="decisions")
    op.create_index("ix_decisions_tweet_decided", "decisions", ["tweet_id", "decided_at"])
    op.create_index("ix_decisions_user_decided", "decisions", ["user_id", "decided_at"])


def downgrade() -> None:
    op.drop_index("ix_decisions_user_decided", table_name="decisions")
    op.drop_index("ix_decisions_tweet_decided", table_name="decisions")
    op.create_index("ix_decisions_tweet_id", "decisions", ["tweet_id"])
    with op.batch_alter_table("api_tokens") as tokens:
        tokens.drop_column("expires_at")
    with op.batch_alter_table("users") as users:
        users.drop_constraint("ck_users_role", type_="check")
        users.drop_column("disabled_at")
        users.drop_column("role")
