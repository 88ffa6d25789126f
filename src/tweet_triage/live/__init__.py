"""Live triage: score arriving tweets, keep them in the triage store, show them in the inbox.

`store` holds scored tweets, decisions, users, API tokens and web sessions (SQLite by
default, PostgreSQL in production); the streaming scorer writes to it and the inbox
(`web`) reads it and records the team's decisions.
"""
