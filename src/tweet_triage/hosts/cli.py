"""`tweet-triage host ...`: what the playbooks run for the streamer and the triage hosts.

On the host: `run`, `start`, `stop`, `status` (a service under the project's supervisor,
where there is no systemd; `status --systemd-unit` reads a unit) and `exec` (a command with
the services' settings file). On the controller: `wheelhouse` (the host's wheels), `pack`
(a folder as one tar) and `settings` (a role's settings for the host).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from tweet_triage.config import PROJECT_ROOT, load_settings
from tweet_triage.hosts.supervisor import (
    ALREADY_RUNNING_EXIT,
    RestartPolicy,
    Supervisor,
    env_file_values,
    format_status,
    start_detached,
    stop_service,
    supervised,
    supervisor_status,
    systemd_status,
)

app = typer.Typer(no_args_is_help=True)

PID_FILE = typer.Option(
    ..., help="Supervisor pid file <name>.pid; its .state.json and .log sit beside it."
)
ENV_FILE = typer.Option(None, help="KEY=value settings file passed to the service (0640).")
PACK_FOLDER = typer.Argument(..., help="The folder to ship, e.g. a model.")
EXEC_ENV_FILE = typer.Option(..., help="KEY=value settings file for COMMAND.")
EVERY = typer.Option(
    None,
    min=1,
    help="A schedule instead: run COMMAND every N seconds after its last run, whatever its exit.",
)
STATUS_PID_FILE = typer.Option(None, help="Supervisor pid file (hosts without systemd).")
STATS_FILE = typer.Option(None, help="The streamer's stats file.")
SOURCE = typer.Option(None, help="Checkout to build the project wheel from; default this one.")


@app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    pid_file: Path = PID_FILE,
    env_file: Path = ENV_FILE,
    restart_delay: float = typer.Option(1.0, min=0.1, help="First restart delay, seconds."),
    max_restart_delay: float = typer.Option(60.0, min=0.1, help="Backoff cap, seconds."),
    every: float = EVERY,
) -> None:
    """Supervise COMMAND (after `--`) in the foreground: restart on failure, forward SIGTERM."""
    if not ctx.args:
        raise typer.BadParameter("give the service's command after `--`")
    supervisor = Supervisor(
        ctx.args,
        supervised(pid_file),
        env_file=env_file,
        policy=RestartPolicy(initial_delay=restart_delay, max_delay=max_restart_delay),
        every=every,
    )
    code = supervisor.run()
    if code == ALREADY_RUNNING_EXIT:
        typer.echo(f"already running (pid file {pid_file} is held)")
    raise typer.Exit(code)


@app.command("start", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def start(
    ctx: typer.Context,
    pid_file: Path = PID_FILE,
    env_file: Path = ENV_FILE,
    settle: float = typer.Option(3.0, min=0, help="Seconds the service must survive."),
    every: float = EVERY,
) -> None:
    """Start the supervised COMMAND (after `--`) in the background, unless already running.

    Prints `started ...` or `already running ...` (the playbook reports changed from it).
    """
    if not ctx.args:
        raise typer.BadParameter("give the service's command after `--`")
    run_args = ["host", "run", "--pid-file", str(pid_file)]
    if env_file is not None:
        run_args += ["--env-file", str(env_file)]
    if every is not None:
        run_args += ["--every", f"{every:g}"]
    service = supervised(pid_file)
    _, message = start_detached([*run_args, "--", *ctx.args], service, settle=settle)
    typer.echo(message)


@app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_command(
    ctx: typer.Context,
    env_file: Path = EXEC_ENV_FILE,
) -> None:
    """Run COMMAND (after `--`) once with a settings file's variables, as a systemd unit with
    EnvironmentFile= would; its exit code is this command's (migrations, a job run by hand)."""
    if not ctx.args:
        raise typer.BadParameter("give the command after `--`")
    os.execvpe(ctx.args[0], ctx.args, {**os.environ, **env_file_values(env_file)})


@app.command("stop")
def stop(
    pid_file: Path = PID_FILE,
    timeout: float = typer.Option(180.0, min=1, help="Seconds to wait for the flush."),
) -> None:
    """SIGTERM the service and wait for its clean exit; SIGKILL only after TIMEOUT (said so)."""
    _, message = stop_service(supervised(pid_file), timeout)
    typer.echo(message)


@app.command("status")
def status(
    pid_file: Path = STATUS_PID_FILE,
    systemd_unit: str = typer.Option(None, help="systemd unit name (hosts with systemd)."),
    stats_file: Path = STATS_FILE,
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of text."),
) -> None:
    """Running or not, uptime, restarts and the streamer's last stats."""
    if (pid_file is None) == (systemd_unit is None):
        raise typer.BadParameter("give exactly one of --pid-file and --systemd-unit")
    info = (
        systemd_status(systemd_unit, stats_file)
        if systemd_unit
        else supervisor_status(supervised(pid_file), stats_file)
    )
    typer.echo(json.dumps(info) if as_json else format_status(info))


@app.command("wheelhouse")
def wheelhouse(
    python_version: str = typer.Option(..., help="The host's Python, e.g. 3.11."),
    arch: str = typer.Option(..., help="The host's machine, e.g. x86_64 or aarch64."),
    glibc: str = typer.Option(..., help="The host's glibc version, e.g. 2.36."),
    extras: str = typer.Option(
        "", help="Comma-separated extras besides the core, e.g. data,model,triage."
    ),
    source: Path = SOURCE,
) -> None:
    """Build (or reuse) the host's wheels; print where they are as JSON. Controller side."""
    from tweet_triage.hosts.wheelhouse import build_wheelhouse  # controller only: packaging

    wanted = tuple(sorted({name.strip() for name in extras.split(",") if name.strip()}))
    result = build_wheelhouse(
        python_version, arch, glibc, extras=wanted, source=source or PROJECT_ROOT
    )
    typer.echo(
        json.dumps(
            {
                "wheelhouse_id": result.wheelhouse_id,
                "project_wheel": str(result.project_wheel),
                "deps_id": result.deps_id,
                "deps_archive": str(result.deps_archive),
                "sha256": result.sha256,
            }
        )
    )


@app.command("pack")
def pack(folder: Path = PACK_FOLDER) -> None:
    """Pack FOLDER into a reproducible tar named by its content; print its path. Controller side."""
    from tweet_triage.hosts.wheelhouse import pack_folder

    typer.echo(str(pack_folder(folder)))


@app.command("settings")
def settings_command(
    aws_credentials: str = typer.Option(
        ..., help="'instance-profile' (EC2: no keys on the host) or 'forward' (local stand-in)."
    ),
    host_state_dir: str = typer.Option(..., help="TT_STATE_DIR on the host."),
    host_profile_path: str = typer.Option(..., help="Where the profile is copied on the host."),
    role: str = typer.Option("streamer", help="The host's role: streamer or triage."),
) -> None:
    """Print a role's settings for the host as JSON (secrets included). Controller side.

    Also prints, under `profile_file`, the local mission profile to copy there. Fails with
    one message when a setting is missing or the profile is unknown.
    """
    from tweet_triage.hosts.role_settings import host_settings, mission_profile_file

    if aws_credentials not in ("instance-profile", "forward"):
        raise typer.BadParameter("--aws-credentials: use 'instance-profile' or 'forward'")
    settings = load_settings()
    values = host_settings(
        settings,
        aws_credentials=aws_credentials,  # type: ignore[arg-type]
        host_state_dir=host_state_dir,
        host_profile_path=host_profile_path,
        role=role,
    )
    typer.echo(
        json.dumps({"settings": values, "profile_file": str(mission_profile_file(settings))})
    )
