"""Graph's `communications/callRecords/{id}` (with `$expand=sessions`) and its sessions listing.

A call record exists only after the call ended, and is kept 30 days; sessions are paged
(`sessions@odata.nextLink` when expanded, `@odata.nextLink` on the listing).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from integrations.sandbox.teams.guard import guard
from integrations.sandbox.teams.paging import paged
from integrations.sandbox.teams.state import CallRecord, TeamsEmulatorState
from integrations.sandbox.teams.wire import call_record_json, graph_error, session_json

_RETENTION = timedelta(days=30)
_EXPANDS = frozenset({"", "sessions", "sessions($expand=segments)"})


def add_record_routes(app: FastAPI, state: TeamsEmulatorState) -> None:
    tenant = state.config.tenant_id

    def record(record_id: str) -> CallRecord | JSONResponse:
        with state.lock:
            found = state.call_records.get(record_id)
        if found is None or found.end < state.now() - _RETENTION:
            return graph_error(404, "NotFound", f"Call record '{record_id}' was not found.")
        return found

    @app.get("/v1.0/communications/callRecords/{record_id}")
    async def get_call_record(record_id: str, request: Request) -> JSONResponse:
        if (refused := await guard(request, state)) is not None:
            return refused
        expand = request.query_params.get("$expand", "")
        if expand not in _EXPANDS:
            return graph_error(400, "BadRequest", f"Unsupported $expand '{expand}'.")
        found = record(record_id)
        if isinstance(found, JSONResponse):
            return found
        body: dict[str, Any] = call_record_json(found, tenant)
        if expand:
            size = state.config.page_size
            sessions = [session_json(s) for s in found.sessions]
            body["sessions"] = sessions[:size]
            if len(sessions) > size:
                cursor = state.issue_cursor(f"sessions:{found.id}", size)
                base = str(request.base_url).rstrip("/")
                body["sessions@odata.nextLink"] = (
                    f"{base}/v1.0/communications/callRecords/{found.id}/sessions?$skiptoken={cursor}"
                )
        return JSONResponse(body)

    @app.get("/v1.0/communications/callRecords/{record_id}/sessions")
    async def list_sessions(record_id: str, request: Request) -> JSONResponse:
        if (refused := await guard(request, state)) is not None:
            return refused
        found = record(record_id)
        if isinstance(found, JSONResponse):
            return found
        return paged(state, request, f"sessions:{found.id}", [session_json(s) for s in found.sessions])
