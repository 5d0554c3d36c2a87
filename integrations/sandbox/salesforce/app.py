"""The Salesforce emulator's HTTP surface: the OAuth token endpoint and the sObjects REST API.

`create_salesforce_emulator(config)` returns the FastAPI app; its `SalesforceEmulatorState` is at
`app.state.salesforce` (also `emulator_state(app)`) for tests, the outbound sender and the demo.
REST errors are JSON arrays `[{"message", "errorCode", "fields"}]` as Salesforce sends them, and
every authenticated answer carries `Sforce-Limit-Info`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography import x509
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from integrations.sandbox.salesforce.config import FieldType, SalesforceEmulatorConfig
from integrations.sandbox.salesforce.state import SalesforceEmulatorState

JWT_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_API_VERSION = re.compile(r"^v\d{2,3}\.\d$")
_RECORD_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_MAX_LENGTH = {FieldType.STRING: 255, FieldType.TEXTAREA: 32_000}


def emulator_state(app: FastAPI) -> SalesforceEmulatorState:
    state = app.state.salesforce
    assert isinstance(state, SalesforceEmulatorState)
    return state


def create_salesforce_emulator(config: SalesforceEmulatorConfig | None = None) -> FastAPI:
    state = SalesforceEmulatorState(config or SalesforceEmulatorConfig())
    app = FastAPI(title="Salesforce sandbox emulator", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.salesforce = state
    _add_token_route(app, state)
    _add_sobject_routes(app, state)
    return app


def _errors(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    fields: list[str] | None = None,
) -> JSONResponse:
    body = [{"message": message, "errorCode": code, "fields": fields or []}]
    return JSONResponse(body, status_code=status, headers=headers)


# --- OAuth ---------------------------------------------------------------------------------------


def _token_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    return (client_id, secret) if colon else None


def _same(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())


def _jwt_subject(config: SalesforceEmulatorConfig, assertion: str, now: datetime) -> str | JSONResponse:
    """The `sub` of a valid assertion, or the error Salesforce answers."""
    if config.jwt_certificate_pem is None:
        return _token_error("invalid_grant", "user hasn't approved this consumer")
    public_key = x509.load_pem_x509_certificate(config.jwt_certificate_pem).public_key()
    try:
        # Expiry is checked below against the org's clock (which tests move), not the machine's.
        claims = jwt.decode(
            assertion,
            public_key,  # type: ignore[arg-type]  # an RSA certificate, as the connected app requires
            algorithms=["RS256"],
            audience=list(config.jwt_audiences),
            issuer=config.client_id,
            options={"verify_exp": False, "require": ["iss", "sub", "aud", "exp"]},
        )
    except jwt.InvalidAudienceError:
        return _token_error("invalid_grant", "audience is invalid")
    except jwt.InvalidIssuerError:
        return _token_error("invalid_client_id", "client identifier invalid")
    except jwt.PyJWTError:
        return _token_error("invalid_grant", "invalid assertion")
    exp = claims.get("exp")
    if not isinstance(exp, int):
        return _token_error("invalid_grant", "invalid assertion")
    remaining = exp - now.timestamp()
    if remaining <= 0 or remaining > config.jwt_max_lifetime_seconds:
        return _token_error("invalid_grant", "expired authorization code")
    subject = claims.get("sub")
    if not isinstance(subject, str) or subject.lower() != config.username.lower():
        return _token_error("invalid_grant", "user hasn't approved this consumer")
    return subject


def _add_token_route(app: FastAPI, state: SalesforceEmulatorState) -> None:
    @app.post("/services/oauth2/token")
    async def token(request: Request) -> JSONResponse:
        config = state.config
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        grant_type = form.get("grant_type")
        if grant_type == "client_credentials":
            given = _basic_credentials(request.headers.get("authorization")) or (
                form.get("client_id", ""),
                form.get("client_secret", ""),
            )
            if not (_same(given[0], config.client_id) and _same(given[1], config.client_secret)):
                return _token_error("invalid_client", "invalid client credentials")
            username = config.username
        elif grant_type == JWT_GRANT_TYPE:
            subject = _jwt_subject(config, form.get("assertion", ""), state.now())
            if isinstance(subject, JSONResponse):
                return subject
            username = subject
        else:
            return _token_error("unsupported_grant_type", "grant type not supported")
        origin = config.instance_url or str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "access_token": state.issue_session(username),
                "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
                "scope": "api",
                "instance_url": origin,
                "id": f"{origin}/id/{config.organization_id}/005000000000001AAA",
                "token_type": "Bearer",
                "issued_at": str(int(state.now().timestamp() * 1000)),
            }
        )


# --- sObjects ------------------------------------------------------------------------------------


async def _guard(request: Request, state: SalesforceEmulatorState) -> JSONResponse | dict[str, str]:
    """Latency, session, daily limit and injected faults; the Sforce-Limit-Info header when passed."""
    if state.faults.latency_seconds:
        await asyncio.sleep(state.faults.latency_seconds)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() not in {"bearer", "oauth"} or not state.use_session(token.strip()):
        return _errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
    allowed, usage = state.count_api_call()
    headers = {"Sforce-Limit-Info": usage}
    if not allowed:
        return _errors(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", headers)
    fault = state.faults.next_fault(state.now())
    if fault is not None:
        if fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        return _errors(fault.status, fault.error_code, fault.message, headers)
    return headers


def _parse_datetime(value: str) -> datetime | None:
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", value.strip())
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _field_error(sobject: str, name: str, value: Any, kind: FieldType | None) -> tuple[str, str] | None:
    """(errorCode, message) when Salesforce would refuse `value` for the field, else None."""
    if kind is None:
        return "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}"
    if value is None:
        return None
    if kind in (FieldType.STRING, FieldType.TEXTAREA):
        if not isinstance(value, str):
            return "JSON_PARSER_ERROR", f"Cannot deserialize instance of string from {type(value).__name__}"
        if len(value) > _MAX_LENGTH[kind]:
            return "STRING_TOO_LONG", f"{name}: data value too large"
        return None
    if kind is FieldType.DATETIME:
        if not isinstance(value, str) or _parse_datetime(value) is None:
            return "JSON_PARSER_ERROR", f"Cannot deserialize instance of datetime from {value!r:.40}"
        return None
    if kind is FieldType.INT:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else ("JSON_PARSER_ERROR", f"Cannot deserialize instance of int from {value!r:.40}")
    if kind is FieldType.DOUBLE:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return (
            None if ok else ("JSON_PARSER_ERROR", f"Cannot deserialize instance of double from {value!r:.40}")
        )
    if kind is FieldType.BOOLEAN:
        ok = isinstance(value, bool)
        return (
            None
            if ok
            else ("JSON_PARSER_ERROR", f"Cannot deserialize instance of boolean from {value!r:.40}")
        )
    if not isinstance(value, str) or not _RECORD_ID.match(value):
        return "MALFORMED_ID", f"{name}: id value of incorrect type: {value!r:.40}"
    return None


def _event_integrity(merged: dict[str, Any]) -> str | None:
    start, end = merged.get("StartDateTime"), merged.get("EndDateTime")
    if isinstance(start, str) and isinstance(end, str):
        start_at, end_at = _parse_datetime(start), _parse_datetime(end)
        if start_at and end_at and end_at < start_at:
            return "EndDateTime: End Date Time must be later than the Start Date Time"
    return None


def _add_sobject_routes(app: FastAPI, state: SalesforceEmulatorState) -> None:
    def _check_path(version: str, sobject: str) -> JSONResponse | None:
        if not _API_VERSION.match(version) or sobject not in state.config.objects:
            return _errors(404, "NOT_FOUND", "The requested resource does not exist")
        return None

    @app.api_route("/services/data/{version}/sobjects/{sobject}/{record_id}", methods=["GET", "PATCH"])
    async def record(request: Request, version: str, sobject: str, record_id: str) -> Response:
        with state.lock:
            state.api_requests.append((request.method, f"{sobject}/{record_id}"))
        guard = await _guard(request, state)
        if isinstance(guard, JSONResponse):
            return guard
        headers = guard
        bad_path = _check_path(version, sobject)
        if bad_path is not None:
            bad_path.headers.update(headers)
            return bad_path
        current = state.record(sobject, record_id)
        if current is None:
            if not _RECORD_ID.match(record_id):
                return _errors(
                    400, "MALFORMED_ID", f"{sobject} ID: id value of incorrect type: {record_id}", headers
                )
            return _errors(404, "NOT_FOUND", "The requested resource does not exist", headers)
        schema = state.config.objects[sobject]
        if request.method == "GET":
            wanted = [f for f in request.query_params.get("fields", "").split(",") if f]
            unknown = [f for f in wanted if f != "Id" and f not in schema]
            if unknown:
                return _errors(
                    400, "INVALID_FIELD", f"No such column '{unknown[0]}' on entity '{sobject}'", headers
                )
            names = wanted or ["Id", *schema]
            body = {
                "attributes": {
                    "type": sobject,
                    "url": f"/services/data/{version}/sobjects/{sobject}/{record_id}",
                },
                **{name: current.get(name) for name in names},
            }
            return JSONResponse(body, headers=headers)
        try:
            fields = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return _errors(400, "JSON_PARSER_ERROR", "Unexpected character: the body is not JSON", headers)
        if not isinstance(fields, dict):
            return _errors(
                400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from START_ARRAY", headers
            )
        for name, value in fields.items():
            if name == "Id":
                return _errors(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    "Unable to create/update fields: Id",
                    headers,
                    ["Id"],
                )
            refused = _field_error(sobject, name, value, schema.get(name))
            if refused is not None:
                return _errors(400, refused[0], refused[1], headers, [name])
        integrity = _event_integrity({**current, **fields}) if sobject == "Event" else None
        if integrity is not None:
            return _errors(400, "FIELD_INTEGRITY_EXCEPTION", integrity, headers, ["EndDateTime"])
        state.update_record(sobject, record_id, fields)
        return Response(status_code=204, headers=headers)
