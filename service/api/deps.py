"""FastAPI dependencies: the services built by the composition root, and the authenticated caller."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from service.api.auth import Caller, Scope, require_scope
from service.usecases.services import Services


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def authenticated(request: Request) -> Caller:
    """The caller `ApiKeyMiddleware` authenticated for this /v1 request."""
    caller: Caller = request.scope["state"]["caller"]
    return caller


def scoped(*allowed: Scope) -> Callable[[Request], Caller]:
    """A dependency that refuses (403) a caller without one of `allowed` (admin passes all).

    Dependencies are solved before body validation errors are raised, so a caller without the
    scope learns nothing about the request's shape.
    """

    def dependency(request: Request) -> Caller:
        return require_scope(authenticated(request), *allowed)

    return dependency


CrmCaller = Annotated[Caller, Depends(scoped(Scope.CRM))]
ReaderCaller = Annotated[Caller, Depends(scoped(Scope.CRM, Scope.REPORTS))]
AdminCaller = Annotated[Caller, Depends(scoped(Scope.ADMIN))]
ServicesDep = Annotated[Services, Depends(services)]
