"""The stand-ins' and demo tooling's commands: `local`, `xapi`, `corpus`, `demo`, `notebooks`.

`register(app)` adds them to the `tweet-triage` CLI wherever this package is installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tweet_triage.config import PROJECT_ROOT, load_settings
from tweet_triage_local.aws import start_local_aws, stop_local_aws
from tweet_triage_local.corpus.cli import app as corpus_app
from tweet_triage_local.host import start_host, stop_host, stop_local_streamer, stop_local_triage
from tweet_triage_local.postgres import start_postgres, stop_postgres
from tweet_triage_local.xapi.cli import app as xapi_app
from tweet_triage_local.xapi.service import start_local_xapi, stop_local_xapi

app = typer.Typer(no_args_is_help=True)


@app.command("aws-up")
def aws_up(
    port: int = typer.Option(None, min=1, max=65535, help="Port; default LOCAL_AWS_PORT."),
) -> None:
    """Start moto server on 127.0.0.1 (no-op if it is already running)."""
    settings = load_settings()
    endpoint = start_local_aws(settings.state_dir, port or settings.local_aws_port)
    typer.echo(f"local AWS stand-in answering at {endpoint} (AWS_ENDPOINT_URL={endpoint})")


@app.command("aws-down")
def aws_down() -> None:
    """Stop moto server by its pid file (no-op if it is not running)."""
    typer.echo(stop_local_aws(load_settings().state_dir))


@app.command("xapi-up")
def xapi_up(
    port: int = typer.Option(None, min=1, max=65535, help="Port; default LOCAL_XAPI_PORT."),
    rate: float = typer.Option(None, help="Tweets/s (0: max); default LOCAL_XAPI_RATE."),
    start: str = typer.Option(None, help="Replay from an index or created_at time."),
    fault: Annotated[
        list[str] | None, typer.Option(help="Fault to inject (see `xapi serve --help`).")
    ] = None,
) -> None:
    """Start the X API stand-in on 127.0.0.1, replaying the demo corpus (no-op if running)."""
    base_url = start_local_xapi(load_settings(), port=port, rate=rate, start=start, faults=fault)
    typer.echo(f"local X API stand-in answering at {base_url} (X_API_BASE_URL={base_url})")


@app.command("xapi-down")
def xapi_down() -> None:
    """Stop the X API stand-in by its pid file and forget its settings (no-op if not running)."""
    typer.echo(stop_local_xapi(load_settings().state_dir))


@app.command("host-up")
def host_up(
    port: int = typer.Option(
        None, min=1, max=65535, help="Port; default: the last one if free, else any."
    ),
) -> None:
    """Start the loopback SSH streamer host and write its inventory (installs openssh-server)."""
    info = start_host(load_settings().state_dir, port)
    typer.echo(
        f"local streamer host: ssh -i {info.client_key} -p {info.port} {info.user}@127.0.0.1 "
        f"(sshd pid {info.pid}); inventory {info.inventory}"
    )


@app.command("host-down")
def host_down() -> None:
    """Stop the local SSH host by its pid file, and first a streamer and triage services
    running on it (clean stops). Keys and provisioned files stay for the next host-up."""
    state_dir = load_settings().state_dir
    typer.echo(f"streamer: {stop_local_streamer(state_dir)}")
    typer.echo(f"triage host: {stop_local_triage(state_dir)}")
    typer.echo(stop_host(state_dir))


@app.command("postgres-up")
def postgres_up(
    port: int = typer.Option(None, min=1, max=65535, help="Port; default any free one."),
) -> None:
    """Start a PostgreSQL server on 127.0.0.1 for the triage store (installs postgresql);
    later commands use it through TRIAGE_DATABASE_URL until postgres-down."""
    server = start_postgres(load_settings().state_dir, port)
    typer.echo(
        f"local PostgreSQL on 127.0.0.1:{server.port}, database triage "
        f"(TRIAGE_DATABASE_URL in {load_settings().state_dir / 'local-postgres.env'})"
    )


@app.command("postgres-down")
def postgres_down() -> None:
    """Stop the local PostgreSQL server (fast shutdown); its data stays for postgres-up."""
    typer.echo(stop_postgres(load_settings().state_dir))


@app.command("down")
def down() -> None:
    """Stop everything local: the streamer and the triage services on the local host (clean
    stops first), then the SSH host, the X stand-in and the AWS stand-in. Each step is a no-op
    when not running."""
    state_dir = load_settings().state_dir
    typer.echo(f"streamer: {stop_local_streamer(state_dir)}")
    typer.echo(f"triage host: {stop_local_triage(state_dir)}")
    typer.echo(stop_host(state_dir))
    typer.echo(stop_local_xapi(state_dir))
    typer.echo(stop_local_aws(state_dir))
    typer.echo(stop_postgres(state_dir))


def demo(
    replay_rate: float = typer.Option(2000.0, help="X stand-in replay rate, tweets/s."),
    train_args: str = typer.Option("--budget demo", help="Arguments passed to `train`."),
) -> None:
    """From nothing to a trained model and report, then tear everything down."""
    from tweet_triage_local.demo import run_demo

    run_demo(replay_rate=replay_rate, train_args=train_args)


EXECUTED_NOTEBOOKS = PROJECT_ROOT / "notebooks" / "executed"
notebooks_app = typer.Typer(no_args_is_help=True)


@notebooks_app.command("run")
def notebooks_run(
    output_dir: Annotated[Path, typer.Option(help="Executed copies.")] = EXECUTED_NOTEBOOKS,
    only: Annotated[
        list[str] | None, typer.Option(help="Run only these notebooks (by name, repeatable).")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(help="NOTEBOOK.NAME=VALUE (JSON value), e.g. 07-train-evaluate.max_steps=5"),
    ] = None,
) -> None:
    """Run the notebooks in order against the local stand-ins (started if needed)."""
    from tweet_triage_local.notebooks import run_notebooks

    parameters: dict[str, dict[str, object]] = {}
    for item in param or []:
        target, _, value = item.partition("=")
        notebook, _, name = target.partition(".")
        if not (notebook and name and value):
            raise typer.BadParameter(f"--param {item!r}: use NOTEBOOK.NAME=VALUE")
        try:
            parameters.setdefault(notebook, {})[name] = json.loads(value)
        except json.JSONDecodeError:
            parameters.setdefault(notebook, {})[name] = value
    for name, seconds in run_notebooks(output_dir, parameters, only or None):
        typer.echo(f"{seconds:7.1f} s  {name}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="local", help="Local stand-ins: AWS (moto), X API, SSH host.")
    root.add_typer(xapi_app, name="xapi", help="The local X API v2 filtered-stream stand-in.")
    root.add_typer(corpus_app, name="corpus", help="Build the bundled demo corpus.")
    root.command()(demo)
    root.add_typer(notebooks_app, name="notebooks", help="Run the notebooks headless (papermill).")
