"""Alembic environment of the triage store: runs on the connection `TriageStore.migrate` passes.

Offline SQL generation is not supported; the store always migrates a live database.
"""

from __future__ import annotations

from alembic import context

from tweet_triage.live.store.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the triage migrations with `tweet-triage triage migrate`")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
