"""What operators and monitoring call: /healthz (no login) and /metrics (token or session)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from tweet_triage.live.web.deps import AnyUserDep, InboxDep, StoreDep

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz(store: StoreDep) -> Response:
    try:
        store.schema_revision()
    except Exception as exc:  # any database failure means "not healthy", with its reason
        log.error("healthz: the database does not answer: %s", exc)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics")
def metrics(user: AnyUserDep, box: InboxDep) -> Response:
    body, content_type = box.metrics.render()
    return Response(body, media_type=content_type)
