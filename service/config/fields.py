"""Field types shared by the config schema and the providers' config sections.

Each type validates and normalises one kind of value (an e-mail, a domain, an endpoint URL) and
fails with a message fit for an admin; values that may hold secrets are never echoed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qsl, urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, ValidationInfo
from pydantic_core import PydanticCustomError

from service.domain.meeting import InvalidTimezone, parse_timezone


def config_error(kind: str, message: str, **context: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message, context or None)


_EMAIL = re.compile(r"[^@\s]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+")
_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+")
_SHA256_KEY_HASH = re.compile(r"sha256:[0-9a-f]{64}")
_BARE_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
_PUBSUB_TOPIC = re.compile(r"projects/[^/\s]+/topics/[^/\s]+")
_CURRENCY = re.compile(r"[A-Z]{3}")
# Query parameters that carry credentials (`?client_secret=`, `?access_token=`, `?sig=`, `?apikey=`).
_SECRET_QUERY_NAME = re.compile(
    r"secret|token|password|passwd|apikey|api_key|^key$|^sig$|signature|credential", re.I
)


def _email(value: str) -> str:
    email = value.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise config_error("email", "not an e-mail address: {value}", value=repr(value))
    return email


def _domain(value: str) -> str:
    domain = value.strip().lower().lstrip("@").rstrip(".")
    if not _DOMAIN.fullmatch(domain):
        raise config_error("domain", "not a domain name: {value}", value=repr(value))
    return domain


def _http_url(value: str) -> str:
    # The value is not echoed: a URL may carry credentials someone pasted by mistake.
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value.strip():
        raise config_error("http_url", "must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise config_error(
            "url_credentials", "must not carry credentials; secrets are not read from the config file"
        )
    if any(_SECRET_QUERY_NAME.search(name) for name, _ in parse_qsl(parts.query, keep_blank_values=True)):
        raise config_error(
            "url_credentials",
            "must not carry a secret in its query string; secrets are not read from the config file",
        )
    return value.strip()


def _public_url(value: str) -> str:
    url = _http_url(value)
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise config_error("public_url", "must be a base URL without query or fragment")
    # Stored without the trailing slash so callers can append "/webhooks/zoom" safely.
    return url.rstrip("/")


def _timezone(value: str) -> str:
    try:
        parse_timezone(value)
    except InvalidTimezone as exc:
        raise config_error(
            "timezone", "{reason} (expected an IANA name like 'Europe/Berlin')", reason=str(exc)
        ) from exc
    return value


def _one_or_many(value: object) -> object:
    """`organizer: ann@acme.com` is read as a one-item list; it cannot mean anything else."""
    return [value] if isinstance(value, str) else value


def _api_key_hash(value: str) -> str:
    # Never echo the value: if it is a plain key, echoing it would leak it into logs.
    if _SHA256_KEY_HASH.fullmatch(value):
        return value
    if _BARE_HEX_DIGEST.fullmatch(value.strip()):
        raise config_error(
            "api_key_hash", "missing the 'sha256:' prefix; write it as 'sha256:<64 lowercase hex>'"
        )
    if value.startswith("sha256:"):
        raise config_error("api_key_hash", "must be 'sha256:' followed by 64 lowercase hex digits")
    raise config_error(
        "plain_api_key",
        "looks like a plain API key: the config file holds only its hash, 'sha256:<64 lowercase hex>' "
        "(`salesmeet api-key new` prints the line to paste); the value is not shown here",
    )


def _pubsub_topic(value: str) -> str:
    if not _PUBSUB_TOPIC.fullmatch(value.strip()):
        raise config_error("pubsub_topic", "must look like 'projects/<project>/topics/<topic>'")
    return value.strip()


def _currency(value: str) -> str:
    code = value.strip().upper()
    if not _CURRENCY.fullmatch(code):
        raise config_error("currency", "must be a three-letter ISO 4217 code such as 'USD'")
    return code


def _existing_file(value: Path, info: ValidationInfo) -> Path:
    """Relative paths are relative to the config file, so the file means the same from any cwd."""
    path = value.expanduser()
    base_dir = info.context.get("base_dir") if isinstance(info.context, dict) else None
    if not path.is_absolute() and isinstance(base_dir, Path):
        path = base_dir / path
    if not path.is_file():
        raise config_error("file_not_found", "no such file: {path}", path=str(path))
    return path


Email = Annotated[str, AfterValidator(_email)]
Domain = Annotated[str, AfterValidator(_domain)]
HttpEndpoint = Annotated[str, AfterValidator(_http_url)]
NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
EmailList = Annotated[tuple[Email, ...], BeforeValidator(_one_or_many), Field(min_length=1)]
DomainList = Annotated[tuple[Domain, ...], BeforeValidator(_one_or_many), Field(min_length=1)]
PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Money = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PublicUrl = Annotated[str, AfterValidator(_public_url)]
Timezone = Annotated[str, AfterValidator(_timezone)]
ApiKeyHash = Annotated[str, AfterValidator(_api_key_hash)]
PubsubTopic = Annotated[str, AfterValidator(_pubsub_topic)]
Currency = Annotated[str, AfterValidator(_currency)]
ExistingFile = Annotated[Path, AfterValidator(_existing_file)]
