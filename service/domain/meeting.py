"""The common meeting model: what the CRM asks for and what any provider hosts.

Pure values: no web framework, ORM or provider SDK. Every datetime is timezone-aware UTC.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


class ProviderName(str):
    """A provider's name as its plugin registers it (`zoom`, `teams`, `meet`, ...).

    An open set: adding a provider adds a plugin, not a member here. Names are interned, so
    `ProviderName("zoom") is ProviderName.ZOOM`, and `.value` reads as it did on an enum.
    """

    __slots__ = ()
    _interned: ClassVar[dict[str, ProviderName]] = {}
    _PATTERN: ClassVar[re.Pattern[str]] = re.compile(r"[a-z][a-z0-9_]{1,15}")

    ZOOM: ClassVar[ProviderName]
    TEAMS: ClassVar[ProviderName]
    MEET: ClassVar[ProviderName]

    def __new__(cls, value: str) -> ProviderName:
        found = cls._interned.get(value)
        if found is not None:
            return found
        if not isinstance(value, str) or not cls._PATTERN.fullmatch(value):
            raise ValueError(f"not a provider name: {value!r}")
        created = super().__new__(cls, value)
        return cls._interned.setdefault(value, created)

    @property
    def value(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"ProviderName({self.value!r})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: object, handler: object) -> object:
        """How pydantic validates it (a plain string, checked and interned); imported here so the
        domain itself depends on no library."""
        from pydantic_core import core_schema  # noqa: PLC0415

        return core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema(), serialization=core_schema.to_string_ser_schema()
        )


ProviderName.ZOOM = ProviderName("zoom")
ProviderName.TEAMS = ProviderName("teams")
ProviderName.MEET = ProviderName("meet")


class MeetingKind(StrEnum):
    INTERNAL = "internal"
    CUSTOMER = "customer"


class MeetingStatus(StrEnum):
    SCHEDULED = "scheduled"
    STARTED = "started"
    ENDED = "ended"
    CANCELLED = "cancelled"
    FAILED = "failed"


class Classification(StrEnum):
    INTERNAL = "internal"
    EXTERNAL = "external"
    UNIDENTIFIED = "unidentified"


class InvalidTimezone(ValueError):
    """The name is not an IANA time zone known to this machine's tz database."""


# Files in the tz database that name no place: the machine's own zone (whatever it is set to)
# and tzdb's "local time is not configured" placeholder.
_NOT_PLACES = frozenset({"localtime", "Factory"})


@functools.cache
def _zone_names() -> frozenset[str]:
    """The IANA names of this machine's tz database, read once (listing it walks the disk).

    ZoneInfo itself opens any file under the zoneinfo directories, which lets through names no
    other system knows (`posixrules`, `right/UTC`); membership here does not.
    """
    return frozenset(available_timezones() - _NOT_PLACES)


def parse_timezone(name: str) -> ZoneInfo:
    """Return the zone for an IANA name (UTC and Etc/* included); refuse anything else."""
    if name not in _zone_names():
        raise InvalidTimezone(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # listed, but its file is unreadable
        raise InvalidTimezone(f"unknown time zone {name!r}") from exc


# The instants salesmeet accepts from anyone (API callers and providers alike). Far outside any
# meeting's life they are input mistakes, and near datetime's limits arithmetic on them overflows.
EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(2200, 1, 1, tzinfo=UTC)


class InstantOutOfRange(ValueError):
    """An instant before 1970 or after 2200."""


def check_instant(moment: datetime) -> datetime:
    """Return an aware `moment` unchanged when it lies in 1970..2200, else raise InstantOutOfRange.

    Compares without converting: converting 0001-01-01T00:00+14:00 to UTC itself overflows.
    """
    if not EARLIEST_INSTANT <= moment <= LATEST_INSTANT:
        raise InstantOutOfRange(f"must be between {EARLIEST_INSTANT.year} and {LATEST_INSTANT.year}")
    return moment


def require_utc(moment: datetime) -> datetime:
    """Normalise an aware datetime to UTC; a naive one is a programming error."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: every instant must carry its offset")
    return moment.astimezone(ZoneInfo("UTC"))


# The longest values salesmeet stores: whatever the source, a longer one is cut or refused first.
MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 300
MAX_TITLE_LENGTH = 300
MAX_ID_LENGTH = 200


def normalise_email(email: str) -> str:
    """The one form in which an e-mail address is stored and compared: trimmed and lower-cased.

    Lower-casing can lengthen a string ("İ" becomes "i" plus a combining dot), so a length limit
    holds only when it is checked on this form, never on the address as sent.
    """
    return email.strip().lower()


def storable_email(email: str) -> str | None:
    """The stored form of an address from a provider, or None when no column could hold it (a NUL,
    or over MAX_EMAIL_LENGTH once normalised): the participant is then known by its id instead."""
    normalised = normalise_email(email)
    if not normalised or "\x00" in normalised or len(normalised) > MAX_EMAIL_LENGTH:
        return None
    return normalised


def display_text(text: str, limit: int) -> str:
    """Free text from a provider (a name, a topic) as stored: NULs removed, trimmed, cut to `limit`."""
    return text.replace("\x00", "").strip()[:limit]


@dataclass(frozen=True)
class CompanyDomains:
    """The company's own e-mail domains; a subdomain of one counts as internal too."""

    domains: tuple[str, ...]

    @classmethod
    def of(cls, domains: Iterable[str]) -> CompanyDomains:
        return cls(tuple(sorted({d.strip().lower().lstrip("@").rstrip(".") for d in domains if d.strip()})))

    def is_internal(self, email: str) -> bool:
        _, at, domain = normalise_email(email).rpartition("@")
        if not at or not domain:
            return False
        return any(domain == d or domain.endswith("." + d) for d in self.domains)

    def classify(self, email: str | None) -> Classification:
        if not email:
            return Classification.UNIDENTIFIED
        return Classification.INTERNAL if self.is_internal(email) else Classification.EXTERNAL


@dataclass(frozen=True)
class Person:
    email: str
    name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", normalise_email(self.email))


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str | None
    required: bool
    classification: Classification
    # The attendee's registration on the provider, when it registers attendees (Zoom): the id its
    # events and report name them by, and their personal join link.
    registrant_id: str | None = None
    join_url: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", normalise_email(self.email))


@dataclass(frozen=True)
class ExternalRef:
    system: str
    id: str


def classify_attendees(
    people: Sequence[tuple[str, str | None, bool]], company: CompanyDomains
) -> tuple[Attendee, ...]:
    """Classify (email, name, required) triples, keeping the first of any repeated address."""
    seen: set[str] = set()
    attendees: list[Attendee] = []
    for email, name, required in people:
        key = normalise_email(email)
        if key in seen:
            continue
        seen.add(key)
        attendees.append(Attendee(key, name, required, company.classify(key)))
    return tuple(attendees)


def derive_kind(attendees: Iterable[Attendee]) -> MeetingKind:
    """Any attendee outside the company's domains makes it a customer meeting."""
    if any(a.classification is Classification.EXTERNAL for a in attendees):
        return MeetingKind.CUSTOMER
    return MeetingKind.INTERNAL


MAX_MEETING_MINUTES = 24 * 60


def minutes_between(start: datetime, end: datetime) -> int:
    """A meeting's length from its start and end; ValueError when that is not a valid length."""
    length = end - start
    if length <= timedelta(0):
        raise ValueError("end must be after start")
    if length % timedelta(minutes=1):
        raise ValueError("the meeting length must be a whole number of minutes")
    minutes = int(length / timedelta(minutes=1))
    if minutes > MAX_MEETING_MINUTES:
        raise ValueError(f"a meeting lasts at most {MAX_MEETING_MINUTES} minutes")
    return minutes


# A discovered meeting lasts as long as its events say, so its length is bounded only by the span
# of accepted instants; with its start in that span its end stays far from datetime's limits.
_LONGEST_SCHEDULE_MINUTES = int((LATEST_INSTANT - EARLIEST_INSTANT) / timedelta(minutes=1))


@dataclass(frozen=True)
class Schedule:
    """When a meeting is planned: a UTC instant, a length, and the zone it is shown in."""

    start: datetime
    duration_minutes: int
    timezone: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", require_utc(check_instant(self.start)))
        parse_timezone(self.timezone)
        if self.duration_minutes <= 0:
            raise ValueError("duration_minutes must be positive")
        # Checked here so that `end` is total: a schedule that exists always has an end.
        if self.duration_minutes > _LONGEST_SCHEDULE_MINUTES:
            raise ValueError(f"duration_minutes must be at most {_LONGEST_SCHEDULE_MINUTES}")

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.duration_minutes)

    def local_start(self) -> datetime:
        return self.start.astimezone(parse_timezone(self.timezone))


@dataclass(frozen=True)
class ProviderAttempt:
    """One provider tried for a meeting and why it was left (recorded when a fallback switched)."""

    provider: ProviderName
    error_code: str
    message: str


class Completeness(StrEnum):
    LIVE = "live"
    RECONCILED = "reconciled"
    PARTIAL = "partial"


class MeetingOrigin(StrEnum):
    API = "api"
    PROVIDER = "provider"


@dataclass(frozen=True)
class Meeting:
    """A meeting as salesmeet knows it: the CRM's draft plus what the provider made of it."""

    id: str
    origin: MeetingOrigin
    title: str
    agenda: str | None
    kind: MeetingKind
    kind_derived: bool
    schedule: Schedule
    organizer: Person
    attendees: tuple[Attendee, ...]
    external_ref: ExternalRef | None
    provider: ProviderName | None
    provider_meeting_id: str | None
    # None: the meeting spans every instance the provider runs under its id (scheduled here);
    # else the one instance it is (a meeting seen only in the provider's events).
    provider_instance: str | None
    provider_extra: dict[str, str]
    join_url: str | None
    start_url: str | None
    status: MeetingStatus
    attempts: tuple[ProviderAttempt, ...]
    actual_start: datetime | None
    actual_end: datetime | None
    completeness: Completeness
    completeness_reason: str | None
    created_at: datetime
    updated_at: datetime
