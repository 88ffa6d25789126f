"""CLI commands of `tweet_triage.xapi` (thin over the library functions)."""

import typer

app = typer.Typer(no_args_is_help=True)
