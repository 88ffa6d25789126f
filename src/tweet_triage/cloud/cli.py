"""`tweet-triage aws create|status|destroy|plan`: thin over tweet_triage.cloud's functions.

`make -f Makefile-stream aws-create/aws-destroy` run the Ansible playbooks, which converge the
very same resource definitions (tweet_triage.cloud.resources) through the `tt_resource` module.
"""

from __future__ import annotations

import json
import sys

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from tweet_triage.cli_options import JsonFlag
from tweet_triage.cloud.aws import CloudError
from tweet_triage.cloud.preflight import preflight
from tweet_triage.cloud.report import ResourceReport, StackReport
from tweet_triage.cloud.stack import create_stack, destroy_preview, destroy_stack, stack_status
from tweet_triage.config import Settings, load_settings
from tweet_triage.logs import configure_logging

app = typer.Typer(no_args_is_help=True)


def _console(*, stderr: bool = False) -> Console:
    """A terminal's width on a terminal; never wrapped or truncated when piped."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, width=None if stream.isatty() else 10_000, highlight=False)


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
    """A table (one row per resource) or the JSON report."""
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, default=str))
        return
    console = _console()
    console.print(
        f"stack {report.stack} · region {report.region} · account {report.account_id}",
        markup=False,
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in ("RESOURCE", "NAME", "STATE", "CHANGED"):
        table.add_column(column, no_wrap=True)
    table.add_column("DETAILS", overflow="fold")
    for r in report.resources:
        table.add_row(r.kind, r.name, r.state, "yes" if r.changed else "-", _details(r))
    console.print(table, markup=False)


def _progress(settings: Settings, as_json: bool) -> None:
    """Log each resource as it is done, unless stdout must stay pure JSON."""
    if not as_json:
        configure_logging(settings)


@app.command()
def create(as_json: JsonFlag = False) -> None:
    """Create (or converge) every resource of the stack; idempotent."""
    settings = load_settings()
    _progress(settings, as_json)
    _print(create_stack(settings), as_json)


@app.command()
def status(as_json: JsonFlag = False) -> None:
    """Print each resource of the stack and its state (absent ones included)."""
    _print(stack_status(load_settings()), as_json)


@app.command()
def destroy(
    keep_bucket: bool = typer.Option(
        None, "--keep-bucket/--delete-bucket", help="Default: DESTROY_KEEP_BUCKET (false)."
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Delete without asking (after showing what goes)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show what would be deleted."),
    as_json: JsonFlag = False,
) -> None:
    """Delete everything in dependency order and verify that nothing is left.

    Shows what would be deleted first; deletes only with --yes or a confirmation typed at a
    terminal.
    """
    settings = load_settings()
    doomed = destroy_preview(settings, keep_bucket=keep_bucket)
    console = _console(stderr=as_json)  # keep stdout pure JSON
    if doomed:
        console.print(f"aws destroy would delete ({len(doomed)}):", markup=False)
        for line in doomed:
            console.print(f"  - {line}", markup=False)
    else:
        console.print("nothing of the stack exists; destroy only verifies", markup=False)
    if dry_run:
        return
    if doomed and not yes:
        if not sys.stdin.isatty():
            raise CloudError(
                f"aws destroy would delete {len(doomed)} resource(s), listed above: re-run "
                "with --yes to confirm (or --dry-run to only look)"
            )
        typer.confirm("Delete all of these?", abort=True)
    _progress(settings, as_json)
    _print(destroy_stack(settings, keep_bucket=keep_bucket), as_json)


@app.command()
def plan() -> None:
    """Run the preflight checks and print the resolved names, ARNs and tags as JSON."""
    typer.echo(json.dumps(preflight(load_settings()).as_dict(), indent=2))
