"""Liveness, readiness and Prometheus metrics (no auth: scraped by the platform)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from service.api.backlog_metrics import backlog_exposition
from service.api.deps import services
from service.storage.database import ping, schema_is_current

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


class ReadinessOut(BaseModel):
    status: str
    detail: str | None = None


@router.get(
    "/readyz",
    response_model=ReadinessOut,
    responses={503: {"model": ReadinessOut, "description": "Not ready; `detail` says why."}},
)
async def readyz(request: Request) -> JSONResponse:
    db = services(request).db

    def check() -> str | None:
        try:
            ping(db.engine)
        except Exception as exc:  # any failure to reach the database means "not ready"
            return f"database unreachable: {type(exc).__name__}"
        if not schema_is_current(db.engine):
            return "database schema is not at the newest migration: run `salesmeet db upgrade`"
        return None

    problem = await run_in_threadpool(check)
    if problem:
        return JSONResponse({"status": "unavailable", "detail": problem}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."}},
)
async def metrics(request: Request) -> Response:
    svc = services(request)
    config = svc.config
    backlog = await run_in_threadpool(
        backlog_exposition,
        svc.db,
        svc.clock(),
        [p.value for p in config.enabled_providers()],
        config.enabled_crms(),
    )
    return Response(generate_latest() + backlog, media_type=CONTENT_TYPE_LATEST)
