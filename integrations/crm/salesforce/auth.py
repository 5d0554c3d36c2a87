"""Getting a Salesforce access token: OAuth client credentials, or a JWT bearer assertion.

Client credentials post `client_id` and `client_secret` to `<My Domain>/services/oauth2/token`.
The JWT bearer flow posts an RS256 assertion signed with the private key whose certificate the
admin uploaded to the connected app: `iss` the consumer key, `sub` the run-as username, `aud` the
login host (`https://login.salesforce.com`, `https://test.salesforce.com` for sandboxes), `exp` a
few minutes ahead. Both answers carry `access_token` and `instance_url` (the API host to use).
No `expires_in` is sent: a token is used until a call answers 401, then fetched again once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import httpx
import jwt

from integrations.crm.salesforce.errors import SalesforceAuthError, SalesforceUnavailable, token_error

JWT_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Salesforce refuses an assertion whose exp is more than 3 minutes ahead.
JWT_LIFETIME_SECONDS = 170


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    instance_url: str


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str = field(repr=False)

    def form(self) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }


@dataclass(frozen=True)
class JwtBearer:
    """The connected app's consumer key, the run-as user, and the PEM private key (from a key file)."""

    consumer_key: str
    username: str
    audience: str
    private_key_pem: bytes = field(repr=False)
    now: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    def form(self) -> dict[str, str]:
        issued = int(self.now())
        claims = {"iss": self.consumer_key, "sub": self.username, "aud": self.audience}
        assertion = jwt.encode(
            {**claims, "exp": issued + JWT_LIFETIME_SECONDS}, self.private_key_pem, "RS256"
        )
        return {"grant_type": JWT_GRANT_TYPE, "assertion": assertion}


class Grant(Protocol):
    def form(self) -> dict[str, str]: ...


def fetch_token(http: httpx.Client, token_url: str, grant: Grant) -> AccessToken:
    """One token request; a refusal is a SalesforceAuthError, a 5xx or no answer SalesforceUnavailable."""
    try:
        form = grant.form()
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        # An unreadable key file: say so without showing any of it.
        raise SalesforceAuthError(f"cannot sign the JWT assertion ({type(exc).__name__})") from None
    try:
        response = http.post(token_url, data=form, headers={"accept": "application/json"})
    except httpx.HTTPError as exc:
        raise SalesforceUnavailable(f"token endpoint unreachable ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise token_error(response)
    try:
        body = response.json()
        token, instance_url = body["access_token"], body["instance_url"]
    except (ValueError, KeyError, TypeError):
        raise SalesforceUnavailable("token endpoint answered without access_token and instance_url") from None
    if not isinstance(token, str) or not isinstance(instance_url, str) or not token:
        raise SalesforceUnavailable("token endpoint answered an unreadable token")
    return AccessToken(token, instance_url.rstrip("/"))
