"""The identity platform's part: OpenID discovery and the v2.0 token endpoint (client credentials).

msal fetches `/{tenant}/v2.0/.well-known/openid-configuration` when it is constructed, then POSTs
the form to the `token_endpoint` that document names. Errors use the AADSTS shapes Entra sends.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from integrations.sandbox.teams.config import GRAPH_SCOPE
from integrations.sandbox.teams.state import TeamsEmulatorState


def _aad_error(status: int, error: str, code: int, description: str) -> JSONResponse:
    trace = str(uuid.uuid4())
    return JSONResponse(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: {trace}",
            "error_codes": [code],
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": trace,
            "correlation_id": str(uuid.uuid4()),
        },
        status_code=status,
    )


def _unknown_tenant(tenant: str) -> JSONResponse:
    return _aad_error(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID.",
    )


def add_identity_routes(app: FastAPI, state: TeamsEmulatorState) -> None:
    @app.get("/{tenant}/v2.0/.well-known/openid-configuration")
    async def discovery(tenant: str, request: Request) -> JSONResponse:
        with state.lock:
            state.discovery_requests += 1
        if tenant != state.config.tenant_id:
            return _unknown_tenant(tenant)
        base = str(request.base_url).rstrip("/")
        issuer = f"{base}/{tenant}/v2.0"
        return JSONResponse(
            {
                "issuer": issuer,
                "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
                "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "tenant_region_scope": "EU",
            }
        )

    @app.post("/{tenant}/oauth2/v2.0/token")
    async def token(tenant: str, request: Request) -> JSONResponse:
        if state.faults.latency_seconds:
            await asyncio.sleep(state.faults.latency_seconds)
        if tenant != state.config.tenant_id:
            return _unknown_tenant(tenant)
        fault = state.faults.next_token_fault()
        if fault is not None:
            return _aad_error(fault.status, "temporarily_unavailable", 50196, "The server is busy.")
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        if form.get("grant_type") != "client_credentials":
            return _aad_error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        # Read per request: a test (or the sandbox admin) can rotate the secret on a running tenant.
        config = state.config
        if form.get("client_id") != config.client_id:
            return _aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found in the directory.",
            )
        if not secrets.compare_digest(form.get("client_secret", "").encode(), config.client_secret.encode()):
            return _aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the "
                "client secret value, not the client secret ID.",
            )
        if form.get("scope") != GRAPH_SCOPE:
            return _aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {form.get('scope')} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier.",
            )
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": config.token_expires_in,
                "ext_expires_in": config.token_expires_in,
                "access_token": state.issue_token(),
            }
        )
