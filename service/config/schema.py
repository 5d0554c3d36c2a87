"""The config file's schema: pydantic models, one per section, with the providers' sections taken
from the plugin registry.

`config_model(registry)` is the schema for a set of provider plugins (the default registry, or one
a test extends); `AppConfig` is its base type, which the rest of the service reads.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any, cast

from pydantic import BeforeValidator, Field, ValidationInfo, create_model
from pydantic_core import PydanticCustomError

from integrations.crm.plugin import CrmSection
from integrations.registry import DEFAULT_PLUGINS, PluginRegistry
from service.config.fields import (
    ApiKeyHash,
    Currency,
    DomainList,
    Email,
    EmailList,
    Money,
    NonEmptyText,
    PositiveSeconds,
    PublicUrl,
    Timezone,
    config_error,
)
from service.config.sections import ProviderSection, Section
from service.domain.meeting import CompanyDomains, MeetingKind, ProviderName
from service.domain.routing import RouteCondition, RouteRule, RoutingTable


def registry_in(info: ValidationInfo | None) -> PluginRegistry:
    """The registry the config is validated against (passed as validation context)."""
    context = info.context if info is not None else None
    found = context.get("registry") if isinstance(context, dict) else None
    return found if isinstance(found, PluginRegistry) else DEFAULT_PLUGINS


def _known_provider(value: object, info: ValidationInfo) -> ProviderName:
    registry = registry_in(info)
    if isinstance(value, str):
        name = value.strip().lower()
        if name in registry.names():
            return ProviderName(name)
    raise unknown_provider_error(value)


def unknown_provider_error(value: object) -> PydanticCustomError:
    return config_error("unknown_provider", "unknown provider {name}", name=repr(value))


Provider = Annotated[ProviderName, BeforeValidator(_known_provider)]


class ProvidersConfig(Section):
    """`providers:`, one optional section per registered plugin (see `config_model`)."""

    def sections(self) -> Iterator[tuple[ProviderName, ProviderSection]]:
        """Every section present, in registry order."""
        for key in type(self).model_fields:
            section = getattr(self, key)
            if isinstance(section, ProviderSection):
                yield ProviderName(key), section

    def section(self, name: ProviderName) -> ProviderSection | None:
        found = getattr(self, name.value, None)
        return found if isinstance(found, ProviderSection) else None


class CrmsConfig(Section):
    """`crm:`, one optional section per registered CRM plugin (see `config_model`)."""

    def sections(self) -> Iterator[tuple[str, CrmSection]]:
        for key in type(self).model_fields:
            section = getattr(self, key)
            if isinstance(section, CrmSection):
                yield key, section

    def section(self, name: str) -> CrmSection | None:
        found = getattr(self, name, None)
        return found if isinstance(found, CrmSection) else None


class HourlyCostConfig(Section):
    default: Money = 0.0
    currency: Currency = "USD"
    overrides: dict[Email, Money] = Field(default_factory=dict)


class CompanyConfig(Section):
    name: NonEmptyText
    internal_domains: DomainList
    min_attendance_seconds: int = Field(60, ge=0)
    timezone: Timezone = "UTC"
    hourly_cost: HourlyCostConfig = Field(default_factory=HourlyCostConfig)


class RouteWhenConfig(Section):
    """Every condition given must hold; an empty `when` matches every meeting."""

    kind: MeetingKind | None = None
    organizer: EmailList | None = None
    organizer_domain: DomainList | None = None
    attendee_domain: DomainList | None = None


def _none_as_empty(value: object) -> object:
    return {} if value is None else value


class RouteRuleConfig(Section):
    when: Annotated[RouteWhenConfig, BeforeValidator(_none_as_empty)] = Field(default_factory=RouteWhenConfig)
    use: Provider
    fallback: Provider | None = None

    def to_rule(self) -> RouteRule:
        condition = RouteCondition(
            kind=self.when.kind,
            organizers=self.when.organizer,
            organizer_domains=self.when.organizer_domain,
            attendee_domains=self.when.attendee_domain,
        )
        return RouteRule(when=condition, use=self.use, fallback=self.fallback)


class RoutingConfig(Section):
    rules: tuple[RouteRuleConfig, ...] = ()
    default: Provider

    def to_table(self) -> RoutingTable:
        return RoutingTable(rules=tuple(rule.to_rule() for rule in self.rules), default=self.default)


class ApiKeyScope(StrEnum):
    CRM = "crm"
    REPORTS = "reports"
    ADMIN = "admin"


def hash_api_key(plain_key: str) -> str:
    """The form an API key is stored in: `sha256:<hex of the key>`."""
    return "sha256:" + hashlib.sha256(plain_key.encode("utf-8")).hexdigest()


class ApiKeyConfig(Section):
    name: NonEmptyText
    scope: ApiKeyScope
    hash: ApiKeyHash


class WorkerConfig(Section):
    poll_interval_seconds: PositiveSeconds = 0.5
    batch_size: int = Field(100, ge=1)
    max_attempts: int = Field(8, ge=1)
    reconcile_sweep_interval_seconds: PositiveSeconds = 300.0
    # How often push subscriptions are checked (created, renewed well before expiry, recreated).
    subscription_check_interval_seconds: PositiveSeconds = 300.0


class AppConfig(Section):
    public_url: PublicUrl
    company: CompanyConfig
    providers: ProvidersConfig = Field(default_factory=ProvidersConfig)
    crm: CrmsConfig = Field(default_factory=CrmsConfig)
    routing: RoutingConfig
    api_keys: tuple[ApiKeyConfig, ...] = ()
    worker: WorkerConfig = Field(default_factory=WorkerConfig)

    def company_domains(self) -> CompanyDomains:
        return CompanyDomains.of(self.company.internal_domains)

    def hourly_cost_for(self, email: str) -> float:
        """The person's override when there is one, else the company default."""
        return self.company.hourly_cost.overrides.get(email.strip().lower(), self.company.hourly_cost.default)

    def provider_config(self, name: ProviderName) -> ProviderSection | None:
        return self.providers.section(name)

    def enabled_providers(self) -> list[ProviderName]:
        return [name for name, section in self.providers.sections() if section.enabled]

    def enabled_crms(self) -> list[str]:
        return [name for name, section in self.crm.sections() if section.enabled]

    def routing_table(self) -> RoutingTable:
        return self.routing.to_table()

    def url_for(self, path: str) -> str:
        """An absolute URL under `public_url`, e.g. `url_for("/webhooks/zoom")`."""
        return f"{self.public_url}/{path.lstrip('/')}"


@functools.cache
def config_model(registry: PluginRegistry = DEFAULT_PLUGINS) -> type[AppConfig]:
    """The schema for a set of plugins: `providers.<name>` is each plugin's own section model."""
    fields: dict[str, Any] = {plugin.name.value: (plugin.config_model | None, None) for plugin in registry}
    providers = create_model("ProvidersConfig", __base__=ProvidersConfig, **fields)
    crm_fields: dict[str, Any] = {crm.name: (crm.config_model | None, None) for crm in registry.crms}
    crms = create_model("CrmsConfig", __base__=CrmsConfig, **crm_fields)
    model = create_model(
        "AppConfig",
        __base__=AppConfig,
        providers=(providers, Field(default_factory=providers)),
        crm=(crms, Field(default_factory=crms)),
    )
    return cast(type[AppConfig], model)
