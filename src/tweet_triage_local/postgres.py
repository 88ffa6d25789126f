"""A real PostgreSQL server on loopback: the triage store's production database, locally.

`start_postgres` installs Debian's postgresql package when it is missing (as root with apt,
like the SSH host does with openssh-server), creates a private cluster with `initdb`
(password authentication, scram-sha-256, a generated password kept in a 0600 file), starts
`postgres` on 127.0.0.1 on a free port (TCP only, its socket folder inside the cluster) and
waits until `pg_isready` says it accepts connections. `stop_postgres` asks for a fast
shutdown (SIGINT: open connections are closed, nothing is lost) and waits for it.

PostgreSQL refuses to run as root: when we are root the cluster belongs to the `postgres`
system user that the package creates, and lives where that user can reach it (under
/var/tmp/tweet-triage-postgres/<id> when the state folder's parents are private).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tweet_triage.errors import TriageError
from tweet_triage.hosts.processes import Service, free_port
from tweet_triage.private_files import write_private
from tweet_triage_local.apt import apt_install
from tweet_triage_local.settings_files import remove_local_env, write_local_env

APT_PACKAGE = "postgresql"
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
SYSTEM_USER = "postgres"
SUPERUSER = "triage"
DATABASE = "triage"
FALLBACK_ROOT = Path("/var/tmp/tweet-triage-postgres")


class PostgresError(TriageError):
    """The local PostgreSQL server cannot be installed, started or stopped; says why."""


def find_pg_bin() -> Path | None:
    """The newest installed server's bin folder (initdb, postgres, pg_isready, pg_ctl)."""
    found = [
        Path(folder)
        for folder in Path("/").glob(PG_BIN_GLOB.lstrip("/"))
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "postgres").is_file()
    ]
    found.sort(key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0))
    return found[-1] if found else None


def ensure_postgres() -> Path:
    """The server's bin folder, installing Debian's postgresql package first when missing."""
    found = find_pg_bin()
    if found is not None:
        return found
    apt_install([APT_PACKAGE], "the local PostgreSQL server", PostgresError)
    found = find_pg_bin()
    if found is None:
        raise PostgresError(f"postgresql was installed but no server was found in {PG_BIN_GLOB}")
    return found


def _searchable_by_others(path: Path) -> bool:
    return all(
        not folder.exists() or folder.stat().st_mode & 0o001 for folder in [path, *path.parents]
    )


@dataclass(frozen=True)
class PostgresFiles:
    """Where one local server lives: `<state dir>/postgres/` (or its /var/tmp fallback)."""

    state_dir: Path

    @property
    def home(self) -> Path:
        """Run files we own: pid file, log, password, port."""
        return self.state_dir / "postgres"

    @property
    def cluster(self) -> Path:
        preferred = self.home / "data"
        if os.geteuid() != 0 or _searchable_by_others(self.home):
            return preferred
        digest = hashlib.sha256(str(self.home.resolve()).encode()).hexdigest()[:16]
        return FALLBACK_ROOT / digest / "data"

    @property
    def password_file(self) -> Path:
        return self.home / "password"

    @property
    def port_file(self) -> Path:
        return self.home / "port"

    @property
    def service(self) -> Service:
        return Service("postgres", self.home)


@dataclass(frozen=True)
class PostgresServer:
    port: int
    password: str
    cluster: Path

    def url(self, database: str = DATABASE) -> str:
        """SQLAlchemy URL (psycopg 3) of a database on this server."""
        return f"postgresql+psycopg://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database `name` (letters, digits, _) and return its URL."""
        import psycopg

        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise PostgresError(f"database name {name!r}: use lowercase letters, digits and _")
        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            password=self.password,
            dbname="postgres",
            autocommit=True,
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_server_user() -> list[str]:
    """Command prefix that drops root to the postgres system user (exec, no extra process)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError as exc:
        raise PostgresError(
            f"running as root, PostgreSQL needs the {SYSTEM_USER!r} system user, which the "
            "postgresql package creates; reinstall it (apt-get install --reinstall postgresql)"
        ) from exc
    return ["setpriv", f"--reuid={SYSTEM_USER}", f"--regid={SYSTEM_USER}", "--init-groups", "--"]


def _chown_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _ready(bin_dir: Path, port: int) -> bool:
    result = subprocess.run(
        [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "1"],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def _init_cluster(bin_dir: Path, files: PostgresFiles) -> None:
    cluster = files.cluster
    password = secrets.token_urlsafe(24)
    files.home.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(cluster, ignore_errors=True)
    cluster.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    cluster.mkdir(mode=0o700)
    _chown_to_server_user(cluster)
    # initdb reads the superuser's password from a file the server user can read; it is
    # removed right after, and our copy stays in the 0600 password file.
    pwfile = cluster.parent / ".initdb-password"
    write_private(pwfile, password + "\n")
    _chown_to_server_user(pwfile)
    try:
        result = subprocess.run(
            [
                *_as_server_user(),
                str(bin_dir / "initdb"),
                "-D",
                str(cluster),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise PostgresError(
            f"initdb failed (exit {result.returncode}): "
            f"{' | '.join(result.stderr.strip().splitlines()[-3:])}"
        )
    write_private(files.password_file, password)


def start_postgres(
    state_dir: Path, port: int | None = None, *, durable: bool = True
) -> PostgresServer:
    """Start (or find running) the local server; its database `triage` exists.

    `durable=False` turns fsync off: for throwaway test clusters only.
    """
    files = PostgresFiles(state_dir)
    bin_dir = ensure_postgres()
    service = files.service
    if service.running() and files.port_file.is_file():
        running_port = int(files.port_file.read_text())
        return PostgresServer(running_port, files.password_file.read_text(), files.cluster)
    if not (files.cluster / "PG_VERSION").is_file() or not files.password_file.is_file():
        _init_cluster(bin_dir, files)
    port = port or free_port()
    service.start(
        [
            *_as_server_user(),
            str(bin_dir / "postgres"),
            "-D",
            str(files.cluster),
            "-c",
            "listen_addresses=127.0.0.1",
            "-p",
            str(port),
            "-c",
            f"unix_socket_directories={files.cluster}",
            "-c",
            f"fsync={'on' if durable else 'off'}",
        ],
        ready=lambda: _ready(bin_dir, port),
        timeout=60,
    )
    files.port_file.write_text(str(port))
    server = PostgresServer(port, files.password_file.read_text(), files.cluster)
    _ensure_database(server)
    write_local_env(state_dir, "postgres", {"TRIAGE_DATABASE_URL": server.url()})
    return server


def _ensure_database(server: PostgresServer) -> None:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1",
        port=server.port,
        user=SUPERUSER,
        password=server.password,
        dbname="postgres",
        autocommit=True,
    ) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{DATABASE}"')


def stop_postgres(state_dir: Path, timeout: float = 60.0) -> str:
    """Fast shutdown (SIGINT), waiting for the server to exit; safe to repeat."""
    files = PostgresFiles(state_dir)
    remove_local_env(state_dir, "postgres")
    pid = files.service.pid()
    if pid is None:
        return "postgres: not running"
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and files.service.running():
        time.sleep(0.1)
    if files.service.running():
        return files.service.stop(timeout=5)  # SIGTERM, then SIGKILL, and says so
    files.port_file.unlink(missing_ok=True)
    return f"postgres: stopped (pid {pid})"


def remove_postgres(state_dir: Path) -> None:
    """Stop the server and delete its cluster (every database in it)."""
    stop_postgres(state_dir)
    files = PostgresFiles(state_dir)
    shutil.rmtree(files.cluster, ignore_errors=True)
    if files.cluster.parent.parent == FALLBACK_ROOT:
        shutil.rmtree(files.cluster.parent, ignore_errors=True)
    files.password_file.unlink(missing_ok=True)
