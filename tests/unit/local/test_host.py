"""The local SSH host's generated files: strict host keys, no multiplexing, clear errors."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tweet_triage_local import host
from tweet_triage_local.host import HostError, HostFiles


def test_inventory_pins_the_host_key_and_disables_multiplexing(tmp_path: Path) -> None:
    files = HostFiles(tmp_path)
    inventory = host._inventory(files, 40123, "ops")
    vars_ = inventory["streamer"]["hosts"]["local-streamer"]  # type: ignore[index]
    assert vars_["ansible_host"] == "127.0.0.1" and vars_["ansible_port"] == 40123
    assert vars_["ansible_user"] == "ops"
    assert vars_["ansible_ssh_private_key_file"] == str(files.client_key)
    assert f"UserKnownHostsFile={files.known_hosts}" in vars_["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in vars_["ansible_ssh_common_args"]
    assert "ControlPersist=no" in vars_["ansible_ssh_args"]
    assert "ControlMaster=no" in vars_["ansible_ssh_args"]
    assert vars_["streamer_prefix"] == str(files.root)
    # The same host is the triage host too, installing under the same prefix.
    assert vars_["triage_prefix"] == str(files.root)
    assert inventory["triage"] == {"hosts": {"local-streamer": None}}


def test_sshd_config_is_loopback_and_key_only(tmp_path: Path) -> None:
    config = host._sshd_config(HostFiles(tmp_path), 40123, "ops")
    assert "ListenAddress 127.0.0.1" in config and "Port 40123" in config
    assert "PasswordAuthentication no" in config and "AllowUsers ops" in config
    assert f"AuthorizedKeysFile {HostFiles(tmp_path).authorized_keys}" in config


def test_inventory_sources_add_the_generated_hosts_to_the_static_group_vars(
    tmp_path: Path,
) -> None:
    static, generated = host.inventory_sources(tmp_path).split(",")
    assert static.endswith("inventories/local")
    assert generated == str(tmp_path / "host" / "hosts.yml")


def test_the_host_root_leaves_a_private_state_folder(tmp_path: Path) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:  # pytest's own tmp is private
        Path(folder).chmod(0o755)
        assert HostFiles(Path(folder)).root == Path(folder) / "host" / "root"
    private = tmp_path / "private"
    (private / "state").mkdir(parents=True)
    private.chmod(0o700)
    root = HostFiles(private / "state").root
    assert root.parent == host.FALLBACK_ROOTS
    assert HostFiles(private / "state").root == root  # every command finds the same one
    assert HostFiles(private / "other").root != root


def test_missing_sshd_without_root_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "find_sshd", lambda: None)
    monkeypatch.setattr(host.os, "geteuid", lambda: 1000)
    with pytest.raises(HostError, match=r"openssh-server.*apt-get install openssh-server"):
        host.ensure_packages()
