"""Keys the Google emulator makes at run time (none is ever committed).

- The service account's RSA key: its JSON key file is what salesmeet is given; the token endpoint
  verifies assertions against its public half.
- The "Google" key that signs Pub/Sub push OIDC tokens; its self-signed certificate is served in
  Google's v1 certs format (`{kid: PEM certificate}`).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt
from google.auth import jwt as google_jwt

GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # noqa: S105 - an audience, not a secret


def _new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _self_signed_pem(key: rsa.RSAPrivateKey, common_name: str) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    """An RSA key with its key id and its self-signed certificate (PEM)."""

    key_id: str
    private_pem: str = field(repr=False)
    certificate_pem: str

    @classmethod
    def generate(cls, common_name: str) -> SigningKey:
        key = _new_rsa_key()
        return cls(secrets.token_hex(20), _private_pem(key), _self_signed_pem(key, common_name))

    def sign(self, claims: dict[str, Any]) -> str:
        signer = crypt.RSASigner.from_string(self.private_pem, self.key_id)  # type: ignore[no-untyped-call]
        token: bytes = google_jwt.encode(signer, claims)  # type: ignore[no-untyped-call]
        return token.decode("ascii")

    def verify(self, token: str, audience: str | None = None) -> dict[str, Any]:
        """The claims of a token this key signed (signature, exp and iat checked); ValueError if not."""
        claims: dict[str, Any] = google_jwt.decode(  # type: ignore[no-untyped-call]
            token, certs={self.key_id: self.certificate_pem}, audience=audience, clock_skew_in_seconds=0
        )
        return claims


@dataclass(frozen=True)
class ServiceAccount:
    """A service account of the emulated Google Cloud project, with one key."""

    email: str
    key: SigningKey
    client_id: str
    project_id: str

    @classmethod
    def generate(cls, project_id: str = "salesmeet-sandbox", name: str = "salesmeet") -> ServiceAccount:
        email = f"{name}@{project_id}.iam.gserviceaccount.com"
        return cls(email, SigningKey.generate(email), str(secrets.randbelow(10**20)), project_id)

    def key_file(self, token_uri: str) -> dict[str, str]:
        """The JSON key file Google hands out for this account, its `token_uri` pointed at the emulator."""
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.key.key_id,
            "private_key": self.key.private_pem,
            "client_email": self.email,
            "client_id": self.client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        }

    def key_file_json(self, token_uri: str) -> str:
        return json.dumps(self.key_file(token_uri), indent=2)
