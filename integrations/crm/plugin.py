"""The CRM connector seam: everything salesmeet needs to know about one CRM, in one object.

Shaped like the provider seam (`integrations.plugin`). Each CRM is one package
(`integrations/crm/<name>/`) exporting one `CrmPlugin`, listed once in `integrations/crm/registry.py`.
The config schema (`crm.<name>`), secrets, composition root, webhook routes, worker, admin
endpoint and CLI loop over the registry; none of them names a CRM.

A CRM talks to salesmeet in three ways:

    inbound   `WebhookEndpoint`s (the provider seam's type): the plugin's check verifies the raw
              request (signature, timestamp, organisation id) and nothing unverified is stored;
              what it accepts is committed to `crm_deliveries` before the 2xx. The worker later
              reads each stored delivery with the plugin's `parse` (records, through the shared
              YAML mapping) and applies it with the schedule_meeting use case: create, reschedule
              in place or cancel, idempotent on the record id (`external_ref` {system: <crm>, id}).
    actions   `CrmActionEndpoint`s the CRM calls and waits on (HubSpot's video-conferencing
              extension asks for a join URL): verified the same way, then answered synchronously
              through `MeetingActions`.
    outbound  the plugin's `CrmWriter`: after reconciliation, and on cancellation, the outbox
              (`crm_outbox`) writes the measured outcome back onto the record, with backoff that
              honours the `CrmRateLimited.retry_after_seconds` the plugin read from the CRM.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from pydantic import Field

from integrations.crm.base import CrmRecord, CrmWriter
from integrations.crm.mapping import CrmMapping
from integrations.plugin import Sandbox, SandboxContext, SecretSpec, WebhookCheck, WebhookEndpoint
from service.config.fields import PositiveSeconds
from service.config.sections import Section

_CRM_NAME = re.compile(r"[a-z][a-z0-9_]{1,15}")


class CrmSection(Section):
    """Settings every CRM shares (`crm.<name>`); a CRM's own section derives from it."""

    enabled: bool = False
    sandbox: bool = False
    timeout_seconds: PositiveSeconds = 10.0
    mapping: CrmMapping = Field(default_factory=CrmMapping)
    # Outcomes are written back onto the record after reconciliation and on cancellation.
    write_back: bool = True
    # A write still failing after this many tries is parked (`salesmeet outbox replay` retries it).
    write_back_max_attempts: int = Field(30, ge=1)
    # Backoff between tries: doubling from 2 s up to this, unless the CRM said how long to wait.
    write_back_max_backoff_seconds: PositiveSeconds = 300.0

    @property
    def live(self) -> bool:
        return self.enabled and not self.sandbox


SectionT = TypeVar("SectionT", bound=CrmSection)

RecordParser = Callable[[bytes, Mapping[str, str]], list[CrmRecord]]
"""A stored delivery becomes the records it carries: pure, no I/O. Raises `UnreadableRecord`
for one that can never be read (it is parked)."""


@dataclass(frozen=True)
class ActionMeeting:
    meeting_id: str
    join_url: str | None


class ActionRefused(Exception):
    """A synchronous action the service refused: answered with `status` and a stable `code`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class MeetingActions(Protocol):
    """What an action endpoint may do, synchronously (raises `ActionRefused`)."""

    def create(self, record: CrmRecord, system: str) -> ActionMeeting: ...

    def update(self, meeting_id: str, record: CrmRecord) -> ActionMeeting: ...

    def cancel(self, meeting_id: str) -> None: ...

    def is_licensed(self, email: str) -> bool:
        """An organizer salesmeet can schedule for (an address in the internal domains)."""
        ...


@dataclass(frozen=True)
class ActionReply:
    status: int
    body: Mapping[str, object] | None = None


ActionHandler = Callable[[bytes, MeetingActions], ActionReply]


@dataclass(frozen=True)
class CrmActionEndpoint:
    """A POST the CRM waits on: `check` verifies it (an `Accept` is a pass), then `handle` runs on a
    worker thread and its reply is the answer. Nothing is stored but what the actions store."""

    path: str
    check: WebhookCheck
    handle: ActionHandler
    kept_headers: frozenset[str] = frozenset()
    reads_query: bool = False


@dataclass(frozen=True)
class CrmContext(Generic[SectionT]):
    """What a CRM plugin's `build` gets: its section, its secrets and the service-wide facts."""

    section: SectionT
    secrets: Mapping[str, str]
    public_url: str
    internal_domains: tuple[str, ...]
    clock: Callable[[], datetime]

    def secret(self, name: str) -> str:
        return self.secrets[name]

    def url_for(self, path: str) -> str:
        return f"{self.public_url.rstrip('/')}/{path.lstrip('/')}"


@dataclass
class CrmParts:
    """A built CRM: how its deliveries are read, its endpoints, and its write-back client."""

    parse: RecordParser
    inbound: Sequence[WebhookEndpoint] = ()
    actions: Sequence[CrmActionEndpoint] = ()
    writer: CrmWriter | None = None
    close: Callable[[], None] | None = None


@dataclass(frozen=True)
class CrmPlugin(Generic[SectionT]):
    """One CRM, declared once. `name` is its `external_ref.system` and its `crm.<name>` section."""

    name: str
    config_model: type[SectionT]
    build: Callable[[CrmContext[SectionT]], CrmParts]
    secrets: tuple[SecretSpec, ...] = ()
    start_sandbox: Callable[[SectionT, SandboxContext], Sandbox] | None = None
    # The names of the secrets a section needs (Salesforce's depend on its auth mode); all by default.
    needed_secrets: Callable[[SectionT], frozenset[str]] | None = None

    def required_secrets(self, section: SectionT) -> tuple[SecretSpec, ...]:
        """The secrets this section cannot run without; the others are passed on when set."""
        if self.needed_secrets is None:
            return self.secrets
        needed = self.needed_secrets(section)
        return tuple(spec for spec in self.secrets if spec.name in needed)

    def __post_init__(self) -> None:
        if not _CRM_NAME.fullmatch(self.name):
            raise ValueError(f"not a CRM name: {self.name!r} (lower-case letters, digits, _; 2 to 16)")
