"""CLI commands of `tweet_triage.data`, registered flat on the root app (one per stage)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
