"""`tweet-triage local ...`: start and stop the local stand-ins (AWS, X API, SSH host)."""

from __future__ import annotations

import typer

from tweet_triage.config import load_settings
from tweet_triage.local.aws import start_local_aws, stop_local_aws

app = typer.Typer(no_args_is_help=True)


@app.command("aws-up")
def aws_up(port: int = typer.Option(None, help="Port; default LOCAL_AWS_PORT.")) -> None:
    """Start moto server on 127.0.0.1 (no-op if it is already running)."""
    settings = load_settings()
    endpoint = start_local_aws(settings.state_dir, port or settings.local_aws_port)
    typer.echo(f"local AWS stand-in answering at {endpoint} (AWS_ENDPOINT_URL={endpoint})")


@app.command("aws-down")
def aws_down() -> None:
    """Stop moto server by its pid file (no-op if it is not running)."""
    typer.echo(stop_local_aws(load_settings().state_dir))
