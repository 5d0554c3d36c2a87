"""API keys: `Authorization: Bearer <key>`, compared by SHA-256 against the config file's hashes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from service.errors import Forbidden, Unauthorized


class Scope(StrEnum):
    CRM = "crm"
    REPORTS = "reports"
    ADMIN = "admin"


@dataclass(frozen=True)
class Caller:
    key_name: str
    scope: Scope

    @property
    def is_admin(self) -> bool:
        return self.scope is Scope.ADMIN


class ApiKeyring:
    def __init__(self, keys: Iterable[tuple[str, str, str]]) -> None:
        """`keys` are (name, scope, "sha256:<hex>") as in the config file."""
        self._by_digest = {
            digest.removeprefix("sha256:"): Caller(name, Scope(scope)) for name, scope, digest in keys
        }

    def authenticate(self, authorization: str | None) -> Caller:
        if not authorization:
            raise Unauthorized("missing Authorization header: send 'Authorization: Bearer <api key>'")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("the Authorization header must be 'Bearer <api key>'")
        caller = self._by_digest.get(hashlib.sha256(token.encode()).hexdigest())
        if caller is None:
            raise Unauthorized("unknown API key")
        return caller


def require_scope(caller: Caller, *allowed: Scope) -> Caller:
    if caller.scope is Scope.ADMIN or caller.scope in allowed:
        return caller
    needed = " or ".join(s.value for s in (*allowed, Scope.ADMIN))
    raise Forbidden(f"this API key has scope '{caller.scope.value}'; this endpoint needs {needed}")
