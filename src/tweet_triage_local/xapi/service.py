"""The local X API stand-in as a background service (`local xapi-up` / `xapi-down`).

While it runs, `<state dir>/local-xapi.env` holds `X_API_BASE_URL`, `X_BEARER_TOKEN` and the
OAuth app's `X_CLIENT_ID`, so the streamer, the inbox and every later command talk to it with no
other change; `xapi-down` removes them. The token is the configured `X_BEARER_TOKEN` if there is
one, otherwise a random one generated here (the stand-in accepts only that token, like X). The
client id is the configured `X_CLIENT_ID`, else the stand-in's own.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tweet_triage.config import Settings
from tweet_triage.hosts.processes import Service
from tweet_triage_local.settings_files import read_local_env, remove_local_env, write_local_env
from tweet_triage_local.xapi.standin import DEFAULT_CLIENT_ID

SERVICE_NAME = "xapi"


def xapi_service(state_dir: Path) -> Service:
    return Service(SERVICE_NAME, state_dir)


def _answers(base_url: str, token: str) -> bool:
    request = urllib.request.Request(
        f"{base_url}/2/tweets/search/stream/rules", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            return bool(response.status == 200 and "meta" in json.load(response))
    except (OSError, ValueError):
        return False


def start_local_xapi(
    settings: Settings,
    *,
    port: int | None = None,
    rate: float | None = None,
    start: str | None = None,
    faults: list[str] | None = None,
    author_share: float | None = None,
    author_delay: float | None = None,
) -> str:
    """Start the stand-in (if not running), record its settings, return its base URL."""
    state_dir = settings.state_dir
    service = xapi_service(state_dir)
    recorded = read_local_env(state_dir, SERVICE_NAME) if service.running() else {}
    token = recorded.get("X_BEARER_TOKEN") or (
        settings.x_bearer_token.get_secret_value()
        if settings.x_bearer_token is not None and settings.x_bearer_token.get_secret_value()
        else secrets.token_urlsafe(32)
    )
    client_id = recorded.get("X_CLIENT_ID") or settings.x_client_id or DEFAULT_CLIENT_ID
    port = port or settings.local_xapi_port
    base_url = recorded.get("X_API_BASE_URL") or f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "tweet_triage",
        "xapi",
        "serve",
        "--port",
        str(port),
        "--rate",
        str(settings.local_xapi_rate if rate is None else rate),
        "--client-id",
        client_id,
        "--author-share",
        str(settings.local_xapi_author_share if author_share is None else author_share),
        "--author-delay",
        str(settings.local_xapi_author_delay_seconds if author_delay is None else author_delay),
    ]
    if start is not None:
        command += ["--start", start]
    for spec in faults or []:
        command += ["--fault", spec]
    env = {**os.environ, "X_BEARER_TOKEN": token, "TT_STATE_DIR": str(state_dir)}
    service.start(command, ready=lambda: _answers(base_url, token), env=env, timeout=60, port=port)
    write_local_env(
        state_dir,
        SERVICE_NAME,
        {"X_API_BASE_URL": base_url, "X_BEARER_TOKEN": token, "X_CLIENT_ID": client_id},
    )
    return base_url


def stop_local_xapi(state_dir: Path) -> str:
    remove_local_env(state_dir, SERVICE_NAME)
    return xapi_service(state_dir).stop()
