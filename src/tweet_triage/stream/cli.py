"""CLI commands of `tweet_triage.stream` (thin over the library functions)."""

import typer

app = typer.Typer(no_args_is_help=True)
