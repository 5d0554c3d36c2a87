"""API keys: `Authorization: Bearer <key>`, compared by SHA-256 against the config file's hashes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AsgiScope

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
    needed = " or ".join(dict.fromkeys(s.value for s in (*allowed, Scope.ADMIN)))  # each once, in order
    raise Forbidden(f"this API key has scope '{caller.scope.value}'; this endpoint needs {needed}")


class ApiKeyMiddleware:
    """Authenticates every /v1 request before anything else reads it (401 even for a bad body)."""

    def __init__(self, app: ASGIApp, keyring: ApiKeyring, prefix: str = "/v1/") -> None:
        self.app = app
        self.keyring = keyring
        self.prefix = prefix

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        authorization = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None
        )
        try:
            caller = self.keyring.authenticate(authorization)
        except Unauthorized as exc:
            body = json.dumps({"code": exc.code, "message": exc.message, "details": []}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": exc.status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"www-authenticate", b"Bearer"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)
