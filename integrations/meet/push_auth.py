"""Pub/Sub push authentication: the OIDC token Google signs onto every push.

`verify_push_token` is pure (certificates and `now` are given): the signature by one of Google's
keys (by `kid`), then `aud`, `iss` (accounts.google.com), `email` (the push subscription's service
account, verified) and the token's times. `GoogleCertificates` fetches the certificates from the
configured certs URL without blocking the event loop, caches them for their `max-age`, and fetches
again early when a token names a key it does not know (Google rotates its keys).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
CLOCK_SKEW_SECONDS = 60
_DEFAULT_MAX_AGE = 3600.0
# A token naming an unknown key refetches the certificates, at most this often.
_UNKNOWN_KEY_REFETCH_SECONDS = 30.0
_MAX_AGE = re.compile(r"max-age=(\d+)")


class PushAuthError(Exception):
    """The push is not provably Google's, for the configured subscription. `code` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PushIdentity:
    """What the push's token vouches for."""

    email: str
    audience: str
    issued_at: int
    expires_at: int


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise PushAuthError("push_token_missing", "no bearer token on the push")
    return token.strip()


def token_key_id(token: str) -> str:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise PushAuthError("push_token_invalid", "the push token is not a JWT") from exc
    key_id = header.get("kid")
    if header.get("alg") != "RS256" or not isinstance(key_id, str) or not key_id:
        raise PushAuthError("push_token_invalid", "the push token is not an RS256 token with a key id")
    return key_id


def verify_push_token(
    token: str,
    certificates: Mapping[str, RSAPublicKey],
    *,
    audience: str,
    service_account: str,
    now: float,
) -> PushIdentity:
    key = certificates.get(token_key_id(token))
    if key is None:
        raise PushAuthError("push_token_invalid", "the push token is signed by a key Google does not list")
    try:
        # Times are checked below against `now`, with a stated skew.
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=["RS256"],
            options={"verify_aud": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.InvalidTokenError as exc:
        raise PushAuthError("push_token_invalid", "the push token's signature does not verify") from exc
    if claims.get("aud") != audience:
        raise PushAuthError("push_token_audience", "the push token is for another audience")
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise PushAuthError("push_token_issuer", "the push token is not issued by Google")
    email = claims.get("email")
    if (
        not isinstance(email, str)
        or email.lower() != service_account.lower()
        or claims.get("email_verified") is not True
    ):
        raise PushAuthError(
            "push_token_email", "the push token is not for the configured push service account"
        )
    issued_at, expires_at = claims.get("iat"), claims.get("exp")
    if not isinstance(issued_at, int) or not isinstance(expires_at, int):
        raise PushAuthError("push_token_invalid", "the push token has no iat/exp")
    if now > expires_at + CLOCK_SKEW_SECONDS:
        raise PushAuthError("push_token_expired", "the push token has expired")
    if issued_at > now + CLOCK_SKEW_SECONDS:
        raise PushAuthError("push_token_expired", "the push token is issued in the future")
    return PushIdentity(email, audience, issued_at, expires_at)


def parse_certificates(document: object) -> dict[str, RSAPublicKey]:
    """Google's v1 format `{kid: PEM certificate}` or a JWKS `{"keys": [...]}` (v3)."""
    if not isinstance(document, dict):
        raise ValueError("certificates are not a JSON object")
    found: dict[str, RSAPublicKey] = {}
    if isinstance(document.get("keys"), list):
        for jwk in document["keys"]:
            if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
                key = jwt.PyJWK(jwk).key
                if isinstance(key, RSAPublicKey):
                    found[jwk["kid"]] = key
        return found
    for key_id, pem in document.items():
        if isinstance(pem, str):
            public = x509.load_pem_x509_certificate(pem.encode("ascii")).public_key()
            if isinstance(public, RSAPublicKey):
                found[str(key_id)] = public
    return found


def _max_age(cache_control: str | None) -> float:
    matched = _MAX_AGE.search(cache_control or "")
    return float(matched.group(1)) if matched else _DEFAULT_MAX_AGE


class GoogleCertificates:
    """The signing certificates at `certs_url`, cached; fetched with httpx's async client."""

    def __init__(
        self, certs_url: str, *, timeout: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._url = certs_url
        self._timeout = timeout
        self._monotonic = monotonic
        self._keys: dict[str, RSAPublicKey] = {}
        self._expires_at = 0.0
        self._fetched_at: float | None = None

    async def for_key(self, key_id: str) -> Mapping[str, RSAPublicKey]:
        """The certificates, fetched again when stale or when `key_id` is new to them.

        Raises `PushAuthError("certs_unavailable")` when they cannot be had (the push is then
        refused with a 503, and Pub/Sub delivers it again later).
        """
        now = self._monotonic()
        stale = now >= self._expires_at
        unknown = key_id not in self._keys and (
            self._fetched_at is None or now - self._fetched_at >= _UNKNOWN_KEY_REFETCH_SECONDS
        )
        if stale or unknown:
            await self._fetch(now)
        return self._keys

    async def _fetch(self, now: float) -> None:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.get(self._url)
            response.raise_for_status()
            keys = parse_certificates(json.loads(response.content))
        except (httpx.HTTPError, ValueError) as exc:
            if self._keys and now < self._expires_at:
                return  # keep serving the fresh ones we have
            raise PushAuthError("certs_unavailable", "Google's signing certificates are unavailable") from exc
        self._keys = keys
        self._fetched_at = now
        self._expires_at = now + _max_age(response.headers.get("cache-control"))
