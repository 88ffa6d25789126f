"""Accounts and a store that stays fast at a team's year:

- users get a role (admin or agent) and can be disabled; the earliest existing user becomes
  the admin (the first user is the admin from now on);
- API tokens get an expiry; existing ones expire 90 days after this migration, so scripts
  keep working while their owners make new ones;
- decisions are indexed by (tweet, time) and (user, time): counts over a window read it;
- each scored tweet keeps its first decision time (filled from the decisions) and a sample
  key (from its id), indexed so that the queue, its size, the label page's two pools and
  decision latencies are index ranges; scored tweets are indexed by when they were scored
  (the model scoring now), and by arrival with the columns a time window's counts need.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from tweet_triage.live.store.schema import UTCDateTime
from tweet_triage.live.store.tweets import sample_key

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

EXISTING_TOKENS_LIFETIME = timedelta(days=90)
SAMPLE_PAGE = 10_000


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
    with op.batch_alter_table("scored_tweets") as scored:
        scored.add_column(sa.Column("first_decided_at", UTCDateTime(), nullable=True))
        scored.add_column(sa.Column("sample_key", sa.Float(), nullable=True))
    _fill_sample_keys()
    with op.batch_alter_table("scored_tweets") as scored:
        scored.alter_column("sample_key", existing_type=sa.Float(), nullable=False)
    op.execute(
        "UPDATE scored_tweets SET first_decided_at = (SELECT min(decisions.decided_at) "
        "FROM decisions WHERE decisions.tweet_id = scored_tweets.id)"
    )
    op.create_index(
        "ix_scored_tweets_queue",
        "scored_tweets",
        ["flagged", "first_decided_at", "p_needs_support"],
    )
    op.create_index(
        "ix_scored_tweets_queue_newest",
        "scored_tweets",
        ["flagged", "first_decided_at", "arrived_at"],
    )
    op.create_index(
        "ix_scored_tweets_decided_p",
        "scored_tweets",
        ["first_decided_at", "p_needs_support", "arrived_at"],
    )
    op.create_index("ix_scored_tweets_scored_at", "scored_tweets", ["scored_at"])
    op.drop_index("ix_scored_tweets_arrived_at", table_name="scored_tweets")
    op.create_index(
        "ix_scored_tweets_window",
        "scored_tweets",
        ["arrived_at", "flagged", "model_version", "id"],
    )
    op.create_index("ix_scored_tweets_sample", "scored_tweets", ["first_decided_at", "sample_key"])


def _fill_sample_keys() -> None:
    """Every stored tweet's sample key, computed from its id in pages."""
    connection = op.get_bind()
    table = sa.table("scored_tweets", sa.column("id", sa.String), sa.column("sample_key"))
    update = (
        table.update()
        .where(table.c.id == sa.bindparam("tweet_id"))
        .values(sample_key=sa.bindparam("key"))
    )
    last = ""
    while ids := list(
        connection.scalars(
            sa.select(table.c.id).where(table.c.id > last).order_by(table.c.id).limit(SAMPLE_PAGE)
        )
    ):
        connection.execute(update, [{"tweet_id": i, "key": sample_key(i)} for i in ids])
        last = ids[-1]


def downgrade() -> None:
    op.drop_index("ix_scored_tweets_window", table_name="scored_tweets")
    op.create_index("ix_scored_tweets_arrived_at", "scored_tweets", ["arrived_at"])
    op.drop_index("ix_scored_tweets_sample", table_name="scored_tweets")
    op.drop_index("ix_scored_tweets_scored_at", table_name="scored_tweets")
    op.drop_index("ix_scored_tweets_decided_p", table_name="scored_tweets")
    op.drop_index("ix_scored_tweets_queue_newest", table_name="scored_tweets")
    op.drop_index("ix_scored_tweets_queue", table_name="scored_tweets")
    with op.batch_alter_table("scored_tweets") as scored:
        scored.drop_column("sample_key")
        scored.drop_column("first_decided_at")
    op.drop_index("ix_decisions_user_decided", table_name="decisions")
    op.drop_index("ix_decisions_tweet_decided", table_name="decisions")
    op.create_index("ix_decisions_tweet_id", "decisions", ["tweet_id"])
    with op.batch_alter_table("api_tokens") as tokens:
        tokens.drop_column("expires_at")
    with op.batch_alter_table("users") as users:
        users.drop_constraint("ck_users_role", type_="check")
        users.drop_column("disabled_at")
        users.drop_column("role")
