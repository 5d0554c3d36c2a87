"""HubSpot request signatures, as pure functions over the raw request (an injectable `now`).

- v1: hex(SHA-256(secret + body)), `X-HubSpot-Signature-Version: v1`
- v2: hex(SHA-256(secret + METHOD + URI + body))
- v3: base64(HMAC-SHA256(secret, METHOD + URI + body + timestamp)) in `X-HubSpot-Signature-v3`,
  with `X-HubSpot-Request-Timestamp` (epoch ms); refused when older than the tolerance.

v3 is checked whenever its header is present; v1/v2 otherwise, as the version header says.
v1 and v2 carry no timestamp, so a replay of one is only caught by the delivery's idempotency.
Every comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

SIGNATURE_HEADERS = frozenset(
    {
        "x-hubspot-signature",
        "x-hubspot-signature-version",
        "x-hubspot-signature-v3",
        "x-hubspot-request-timestamp",
    }
)


@dataclass(frozen=True)
class SignatureProblem:
    code: str
    message: str


def sign_v1(secret: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + body).hexdigest()


def sign_v2(secret: str, method: str, uri: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + method.upper().encode() + uri.encode() + body).hexdigest()


def sign_v3(secret: str, method: str, uri: str, body: bytes, timestamp_ms: str) -> str:
    message = method.upper().encode() + unquote(uri).encode() + body + timestamp_ms.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def verify_signature(
    *,
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    tolerance_seconds: int,
) -> SignatureProblem | None:
    """None when the request is signed with `secret`; else what is wrong with it."""
    v3 = headers.get("x-hubspot-signature-v3")
    if v3 is not None:
        timestamp = headers.get("x-hubspot-request-timestamp", "")
        if not timestamp.isdigit():
            return SignatureProblem(
                "missing_timestamp", "X-HubSpot-Request-Timestamp is missing or not epoch ms"
            )
        age = now.timestamp() - int(timestamp) / 1000
        if abs(age) > tolerance_seconds:
            return SignatureProblem("stale_timestamp", "the request timestamp is outside the allowed window")
        expected = sign_v3(secret, method, uri, body, timestamp)
        return None if hmac.compare_digest(expected, v3) else _bad()
    given = headers.get("x-hubspot-signature")
    if given is None:
        return SignatureProblem("missing_signature", "no HubSpot signature header")
    version = headers.get("x-hubspot-signature-version", "v1").strip().lower()
    if version == "v1":
        expected = sign_v1(secret, body)
    elif version == "v2":
        expected = sign_v2(secret, method, uri, body)
    else:
        return SignatureProblem("unknown_signature_version", f"unknown signature version {version[:10]!r}")
    return None if hmac.compare_digest(expected, given.strip().lower()) else _bad()


def _bad() -> SignatureProblem:
    return SignatureProblem("bad_signature", "the signature does not match")
