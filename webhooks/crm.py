"""CRM endpoints: inbound deliveries (verified, then committed to `crm_deliveries` before the 2xx)
and synchronous actions (verified, then answered by the service).

Inbound endpoints reuse the webhook receiver (`webhooks/receiver.py`): the same body limits, the
same check-before-store rule; only the store differs. CRM traffic is a few requests a minute, so
each delivery is its own small transaction (no group commit).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime

import anyio.to_thread
import structlog
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from integrations.crm.plugin import ActionRefused, CrmActionEndpoint, MeetingActions
from integrations.plugin import Reject, WebhookRequest
from service.storage import crm_repo
from service.storage.database import Database
from service.storage.inbox_repo import Delivery

log = structlog.get_logger("salesmeet.webhooks.crm")

MAX_ACTION_BODY_BYTES = 256 * 1024


class CrmDeliveryStore:
    """`DeliveryStore` for CRM deliveries: one committed insert per delivery, duplicates ignored."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock

    async def store(self, delivery: Delivery) -> bool:
        return await anyio.to_thread.run_sync(self._write, delivery)

    def _write(self, delivery: Delivery) -> bool:
        with self._db.write() as conn:
            return crm_repo.insert_delivery(
                conn, delivery.provider, delivery.delivery_key, delivery.body, delivery.headers, self._clock()
            )


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "details": []}, status_code=status)


def crm_action_router(
    actions: Iterable[tuple[str, CrmActionEndpoint]], meeting_actions: MeetingActions
) -> APIRouter:
    """One POST route per action endpoint: check, then the handler on a worker thread."""
    router = APIRouter()
    for crm, endpoint in actions:
        router.routes.append(
            Route(
                endpoint.path,
                _action_app(crm, endpoint, meeting_actions),
                methods=["POST"],
                include_in_schema=False,
            )
        )
    return router


def _action_app(
    crm: str, endpoint: CrmActionEndpoint, meeting_actions: MeetingActions
) -> Callable[[Request], object]:
    async def handle(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_ACTION_BODY_BYTES:
            return _error(413, "payload_too_large", f"request body over {MAX_ACTION_BODY_BYTES} bytes")
        headers = {k: v for k, v in request.headers.items() if k in endpoint.kept_headers}
        query = request.scope.get("query_string", b"") if endpoint.reads_query else b""
        verdict = await endpoint.check(WebhookRequest(body, headers, query))
        if isinstance(verdict, Reject):
            log.warning("crm.action_rejected", crm=crm, path=endpoint.path, code=verdict.code)
            return _error(verdict.status, verdict.code, verdict.message)
        try:
            reply = await anyio.to_thread.run_sync(endpoint.handle, body, meeting_actions)
        except ActionRefused as refused:
            return _error(refused.status, refused.code, refused.message)
        if reply.body is None:
            return Response(status_code=reply.status)
        return Response(json.dumps(reply.body), status_code=reply.status, media_type="application/json")

    return handle
