"""Which provider hosts a meeting: the admin's ordered routing rules, evaluated purely.

The config file's pydantic models are converted into these plain values once at start-up, so the
use cases evaluate routing without importing pydantic or the config loader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.domain.meeting import MeetingKind, ProviderName


@dataclass(frozen=True)
class RouteCondition:
    """What a rule asks of a meeting; `None` means "no condition on this", so an empty one matches all.

    Emails and domains are expected lower-cased (the config loader normalises them).
    """

    kind: MeetingKind | None = None
    organizers: tuple[str, ...] | None = None
    organizer_domains: tuple[str, ...] | None = None
    attendee_domains: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RouteRule:
    when: RouteCondition
    use: ProviderName
    fallback: ProviderName | None = None


@dataclass(frozen=True)
class RoutingTable:
    rules: tuple[RouteRule, ...]
    default: ProviderName


@dataclass(frozen=True)
class RouteChoice:
    """The chosen provider; `rule_index` is the matching rule's position, `None` for the default."""

    provider: ProviderName
    fallback: ProviderName | None
    rule_index: int | None


def choose_provider(
    routing: RoutingTable,
    *,
    kind: MeetingKind,
    organizer_email: str,
    attendee_emails: Sequence[str],
) -> RouteChoice:
    """First rule whose every condition holds wins; otherwise the default (which has no fallback)."""
    organizer = organizer_email.strip().lower()
    attendee_domains = [_domain_of(email) for email in attendee_emails]
    for index, rule in enumerate(routing.rules):
        if _matches(rule.when, kind, organizer, attendee_domains):
            return RouteChoice(rule.use, rule.fallback, index)
    return RouteChoice(routing.default, None, None)


def _matches(when: RouteCondition, kind: MeetingKind, organizer: str, attendee_domains: list[str]) -> bool:
    if when.kind is not None and when.kind is not kind:
        return False
    if when.organizers is not None and organizer not in when.organizers:
        return False
    if when.organizer_domains is not None and not _in_domains(_domain_of(organizer), when.organizer_domains):
        return False
    return when.attendee_domains is None or any(
        _in_domains(domain, when.attendee_domains) for domain in attendee_domains
    )


def _domain_of(email: str) -> str:
    _, at, domain = email.strip().lower().rpartition("@")
    return domain if at else ""


def _in_domains(domain: str, domains: Sequence[str]) -> bool:
    """A subdomain counts as its parent: `eu.acme.com` is in `acme.com`, `notacme.com` is not."""
    if not domain:
        return False
    return any(domain == d or domain.endswith("." + d) for d in domains)
