"""Indexes that hold only the rows their queries read (partial indexes), and one more:

- the queue most likely first and newest first (flagged and open), each ordered like the
  queue with the id as tie-break, so a page is the first rows of one index, and the authors'
  open answers at its top, newest first;
- the flagged tweets by score (the lowest flagged score, how many are flagged);
- the label page's two pools (open, by score; open, by sample key);
- a person's decisions by where they were made (the label page's count of its answers);
- the assigned conversations by assignee, and a conversation's open tweets ("mine");
- the answered conversations by first response, the resolved ones by resolution (the
  dashboard's response and resolution times);
- the decided tweets by when, whether flagged and their arrival (decision latencies, the
  dashboard's open queue per hour), now holding only those.

They replace the indexes that led with flagged, (flagged, first_decided_at) or
(author_replied, first_decided_at): PostgreSQL does not take `first_decided_at IS NULL` as an
equality, so those gave it no order and it walked every decided flagged tweet to find the
open ones; and SQLite's statistics, which know nothing of how many NULLs a column holds or
how rare a value is, took `first_decided_at IS NULL` on the index of decision times (or
`author_replied = 0` on its index) for a handful of rows. The partial indexes hold only the
rows their queries read.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OPEN = "first_decided_at IS NULL"
# Each back end's spelling of "flagged and open", as the store's queries spell it (SQLite
# uses a partial index only where the query repeats its condition).
FLAGGED = {"sqlite_where": sa.text("flagged = 1"), "postgresql_where": sa.text("flagged = true")}
FLAGGED_OPEN = {
    "sqlite_where": sa.text(f"flagged = 1 AND {OPEN}"),
    "postgresql_where": sa.text(f"flagged = true AND {OPEN}"),
}
ANSWER_OPEN = {
    "sqlite_where": sa.text(f"author_replied = 1 AND {OPEN}"),
    "postgresql_where": sa.text(f"author_replied = true AND {OPEN}"),
}
ONLY_OPEN = {"sqlite_where": sa.text(OPEN), "postgresql_where": sa.text(OPEN)}
ANSWERED = {
    "sqlite_where": sa.text("first_response_at IS NOT NULL"),
    "postgresql_where": sa.text("first_response_at IS NOT NULL"),
}
RESOLVED = {
    "sqlite_where": sa.text("resolved_at IS NOT NULL"),
    "postgresql_where": sa.text("resolved_at IS NOT NULL"),
}
ASSIGNED = {
    "sqlite_where": sa.text("assignee_id IS NOT NULL"),
    "postgresql_where": sa.text("assignee_id IS NOT NULL"),
}
DECIDED = "first_decided_at IS NOT NULL"
ONLY_DECIDED = {"sqlite_where": sa.text(DECIDED), "postgresql_where": sa.text(DECIDED)}
NEW = {
    "ix_scored_tweets_flagged": (["p_needs_support"], FLAGGED),
    "ix_scored_tweets_open_likely": (["p_needs_support", "id"], FLAGGED_OPEN),
    "ix_scored_tweets_open_newest": (["arrived_at", "id"], FLAGGED_OPEN),
    "ix_scored_tweets_open_answers": (["arrived_at", "id"], ANSWER_OPEN),
    "ix_scored_tweets_open_p": (["p_needs_support", "id"], ONLY_OPEN),
    "ix_scored_tweets_open_sample": (["sample_key"], ONLY_OPEN),
    "ix_scored_tweets_open_conversation": (["conversation_id"], ONLY_OPEN),
    "ix_scored_tweets_decided": (["first_decided_at", "flagged", "arrived_at"], ONLY_DECIDED),
}
OLD = {
    "ix_scored_tweets_flagged_p": ["flagged", "p_needs_support"],
    "ix_scored_tweets_queue": ["flagged", "first_decided_at", "p_needs_support"],
    "ix_scored_tweets_queue_newest": ["flagged", "first_decided_at", "arrived_at"],
    "ix_scored_tweets_sample": ["first_decided_at", "sample_key"],
    "ix_scored_tweets_decided_p": ["first_decided_at", "p_needs_support", "arrived_at"],
    "ix_scored_tweets_author_replied": ["author_replied", "first_decided_at"],
}


def upgrade() -> None:
    for name, (columns, where) in NEW.items():
        op.create_index(name, "scored_tweets", columns, **where)
    op.create_index("ix_decisions_user_source", "decisions", ["user_id", "source"])
    op.create_index("ix_conversations_assignee", "conversations", ["assignee_id"], **ASSIGNED)
    op.drop_index("ix_conversations_assignee_id", table_name="conversations")
    op.drop_index("ix_conversations_first_response", table_name="conversations")
    op.create_index(
        "ix_conversations_first_response", "conversations", ["first_response_at"], **ANSWERED
    )
    op.create_index("ix_conversations_resolved", "conversations", ["resolved_at"], **RESOLVED)
    for name in OLD:
        op.drop_index(name, table_name="scored_tweets")


def downgrade() -> None:
    op.drop_index("ix_conversations_resolved", table_name="conversations")
    op.drop_index("ix_conversations_first_response", table_name="conversations")
    op.create_index("ix_conversations_first_response", "conversations", ["first_response_at"])
    op.create_index("ix_conversations_assignee_id", "conversations", ["assignee_id"])
    op.drop_index("ix_conversations_assignee", table_name="conversations")
    op.drop_index("ix_decisions_user_source", table_name="decisions")
    for name, columns in OLD.items():
        op.create_index(name, "scored_tweets", columns)
    for name in NEW:
        op.drop_index(name, table_name="scored_tweets")
