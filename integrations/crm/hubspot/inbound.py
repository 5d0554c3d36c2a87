"""Workflow "Send a webhook" deliveries: verified before anything is stored, read later.

The check accepts, as `webhook_auth` says, a request signed by the app's client secret (v3, or
v1/v2 as announced) or one carrying the workflow action's API key (its own secret), and nothing
else. The delivery key is the body's hash: HubSpot's retries of one delivery carry the same body
(v3 re-signs each attempt with a new timestamp), so they are stored once. The parser reads the
enrolled record in the flat shape ("customize request body") and the nested one
(`properties.<name>` or `properties.<name>.value`, "include all properties").
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import datetime

from integrations.crm.base import CrmRecord, UnreadableRecord
from integrations.crm.hubspot.config import ApiKeyLocation, HubSpotConfig, WebhookAuth
from integrations.crm.hubspot.signature import SIGNATURE_HEADERS, verify_signature
from integrations.crm.mapping import CrmMapping, map_record
from integrations.plugin import Accept, Reject, WebhookCheck, WebhookEndpoint, WebhookRequest, WebhookVerdict

WORKFLOW_PATH = "/webhooks/hubspot"


def signed_url_of(section: HubSpotConfig, public_url: str, path: str) -> str:
    """The URL HubSpot called, which v2 and v3 signatures cover."""
    return f"{(section.signed_base_url or public_url).rstrip('/')}{path}"


def signature_check(
    section: HubSpotConfig, app_secret: str, signed_url: str, clock: Callable[[], datetime]
) -> WebhookCheck:
    """Accepts a request signed by the app's client secret for the endpoint at `signed_url`."""

    async def check(request: WebhookRequest) -> WebhookVerdict:
        query = request.query_string.decode("latin-1")
        problem = verify_signature(
            secret=app_secret,
            method="POST",
            uri=f"{signed_url}?{query}" if query else signed_url,
            body=request.body,
            headers=request.headers,
            now=clock(),
            tolerance_seconds=section.webhook_timestamp_tolerance_seconds,
        )
        if problem is not None:
            return Reject(401, problem.code, problem.message)
        return _accepted(request)

    return check


def api_key_check(section: HubSpotConfig, api_key: str) -> WebhookCheck:
    """Accepts a request carrying the workflow action's API key, where the section says it travels.

    Only the key's hash is kept, and hashes are compared, so the comparison takes the same time
    whatever was sent, its length included."""
    expected = hashlib.sha256(api_key.encode()).digest()
    in_header = section.api_key_location is ApiKeyLocation.HEADER
    name = section.api_key_name.lower() if in_header else section.api_key_name

    async def check(request: WebhookRequest) -> WebhookVerdict:
        given = (request.headers if in_header else request.query()).get(name)
        if not given:
            return Reject(401, "missing_api_key", "the request carries no API key")
        if not hmac.compare_digest(hashlib.sha256(given.encode()).digest(), expected):
            return Reject(401, "bad_api_key", "the API key is wrong")
        return _accepted(request)

    return check


def _accepted(request: WebhookRequest) -> Accept:
    return Accept(hashlib.sha256(request.body).hexdigest())


def workflow_endpoint(section: HubSpotConfig, check: WebhookCheck) -> WebhookEndpoint:
    """`POST /webhooks/hubspot`, verified by `check` (the signature's or the API key's)."""
    if section.webhook_auth is WebhookAuth.SIGNATURE:
        return WebhookEndpoint(WORKFLOW_PATH, check, kept_headers=SIGNATURE_HEADERS, reads_query=True)
    key_header = (
        frozenset({section.api_key_name.lower()})
        if section.api_key_location is ApiKeyLocation.HEADER
        else frozenset()
    )
    # The API key is checked, never stored (a query string is never stored either).
    return WebhookEndpoint(
        WORKFLOW_PATH, check, kept_headers=key_header, reads_query=True, credential_headers=key_header
    )


def flatten(record: Mapping[str, object]) -> dict[str, object]:
    """One record's properties, whichever shape HubSpot sent."""
    found: dict[str, object] = {}
    nested = record.get("properties")
    if isinstance(nested, dict):
        for name, value in nested.items():
            found[str(name)] = value.get("value") if isinstance(value, dict) else value
    for name, value in record.items():
        if name != "properties" and not isinstance(value, dict):
            found.setdefault(str(name), value)
    for alias in ("objectId", "vid", "id"):
        if alias in record and "hs_object_id" not in found:
            found["hs_object_id"] = record[alias]
    return found


def record_parser(mapping: CrmMapping) -> Callable[[bytes, Mapping[str, str]], list[CrmRecord]]:
    def parse(body: bytes, headers: Mapping[str, str]) -> list[CrmRecord]:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise UnreadableRecord("the delivery is not JSON") from exc
        items = document if isinstance(document, list) else [document]
        if not items or not all(isinstance(item, dict) for item in items):
            raise UnreadableRecord("the delivery holds no record object")
        return [map_record(flatten(item), mapping) for item in items]

    return parse
