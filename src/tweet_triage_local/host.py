"""The local host: a real sshd on loopback that Ansible reaches like an EC2 host.

It stands in for both of the stack's hosts: it is in the `streamer` group (provision.yml,
stream.yml) and in the `triage` group (triage.yml).

`start_host` installs Debian's openssh-server (and sudo, so the playbooks escalate the same
way as with ec2-user on EC2) when missing, generates a host key and a client key under
`<state dir>/host/`, runs a dedicated sshd on 127.0.0.1 on a free high port with key-only
login, checks that a login works, and writes the Ansible inventory for it. The inventory pins
the generated host key (strict checking, no `host_key_checking=False`) and disables SSH
connection sharing so no multiplexer process outlives a playbook run.

Everything the playbooks install on this host lands under `<state dir>/host/root/` (the
`streamer_prefix` and `triage_prefix` variables), so a test with its own state folder never
touches the developer's local host, and `/opt` and `/etc` of the machine stay untouched.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from tweet_triage.config import PROJECT_ROOT
from tweet_triage.errors import TriageError
from tweet_triage.hosts.processes import Service, free_port, port_answers
from tweet_triage.hosts.supervisor import stop_service, supervised
from tweet_triage.private_files import write_private
from tweet_triage_local.apt import apt_install
from tweet_triage_local.settings_files import remove_local_env, write_local_env

STREAMER_GROUP = "streamer"
TRIAGE_GROUP = "triage"
LOCAL_HOST_NAME = "local-streamer"
SSHD_SEARCH_PATH = "/usr/sbin:/usr/local/sbin:/sbin:/usr/bin:/bin"
SYSTEM_PYTHON = "/usr/bin/python3"
FALLBACK_ROOTS = Path("/var/tmp/tweet-triage-host")
_APT_PACKAGES = {"sshd": "openssh-server", "sudo": "sudo"}


class HostError(TriageError):
    """The local SSH host cannot be set up; the message names the cause and the fix."""


@dataclass(frozen=True)
class HostFiles:
    """Where the local host keeps its keys, config, inventory and its streamer's files."""

    state_dir: Path

    @property
    def folder(self) -> Path:
        return self.state_dir / "host"

    @property
    def host_key(self) -> Path:
        return self.folder / "ssh_host_ed25519_key"

    @property
    def client_key(self) -> Path:
        return self.folder / "client_ed25519"

    @property
    def authorized_keys(self) -> Path:
        return self.folder / "authorized_keys"

    @property
    def known_hosts(self) -> Path:
        return self.folder / "known_hosts"

    @property
    def sshd_config(self) -> Path:
        return self.folder / "sshd_config"

    @property
    def inventory(self) -> Path:
        return self.folder / "hosts.yml"

    @property
    def port_file(self) -> Path:
        return self.folder / "port"

    @property
    def root(self) -> Path:
        """The host's filesystem prefix: the playbooks put /opt, /etc, /var/lib under it.

        It sits in the state folder when the streamer's system user can reach it there; a
        state folder below a private one (a checkout under /root) gets a folder of its own
        under /var/tmp instead, named after the state folder so every command finds it.
        """
        if _private_parent(self.folder) is None:
            return self.folder / "root"
        digest = hashlib.sha256(str(self.state_dir.resolve()).encode()).hexdigest()[:12]
        return FALLBACK_ROOTS / digest

    def service(self) -> Service:
        return Service("sshd", self.folder)


@dataclass(frozen=True)
class HostInfo:
    port: int
    user: str
    pid: int
    inventory: Path
    client_key: Path


def find_sshd() -> str | None:
    return shutil.which("sshd", path=SSHD_SEARCH_PATH)


def ensure_packages() -> list[str]:
    """Install openssh-server (and sudo when we are root) with apt-get; return what was added.

    sudo is only needed for the login user to `become` like ec2-user does on EC2; a non-root
    user is expected to have it already.
    """
    wanted = ["sshd"] + (["sudo"] if os.geteuid() == 0 else [])
    missing = [
        _APT_PACKAGES[tool]
        for tool in wanted
        if (find_sshd() if tool == "sshd" else shutil.which(tool, path=SSHD_SEARCH_PATH)) is None
    ]
    if not missing:
        return []
    apt_install(missing, "the local streamer host", HostError)
    if find_sshd() is None:
        raise HostError("openssh-server was installed but no sshd binary was found on PATH")
    return missing


def _keygen(path: Path, comment: str) -> None:
    if path.is_file():
        return
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )


def _private_parent(path: Path) -> Path | None:
    """The nearest existing folder on the way to `path` that other users cannot search."""
    for folder in [path, *path.parents]:
        if folder.exists() and not folder.stat().st_mode & 0o001:
            return folder
    return None


def _sshd_config(files: HostFiles, port: int, user: str) -> str:
    # StrictModes would refuse key files below a world-writable /tmp; these files are ours,
    # mode 0600, and the daemon only listens on loopback. UsePAM stays off: PAM's session
    # modules (pam_loginuid) fail in containers, and key-only login needs none of it.
    return "\n".join(
        [
            "# Written by `tweet-triage local host-up`: a loopback-only, key-only sshd.",
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {files.host_key}",
            f"AuthorizedKeysFile {files.authorized_keys}",
            f"AllowUsers {user}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "UsePAM no",
            "StrictModes no",
            "PidFile none",
            "X11Forwarding no",
            # `ssh -L` only: the triage host's inbox is reached through a tunnel, as on EC2.
            "AllowTcpForwarding local",
            "PrintMotd no",
            "LogLevel INFO",
            "Subsystem sftp internal-sftp",
            "",
        ]
    )


def ssh_options(files: HostFiles) -> list[str]:
    """SSH client options for this host: pinned host key, our key only, no connection sharing."""
    return [
        "-o",
        f"UserKnownHostsFile={files.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
    ]


_NO_MULTIPLEXING = "-o ControlMaster=no -o ControlPersist=no -o ControlPath=none"


def _inventory(files: HostFiles, port: int, user: str) -> dict[str, object]:
    host_vars = {
        "ansible_host": "127.0.0.1",
        "ansible_port": port,
        "ansible_user": user,
        "ansible_ssh_private_key_file": str(files.client_key),
        "ansible_ssh_common_args": " ".join(ssh_options(files)),
        # Replaces Ansible's default `-C -o ControlMaster=auto -o ControlPersist=60s`.
        "ansible_ssh_args": _NO_MULTIPLEXING,
        "streamer_prefix": str(files.root),
        "triage_prefix": str(files.root),
    }
    # The OS's own Python, as on a real host; discovery could pick a user's pyenv shim.
    if Path(SYSTEM_PYTHON).is_file():
        host_vars["ansible_python_interpreter"] = SYSTEM_PYTHON
    return {
        STREAMER_GROUP: {"hosts": {LOCAL_HOST_NAME: host_vars}},
        TRIAGE_GROUP: {"hosts": {LOCAL_HOST_NAME: None}},  # the same host, its vars above
    }


def _login_works(files: HostFiles, port: int, user: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "ssh",
            *ssh_options(files),
            *_NO_MULTIPLEXING.split(),
            "-i",
            str(files.client_key),
            "-p",
            str(port),
            f"{user}@127.0.0.1",
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def start_host(state_dir: Path, port: int | None = None) -> HostInfo:
    """Start the loopback SSH host (no-op when running) and write its Ansible inventory."""
    files = HostFiles(state_dir)
    service = files.service()
    user = getpass.getuser()
    pid = service.pid()
    if pid is not None:
        running_port = int(files.port_file.read_text())
        _write_inventory(files, running_port, user)  # a host started by an older version
        write_local_env(state_dir, "host", {"ANSIBLE_INVENTORY": inventory_sources(state_dir)})
        return HostInfo(running_port, user, pid, files.inventory, files.client_key)

    ensure_packages()
    sshd = find_sshd() or "sshd"
    files.folder.mkdir(parents=True, exist_ok=True)
    files.folder.chmod(0o755)
    if os.geteuid() == 0:
        for folder in (files.root.parent, files.root):  # reachable by the system user
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o755)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    _keygen(files.host_key, "tweet-triage local host key")
    _keygen(files.client_key, f"tweet-triage local client {user}")
    write_private(files.authorized_keys, files.client_key.with_suffix(".pub").read_text())

    port = port or _previous_port(files) or free_port()
    host_public_key = " ".join(files.host_key.with_suffix(".pub").read_text().split()[:2])
    write_private(files.known_hosts, f"[127.0.0.1]:{port} {host_public_key}\n")
    write_private(files.sshd_config, _sshd_config(files, port, user))
    check = subprocess.run([sshd, "-t", "-f", str(files.sshd_config)], capture_output=True)
    if check.returncode != 0:
        raise HostError(f"sshd rejected {files.sshd_config}: {check.stderr.decode().strip()}")

    pid = service.start(
        [sshd, "-D", "-e", "-f", str(files.sshd_config)],
        ready=lambda: port_answers(port),
        timeout=30,
        port=port,
    )
    files.port_file.write_text(f"{port}\n")
    login = _login_works(files, port, user)
    if login.returncode != 0:
        service.stop()
        raise HostError(
            f"sshd runs on 127.0.0.1:{port} but a key login as {user!r} failed: "
            f"{login.stderr.strip()}; see {service.log_file}"
        )
    _write_inventory(files, port, user)
    write_local_env(state_dir, "host", {"ANSIBLE_INVENTORY": inventory_sources(state_dir)})
    return HostInfo(port, user, pid, files.inventory, files.client_key)


def _write_inventory(files: HostFiles, port: int, user: str) -> None:
    write_private(
        files.inventory,
        "# Written by `tweet-triage local host-up`; removed by `local host-down`.\n"
        + yaml.safe_dump(_inventory(files, port, user), sort_keys=False),
    )


def inventory_sources(state_dir: Path) -> str:
    """ANSIBLE_INVENTORY for the local host: the static group vars plus the generated hosts."""
    return f"{PROJECT_ROOT / 'inventories' / 'local'},{HostFiles(state_dir).inventory}"


def _previous_port(files: HostFiles) -> int | None:
    """Reuse the last port when it is still free, so known_hosts and habits stay valid."""
    try:
        port = int(files.port_file.read_text())
    except (OSError, ValueError):
        return None
    return None if port_answers(port) else port


def local_streamer_pid_file(state_dir: Path) -> Path:
    """The supervisor's pid file on the local host (streamer_pid_file in the playbook vars)."""
    return HostFiles(state_dir).root / "var" / "lib" / "tweet-triage" / "run" / "streamer.pid"


def stop_local_streamer(state_dir: Path, timeout: float = 180.0) -> str:
    """Stop a streamer the playbooks started on the local host (SIGTERM, wait for its flush)."""
    files = supervised(local_streamer_pid_file(state_dir))
    try:
        return stop_service(files, timeout)[1]
    except PermissionError as exc:
        raise HostError(
            f"cannot signal the local streamer ({exc}); stop it with "
            "`make -f Makefile-stream stream-stop`"
        ) from exc


def local_triage_run_dir(state_dir: Path) -> Path:
    """The supervisors' pid files of the triage services on the local host (triage_run_dir)."""
    return HostFiles(state_dir).root / "var" / "lib" / "tweet-triage-triage" / "run"


def stop_local_triage(state_dir: Path, timeout: float = 180.0) -> str:
    """Stop the triage services and schedules triage.yml started on the local host."""
    stopped = []
    for pid_file in sorted(local_triage_run_dir(state_dir).glob("*.pid")):
        try:
            was_running, _ = stop_service(supervised(pid_file), timeout)
        except PermissionError as exc:
            raise HostError(
                f"cannot signal {pid_file.stem} on the local host ({exc}); stop it with "
                "`make -f Makefile-stream triage-host-stop`"
            ) from exc
        if was_running:
            stopped.append(pid_file.stem)
    return f"stopped {', '.join(stopped)}" if stopped else "not running"


def stop_host(state_dir: Path) -> str:
    """Stop the loopback sshd by its pid; keys and the host's files stay for the next start."""
    files = HostFiles(state_dir)
    remove_local_env(state_dir, "host")
    files.inventory.unlink(missing_ok=True)
    return files.service().stop()
