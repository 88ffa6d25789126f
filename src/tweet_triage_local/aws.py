"""The local AWS stand-in: moto in server mode on 127.0.0.1."""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

from tweet_triage.hosts.processes import Service
from tweet_triage_local.settings_files import read_local_env, remove_local_env, write_local_env


def moto_service(state_dir: Path) -> Service:
    return Service("moto", state_dir)


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


# Settings every later command uses while the stand-in is up (moto accepts any credentials).
def local_aws_settings(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


def start_local_aws(state_dir: Path, port: int) -> str:
    """Start moto server (if not running), record its settings, return its endpoint URL."""
    service = moto_service(state_dir)
    recorded = read_local_env(state_dir, "aws") if service.running() else {}
    endpoint = recorded.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{port}"
    service.start(
        [
            sys.executable,
            "-m",
            "tweet_triage_local.moto_server",
            "-H",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        ready=lambda: _answers(endpoint),
        port=port,
    )
    write_local_env(state_dir, "aws", local_aws_settings(endpoint))
    return endpoint


def stop_local_aws(state_dir: Path) -> str:
    remove_local_env(state_dir, "aws")
    return moto_service(state_dir).stop()
