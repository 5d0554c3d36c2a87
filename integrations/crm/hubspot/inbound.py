"""Workflow "Send a webhook" deliveries: verified before anything is stored, read later.

The check accepts a request signed by the app's secret (v3, or v1/v2 as announced) or carrying
the configured API key, and nothing else. The delivery key is the body's hash: HubSpot's retries
of one delivery carry the same body (v3 re-signs each attempt with a new timestamp), so they are
stored once. The parser reads the enrolled record in the flat shape ("customize request body")
and the nested one (`properties.<name>` or `properties.<name>.value`, "include all properties").
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


def request_check(
    section: HubSpotConfig,
    secret: str,
    signed_url: str,
    clock: Callable[[], datetime],
    *,
    accept_status: int = 200,
) -> WebhookCheck:
    """The check for one endpoint whose public URL is `signed_url`."""
    api_key_header = section.api_key_name.lower()

    async def check(request: WebhookRequest) -> WebhookVerdict:
        if section.webhook_auth is WebhookAuth.API_KEY:
            source = request.headers if section.api_key_location is ApiKeyLocation.HEADER else request.query()
            name = (
                api_key_header if section.api_key_location is ApiKeyLocation.HEADER else section.api_key_name
            )
            given = source.get(name, "")
            if not hmac.compare_digest(given.encode(), secret.encode()):
                return Reject(401, "bad_api_key", "the API key is missing or wrong")
        else:
            query = request.query_string.decode("latin-1")
            problem = verify_signature(
                secret=secret,
                method="POST",
                uri=f"{signed_url}?{query}" if query else signed_url,
                body=request.body,
                headers=request.headers,
                now=clock(),
                tolerance_seconds=section.webhook_timestamp_tolerance_seconds,
            )
            if problem is not None:
                return Reject(401, problem.code, problem.message)
        return Accept(hashlib.sha256(request.body).hexdigest(), status=accept_status)

    return check


def kept_headers(section: HubSpotConfig) -> frozenset[str]:
    if section.webhook_auth is WebhookAuth.API_KEY and section.api_key_location is ApiKeyLocation.HEADER:
        return frozenset({section.api_key_name.lower()})
    return SIGNATURE_HEADERS


def workflow_endpoint(
    section: HubSpotConfig, secret: str, public_url: str, clock: Callable[[], datetime]
) -> WebhookEndpoint:
    signed_url = f"{(section.signed_base_url or public_url).rstrip('/')}{WORKFLOW_PATH}"
    headers = kept_headers(section)
    api_key_header = (
        section.webhook_auth is WebhookAuth.API_KEY and section.api_key_location is ApiKeyLocation.HEADER
    )
    return WebhookEndpoint(
        WORKFLOW_PATH,
        request_check(section, secret, signed_url, clock),
        kept_headers=headers,
        reads_query=True,
        # The API key is checked, never stored.
        credential_headers=headers if api_key_header else frozenset(),
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
