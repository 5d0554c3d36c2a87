"""The error answers, as the OpenAPI document describes them: one shape for every failure."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorDetailOut(BaseModel):
    field: str
    code: str
    message: str


class ErrorOut(BaseModel):
    """Every error: a stable `code`, a `message` for people, and per-field `details` (422)."""

    code: str
    message: str
    details: list[ErrorDetailOut]


_WHEN = {
    400: "The body is not JSON (`malformed_json`), or not UTF-8.",
    401: "No API key, or an unknown one (`unauthorized`).",
    403: "The key's scope does not allow this (`forbidden`).",
    404: "No such resource (`not_found`).",
    409: "A concurrent change or a claim by another request (`conflict`); GET and retry.",
    413: "The body is over 1 MiB (`payload_too_large`).",
    422: "Invalid fields (`validation_error`), one detail per field.",
    502: "The provider refused or failed (`provider_*` codes); nothing half-created is left.",
    503: "Busy or not ready; retry after `Retry-After` seconds.",
    504: "A create got no answer from the provider in time (`provider_timeout`); it may have happened. "
    "Retry with the same `external_ref`: the meeting is looked for before it is made again.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a router or route: these statuses, each with the error shape."""
    return {status: {"model": ErrorOut, "description": _WHEN[status]} for status in statuses}


V1_ERRORS = error_responses(400, 401, 403, 404, 409, 413, 422, 502, 503, 504)
