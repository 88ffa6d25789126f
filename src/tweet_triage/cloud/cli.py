"""`tweet-triage aws create|status|destroy|plan`: thin over tweet_triage.cloud's functions.

`make -f Makefile-stream aws-create/aws-destroy` run the Ansible playbooks, which call the same
code; these commands are the playbook-free path (and `status` is what `aws-status` runs).
"""

from __future__ import annotations

import json

import typer

from tweet_triage.cloud.preflight import preflight
from tweet_triage.cloud.report import ResourceReport, StackReport
from tweet_triage.cloud.stack import create_stack, destroy_stack, stack_status
from tweet_triage.config import Settings, load_settings
from tweet_triage.logs import configure_logging

app = typer.Typer(no_args_is_help=True)

JSON_OPTION = typer.Option(False, "--json", help="Print the report as JSON.")


def _value(value: object) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def _details(resource: ResourceReport) -> str:
    facts = [resource.id] if resource.id else []
    facts += [f"{k}={_value(v)}" for k, v in resource.details.items() if v is not None]
    return " ".join(str(fact) for fact in facts)


def _print(report: StackReport, as_json: bool) -> None:
    """A plain aligned table (never truncated, also when piped) or the JSON report."""
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, default=str))
        return
    typer.echo(f"stack {report.stack} · region {report.region} · account {report.account_id}")
    rows = [("RESOURCE", "NAME", "STATE", "CHANGED", "DETAILS")]
    rows += [
        (r.kind, r.name, r.state, "yes" if r.changed else "-", _details(r))
        for r in report.resources
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        typer.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[4]
        )


def _progress(settings: Settings, as_json: bool) -> None:
    """Log each resource as it is done, unless stdout must stay pure JSON."""
    if not as_json:
        configure_logging(settings)


@app.command()
def create(as_json: bool = JSON_OPTION) -> None:
    """Create (or converge) every resource of the stack with boto3; idempotent."""
    settings = load_settings()
    _progress(settings, as_json)
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
    _progress(settings, as_json)
    _print(destroy_stack(settings, keep_bucket=keep_bucket), as_json)


@app.command()
def plan() -> None:
    """Run the preflight checks and print the resolved names, ARNs and tags as JSON."""
    typer.echo(json.dumps(preflight(load_settings()).as_dict(), indent=2))
