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
    author_share: float = typer.Option(
        None,
        min=0,
        max=1,
        help="Share of replied-to authors who answer back; default LOCAL_XAPI_AUTHOR_SHARE.",
    ),
    author_delay: float = typer.Option(
        None, min=0, help="Seconds before they answer; default LOCAL_XAPI_AUTHOR_DELAY_SECONDS."
    ),
) -> None:
    """Start the X API stand-in on 127.0.0.1, replaying the demo corpus (no-op if running)."""
    base_url = start_local_xapi(
        load_settings(),
        port=port,
        rate=rate,
        start=start,
        faults=fault,
        author_share=author_share,
        author_delay=author_delay,
    )
    typer.echo(f"local X API stand-in answering at {base_url} (X_API_BASE_URL={base_url})")


@app.command("xapi-connect")
def xapi_connect() -> None:
    """Connect the X stand-in's account for the inbox (the OAuth flow, approved by script)."""
    from tweet_triage.live.replies.x_connection import x_account
    from tweet_triage.live.store import TriageStore
    from tweet_triage_local.x_connect import connect_standin_account

    settings = load_settings()
    settings.require_stand_ins("xapi")
    store = TriageStore.from_settings(settings)
    store.migrate()
    tokens = connect_standin_account(x_account(settings, store), settings.x_redirect_uri)
    typer.echo(f"X stand-in account connected as @{tokens.username}; the inbox can reply")


@app.command("xapi-posts")
def xapi_posts(
    last: Annotated[int, typer.Option(min=1, help="How many of the newest posts.")] = 20,
) -> None:
    """What went out: the posts made on the X stand-in (replies from the inbox), newest last."""
    import httpx

    settings = load_settings()
    settings.require_stand_ins("xapi")
    bearer = settings.x_bearer_token.get_secret_value() if settings.x_bearer_token else ""
    answer = httpx.get(
        f"{settings.x_api_base_url}/_standin/posts",
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=10,
    )
    answer.raise_for_status()
    posts = answer.json()["posts"]
    for post in posts[-last:]:
        reply_to = post["in_reply_to_tweet_id"] or "-"
        typer.echo(f"{post['created_at']}  @{post['username']}  to {reply_to}  {post['text']}")
    typer.echo(f"{len(posts)} post(s) in all")


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


@app.command("spark-up")
def spark_up(
    workers: int = typer.Option(2, min=1, help="Workers (each its own JVM, like a node)."),
    worker_cores: int = typer.Option(1, min=1, help="Cores each worker offers executors."),
    worker_memory: str = typer.Option("2g", help="Memory each worker offers executors."),
    port: int = typer.Option(None, min=1, max=65535, help="Master port; default any free one."),
) -> None:
    """Start a Spark standalone cluster on 127.0.0.1 (a master and workers); later Spark
    sessions run on it through SPARK_MASTER until spark-down (no-op if running)."""
    from tweet_triage_local.spark_cluster import start_spark_cluster

    layout = start_spark_cluster(
        load_settings().state_dir,
        port=port,
        workers=workers,
        worker_cores=worker_cores,
        worker_memory=worker_memory,
    )
    typer.echo(
        f"local Spark cluster: master {layout.master_url} (SPARK_MASTER), web UI {layout.ui_url}; "
        f"{layout.workers} worker(s) of {layout.worker_cores} core(s) and {layout.worker_memory}"
    )


@app.command("spark-down")
def spark_down() -> None:
    """Stop the local Spark cluster's workers (and their executors), then its master."""
    from tweet_triage_local.spark_cluster import stop_spark_cluster

    for line in stop_spark_cluster(load_settings().state_dir):
        typer.echo(line)


@app.command("spark-status")
def spark_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """The local Spark cluster: running or not, master and web UI, workers, applications."""
    from tweet_triage_local.spark_cluster import cluster_status, status_lines

    found = cluster_status(load_settings().state_dir)
    typer.echo(json.dumps(found, indent=1) if as_json else "\n".join(status_lines(found)))


@app.command(
    "spark-submit",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def spark_submit(ctx: typer.Context) -> None:
    """Run a tweet-triage command on the local cluster with spark-submit in client mode, as on
    a production cluster: `tweet-triage local spark-submit combine` (or `triage score ...`)."""
    import os
    import shlex

    from tweet_triage_local.spark_cluster import submit_command

    command, environment = submit_command(load_settings(), ctx.args)
    typer.echo(shlex.join(command), err=True)
    os.execvpe(command[0], command, environment)


@app.command("down")
def down() -> None:
    """Stop everything local: the streamer and the triage services on the local host (clean
    stops first), then the SSH host, the X stand-in, the AWS stand-in, PostgreSQL and the Spark
    cluster. Each step is a no-op when not running."""
    from tweet_triage_local.spark_cluster import stop_spark_cluster

    state_dir = load_settings().state_dir
    typer.echo(f"streamer: {stop_local_streamer(state_dir)}")
    typer.echo(f"triage host: {stop_local_triage(state_dir)}")
    typer.echo(stop_host(state_dir))
    typer.echo(stop_local_xapi(state_dir))
    typer.echo(stop_local_aws(state_dir))
    typer.echo(stop_postgres(state_dir))
    for line in stop_spark_cluster(state_dir):
        typer.echo(line)


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
    root.add_typer(
        app, name="local", help="Local stand-ins: AWS (moto), X API, SSH host, Spark cluster."
    )
    root.add_typer(xapi_app, name="xapi", help="The local X API v2 filtered-stream stand-in.")
    root.add_typer(corpus_app, name="corpus", help="Build the bundled demo corpus.")
    root.command()(demo)
    root.add_typer(notebooks_app, name="notebooks", help="Run the notebooks headless (papermill).")
