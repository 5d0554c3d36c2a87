"""The one error base of the service: a stable `code`, an HTTP status and a human message."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class AppError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, details: Sequence[Mapping[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Every detail says what is wrong in words too (the error's message, unless it has its own).
        self.details = [{"message": message, **detail} for detail in details or []]


class NotFound(AppError):
    code = "not_found"
    status = 404


class Conflict(AppError):
    code = "conflict"
    status = 409


class InvalidInput(AppError):
    code = "invalid_input"
    status = 422


class Unauthorized(AppError):
    code = "unauthorized"
    status = 401


class Forbidden(AppError):
    code = "forbidden"
    status = 403


class ProviderFailed(AppError):
    """A provider refused or failed; `code` is the provider error's stable code."""

    status = 502

    def __init__(self, code: str, message: str, *, provider: str, retry_after: float | None = None) -> None:
        super().__init__(message, details=[{"provider": provider}])
        self.code = code
        self.provider = provider
        self.retry_after = retry_after


class ProviderNotConfigured(AppError):
    code = "provider_not_configured"
    status = 422
