"""`tweet-triage aws create|status|destroy|plan`: thin over tweet_triage.cloud's functions.

`make -f Makefile-stream aws-create/aws-destroy` run the Ansible playbooks, which call the same
code; these commands are the playbook-free path (and `status` is what `aws-status` runs).
"""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from tweet_triage.cloud.preflight import preflight
from tweet_triage.cloud.report import StackReport
from tweet_triage.cloud.stack import create_stack, destroy_stack, stack_status
from tweet_triage.config import load_settings
from tweet_triage.logs import configure_logging

app = typer.Typer(no_args_is_help=True)

JSON_OPTION = typer.Option(False, "--json", help="Print the report as JSON.")


def _print(report: StackReport, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, default=str))
        return
    table = Table(title=f"stack {report.stack} · {report.region} · account {report.account_id}")
    for column in ("resource", "name", "id", "state", "changed"):
        table.add_column(column)
    for resource in report.resources:
        table.add_row(
            resource.kind,
            resource.name,
            resource.id or "",
            resource.state,
            "yes" if resource.changed else "",
        )
    Console().print(table)
    instance = next((res for res in report.resources if res.kind == "instance"), None)
    if instance is not None and instance.details.get("public_dns"):
        typer.echo(f"streamer host: {instance.details['public_dns']}")


@app.command()
def create(as_json: bool = JSON_OPTION) -> None:
    """Create (or converge) every resource of the stack with boto3; idempotent."""
    settings = load_settings()
    configure_logging(settings)
    _print(create_stack(settings), as_json)


@app.command()
def status(as_json: bool = JSON_OPTION) -> None:
    """Print each resource of the stack and its state (absent ones included)."""
    _print(stack_status(load_settings()), as_json)


@app.command()
def destroy(
    keep_bucket: bool = typer.Option(
        None, "--keep-bucket/--delete-bucket", help="Default: DESTROY_KEEP_BUCKET (false)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete everything in dependency order and verify that nothing is left."""
    settings = load_settings()
    configure_logging(settings)
    _print(destroy_stack(settings, keep_bucket=keep_bucket), as_json)


@app.command()
def plan() -> None:
    """Run the preflight checks and print the resolved names, ARNs and tags as JSON."""
    typer.echo(json.dumps(preflight(load_settings()).as_dict(), indent=2))
