"""The provider plugin seam: everything salesmeet needs to know about one provider, in one object.

Each provider is one package (`integrations/<name>/`) exporting one `ProviderPlugin`, listed once
in `integrations/registry.py`. The config schema, secrets, composition root, webhook routes,
worker, admin endpoint, CLI and metrics all loop over the registry; none of them names a provider.

The rule for webhooks: a provider's wire format (its adapter, its webhook verification and its
normalisation) lives in its own package; `webhooks/` only receives (it routes a request to the
provider's check, stores what the check accepts in the inbox, bounds bodies and counts).

A verified delivery becomes attendance in up to three stages:

    1. store    the receiver stores the raw delivery once the plugin's check accepts it (hot path)
    2. resolve  only for deliveries accepted with `needs_resolution`: the worker calls the plugin's
                `NotificationResolver` outside every database transaction (Graph and Workspace
                Events notifications carry resource names to fetch) and stores the events it returns
    3. apply    the events (decoded by the plugin's `EventDecoder`, or stored by stage 2) become
                attendance, idempotently
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Generic, Protocol, TypeVar
from urllib.parse import parse_qsl

from integrations.base import MeetingProvider, SubscriptionManager
from service.config.sections import ProviderSection
from service.domain.events import AttendanceEvent
from service.domain.meeting import ProviderName

SectionT = TypeVar("SectionT", bound=ProviderSection)


@dataclass(frozen=True)
class SecretSpec:
    """A secret the provider reads from the environment, as `SALESMEET_<NAME>` (or a secrets file).

    `yaml_keys` are keys an admin might wrongly write under `providers.<name>` for it; the config
    checker then names this secret's variable.
    """

    name: str
    yaml_keys: tuple[str, ...] = ()

    @property
    def env_var(self) -> str:
        return f"SALESMEET_{self.name.upper()}"


# --------------------------------------------------------------------------------------------------
# Webhooks: what a provider's check decides about one request


@dataclass(frozen=True)
class WebhookRequest:
    """A webhook request as the receiver read it: the raw body, the headers the endpoint keeps
    (lower-case names, the first of each wins) and the raw query string."""

    body: bytes
    headers: Mapping[str, str]
    query_string: bytes = b""

    def query(self) -> dict[str, str]:
        """The decoded query parameters (the first of each name wins)."""
        found: dict[str, str] = {}
        for name, value in parse_qsl(self.query_string.decode("latin-1"), keep_blank_values=True):
            found.setdefault(name, value)
        return found


@dataclass(frozen=True)
class Reject:
    """Not provably from the provider (401), or not a request the endpoint takes (400).

    The answer is the API's JSON error, unless `body` is given: a sender that only reads its own
    format (Salesforce reads a SOAP fault) gets that instead.
    """

    status: int
    code: str
    message: str
    body: bytes | None = None
    content_type: str = "application/json"


@dataclass(frozen=True)
class Answer:
    """Answer at once and store nothing: a handshake the provider expects a reply to."""

    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Accept:
    """Verified: store the delivery, then answer `status`.

    `delivery_key` identifies the delivery across the provider's retries (at most 128 characters).
    `needs_resolution` sends it through the plugin's resolver before it is applied.
    `reply` is the body answered once the delivery is durable (Salesforce's `Ack`); none by default.
    `stored_body` is kept instead of the raw body when the raw one carries a credential.
    """

    delivery_key: str
    needs_resolution: bool = False
    status: int = 200
    reply: bytes | None = None
    reply_content_type: str = "application/json"
    stored_body: bytes | None = None


WebhookVerdict = Reject | Answer | Accept
WebhookCheck = Callable[[WebhookRequest], Awaitable[WebhookVerdict]]


@dataclass(frozen=True)
class WebhookEndpoint:
    """One POST endpoint of a provider: its path, the headers worth keeping, and its check.

    The check runs first on every request, before anything is stored; it must not block the
    event loop (network lookups, such as fetching signing certificates, go through a cache).
    """

    path: str
    check: WebhookCheck
    # The headers the check reads (lower-case); the rest are never decoded.
    kept_headers: frozenset[str] = frozenset()
    reads_query: bool = False
    # Kept headers that are credentials (a bearer token): the check reads them, the inbox never stores them.
    credential_headers: frozenset[str] = frozenset()


# --------------------------------------------------------------------------------------------------
# From a stored delivery to events

EventDecoder = Callable[[bytes], list[AttendanceEvent]]
"""A delivery that carries its own events becomes them: pure, no I/O. Raises
`UndecodableDelivery` for a payload that can never be read (it is parked at once)."""


class NotificationResolver(Protocol):
    """Fetches what a notification refers to and returns the events it means.

    Runs on a worker thread outside every database transaction. A `ProviderError` that is
    retryable is retried with backoff (then parked after `worker.max_attempts`); one that is not,
    or `UndecodableDelivery`, parks the delivery at once.
    """

    def resolve(self, body: bytes, headers: Mapping[str, str]) -> list[AttendanceEvent]: ...


# --------------------------------------------------------------------------------------------------
# Building a provider


@dataclass(frozen=True)
class ProviderContext(Generic[SectionT]):
    """What a plugin's `build` gets: its section (endpoints already pointed at the emulator in
    sandbox mode), its secrets, and the service-wide facts providers need."""

    section: SectionT
    secrets: Mapping[str, str]
    public_url: str
    internal_domains: tuple[str, ...]
    clock: Callable[[], datetime]
    # Where the provider reaches the webhooks: `public_url`, or in sandbox mode the address `serve`
    # listens on (the emulator runs beside it).
    webhook_base_url: str | None = None

    def secret(self, name: str) -> str:
        """A declared secret; the composition root checked that every declared secret is set."""
        return self.secrets[name]

    def url_for(self, path: str) -> str:
        return f"{self.public_url.rstrip('/')}/{path.lstrip('/')}"

    def webhook_url(self, path: str) -> str:
        """The URL a provider is told to push to (subscriptions' notification URLs)."""
        return f"{(self.webhook_base_url or self.public_url).rstrip('/')}/{path.lstrip('/')}"


@dataclass
class ProviderParts:
    """A built provider: its adapter and whatever else it plugs in."""

    adapter: MeetingProvider
    webhooks: Sequence[WebhookEndpoint] = ()
    decoder: EventDecoder | None = None
    resolver: NotificationResolver | None = None
    subscriptions: SubscriptionManager | None = None
    # Releases what the parts hold (pooled connections); called when the service stops.
    close: Callable[[], None] | None = None


class RunningEmulator(Protocol):
    url: str

    def stop(self) -> None: ...


@dataclass(frozen=True)
class SandboxContext:
    """What a provider's emulator needs to stand in for the provider."""

    internal_domains: tuple[str, ...]
    # Organizers the routing rules name: licensed users of the emulated account, with the hosts
    # of every internal domain.
    organizers: tuple[str, ...]
    # Where the emulator sends its webhooks: the address `serve` listens on.
    webhook_base_url: str
    # Where sandbox credentials persist across restarts; None keeps them in memory.
    state_dir: Path | None = None
    # The provider's secrets the admin set in the environment: they win over generated ones.
    preset_secrets: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Sandbox:
    """A running emulator and what the adapter needs to talk to it instead of the provider."""

    emulator: RunningEmulator
    section_overrides: Mapping[str, object]
    secrets: Mapping[str, str]
    # The emulator itself (its state and player), for tests and `salesmeet demo`.
    handle: object = None


@dataclass(frozen=True)
class ProviderPlugin(Generic[SectionT]):
    """One provider, declared once.

    `build` is None for a provider whose config section exists but whose adapter does not yet:
    the service then refuses to start with it enabled.
    """

    name: ProviderName
    config_model: type[SectionT]
    secrets: tuple[SecretSpec, ...] = ()
    build: Callable[[ProviderContext[SectionT]], ProviderParts] | None = None
    start_sandbox: Callable[[SectionT, SandboxContext], Sandbox] | None = None

    def reconcile_delay(self, section: ProviderSection) -> timedelta:
        return timedelta(seconds=section.reconcile_delay_seconds)
