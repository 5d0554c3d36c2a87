"""Graph's server-driven paging: `$top`, `$skiptoken`, and `@odata.nextLink` while rows remain."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from integrations.sandbox.teams.state import TeamsEmulatorState
from integrations.sandbox.teams.wire import graph_error


def paged(
    state: TeamsEmulatorState, request: Request, listing: str, rows: list[dict[str, Any]]
) -> JSONResponse:
    """One page of `rows` with `@odata.nextLink` when more follow (`$top`, `$skiptoken`)."""
    size = state.config.page_size
    top = request.query_params.get("$top")
    if top is not None:
        if not top.isdigit() or int(top) < 1:
            return graph_error(400, "BadRequest", f"Invalid $top value '{top}'.")
        size = min(size, int(top))
    offset = 0
    token = request.query_params.get("$skiptoken")
    if token is not None:
        redeemed = state.redeem_cursor(token, listing)
        if redeemed is None:
            return graph_error(400, "BadRequest", "The $skiptoken is invalid.")
        offset = redeemed
    body: dict[str, Any] = {"value": rows[offset : offset + size]}
    if offset + size < len(rows):
        cursor = state.issue_cursor(listing, offset + size)
        body["@odata.nextLink"] = f"{str(request.base_url).rstrip('/')}{request.url.path}?$skiptoken={cursor}"
    return JSONResponse(body)
