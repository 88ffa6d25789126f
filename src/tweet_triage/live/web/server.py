"""The inbox's uvicorn server (one worker: the login throttle lives in its memory).

uvicorn's own forwarded-header handling is off: it would believe X-Forwarded-For from
127.0.0.1, which is every SSH-tunnel user. The app believes them only from the proxies named
in TRIAGE_TRUSTED_PROXIES (`create_app`).
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI


def inbox_server(app: FastAPI, host: str, port: int) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            proxy_headers=False,
            log_level="info",
            server_header=False,
        )
    )
