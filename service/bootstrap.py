"""The composition root: config + environment in, a running service's parts out.

Every provider comes from the plugin registry (`integrations/registry.py`); nothing here names one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from integrations.base import MeetingProvider, ProviderError, SubscriptionManager
from integrations.crm.plugin import CrmActionEndpoint, CrmContext, CrmParts, CrmPlugin, CrmSection
from integrations.plugin import (
    EventDecoder,
    NotificationResolver,
    ProviderContext,
    ProviderParts,
    ProviderPlugin,
    Sandbox,
    SandboxContext,
    WebhookEndpoint,
)
from integrations.registry import DEFAULT_PLUGINS, PluginRegistry
from service.config.schema import AppConfig
from service.config.secrets import Settings, require_secret
from service.config.sections import ProviderSection
from service.domain.meeting import ProviderName
from service.storage import provider_status_repo
from service.storage.database import Database, create_database_engine
from service.usecases.crm_outbox import CrmOutbound, Outbox
from service.usecases.crm_sync import CrmInbound, CrmRecordApplier, SchedulerActions, apply_crm_deliveries
from service.usecases.provider_registry import ProviderRegistry
from service.usecases.record_attendance import AttendancePolicy, InstanceWindow
from service.usecases.schedule_meeting import MeetingScheduler
from service.usecases.services import Services
from service.worker import Worker
from webhooks.crm import CrmDeliveryStore
from webhooks.inbox import InboxWriter

log = structlog.get_logger("salesmeet.bootstrap")

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class StartupError(RuntimeError):
    """The service cannot start with this configuration; the message says what to change."""


@dataclass
class WiredProvider:
    """One enabled provider: its plugin, its effective section, what it built, and its emulator."""

    plugin: ProviderPlugin[Any]
    section: ProviderSection
    parts: ProviderParts
    sandbox: Sandbox | None = None


@dataclass
class WiredCrm:
    """One enabled CRM: its plugin, its effective section, what it built, and its emulator."""

    plugin: CrmPlugin[Any]
    section: CrmSection
    parts: CrmParts
    sandbox: Sandbox | None = None


@dataclass
class Runtime:
    config: AppConfig
    settings: Settings
    db: Database
    services: Services
    inbox: InboxWriter
    worker: Worker
    providers: dict[ProviderName, WiredProvider] = field(default_factory=dict)
    crms: dict[str, WiredCrm] = field(default_factory=dict)
    crm_store: CrmDeliveryStore | None = None
    meeting_actions: SchedulerActions | None = None
    outbox: Outbox | None = None

    def webhook_endpoints(self) -> list[tuple[str, WebhookEndpoint]]:
        return [(name.value, ep) for name, wired in self.providers.items() for ep in wired.parts.webhooks]

    def crm_webhook_endpoints(self) -> list[tuple[str, WebhookEndpoint]]:
        return [(name, ep) for name, wired in self.crms.items() for ep in wired.parts.inbound]

    def crm_action_endpoints(self) -> list[tuple[str, CrmActionEndpoint]]:
        return [(name, ep) for name, wired in self.crms.items() for ep in wired.parts.actions]

    def crm_sandbox_handle(self, name: str) -> object:
        """The running emulator of a sandboxed CRM (tests and the demo drive it)."""
        wired = self.crms.get(name)
        if wired is None or wired.sandbox is None:
            raise LookupError(f"CRM {name!r} is not running in sandbox mode")
        return wired.sandbox.handle

    def sandbox_handle(self, name: ProviderName) -> object:
        """The running emulator of a sandboxed provider (tests and the demo drive it)."""
        wired = self.providers.get(name)
        if wired is None or wired.sandbox is None:
            raise LookupError(f"provider {name.value!r} is not running in sandbox mode")
        return wired.sandbox.handle

    def close(self) -> None:
        self.worker.stop()
        for wired in self.providers.values():
            if wired.parts.close is not None:
                wired.parts.close()
            if wired.sandbox is not None:
                wired.sandbox.emulator.stop()
        for crm in self.crms.values():
            if crm.parts.close is not None:
                crm.parts.close()
            if crm.sandbox is not None:
                crm.sandbox.emulator.stop()
        self.db.dispose()


def build_runtime(
    config: AppConfig,
    settings: Settings,
    *,
    clock: Clock = _utc_now,
    sandbox_base_url: str | None = None,
    registry: PluginRegistry = DEFAULT_PLUGINS,
) -> Runtime:
    """Wire the service. `sandbox_base_url` is where the built-in emulators send their webhooks
    (the address `serve` listens on); by default the config's `public_url`."""
    wired: dict[ProviderName, WiredProvider] = {}
    crms: dict[str, WiredCrm] = {}
    try:
        for name in config.enabled_providers():
            wired[name] = _wire_provider(config, settings, registry, name, clock, sandbox_base_url)
        for crm_name in config.enabled_crms():
            crms[crm_name] = _wire_crm(config, settings, registry, crm_name, clock, sandbox_base_url)
    except BaseException:
        sandboxes = [w.sandbox for w in wired.values()] + [c.sandbox for c in crms.values()]
        for sandbox in sandboxes:
            if sandbox is not None:
                sandbox.emulator.stop()
        raise

    db = Database(create_database_engine(settings.database_url))

    def remember_error(name: ProviderName, exc: ProviderError) -> None:
        try:
            with db.write() as conn:
                provider_status_repo.record_error(conn, name.value, f"{exc.code}: {exc.message}", clock())
        except Exception as store_exc:  # never let bookkeeping hide the provider's own error
            log.warning("provider.status_not_recorded", provider=name.value, error=repr(store_exc))

    adapters: dict[ProviderName, tuple[MeetingProvider, int]] = {
        name: (w.parts.adapter, w.section.max_concurrency) for name, w in wired.items()
    }
    providers = ProviderRegistry(adapters, on_error=remember_error)
    scheduler = MeetingScheduler(db, providers, config.routing_table(), config.company_domains(), clock)
    policy = AttendancePolicy(
        company=config.company_domains(),
        min_attendance_seconds=config.company.min_attendance_seconds,
        timezone=config.company.timezone,
        reconcile_delays={name: w.plugin.reconcile_delay(w.section) for name, w in wired.items()},
        max_attempts=config.worker.max_attempts,
        instance_windows={
            name: InstanceWindow(
                before=timedelta(minutes=w.section.instance_window_before_minutes),
                after=timedelta(minutes=w.section.instance_window_after_minutes),
            )
            for name, w in wired.items()
        },
    )
    subscriptions: dict[ProviderName, SubscriptionManager] = {
        name: w.parts.subscriptions for name, w in wired.items() if w.parts.subscriptions is not None
    }
    services = Services(
        config=config,
        db=db,
        scheduler=scheduler,
        providers=providers,
        attendance_policy=policy,
        clock=clock,
        sandboxed=frozenset(name for name, w in wired.items() if w.sandbox is not None),
    )
    decoders: dict[str, EventDecoder] = {
        name.value: w.parts.decoder for name, w in wired.items() if w.parts.decoder is not None
    }
    resolvers: dict[str, NotificationResolver] = {
        name.value: w.parts.resolver for name, w in wired.items() if w.parts.resolver is not None
    }
    applier = CrmRecordApplier(db, scheduler, clock)
    inbound = {name: CrmInbound(name, c.parts.parse) for name, c in crms.items()}
    outbox = Outbox(
        db,
        {
            name: CrmOutbound(
                name,
                c.parts.writer,
                c.section.write_back_max_attempts,
                timedelta(seconds=c.section.write_back_max_backoff_seconds),
            )
            for name, c in crms.items()
            if c.parts.writer is not None and c.section.write_back
        },
        lambda meeting_id: config.url_for(f"/v1/meetings/{meeting_id}"),
        clock,
    )

    def apply_crm() -> int:
        if not inbound:
            return 0
        return apply_crm_deliveries(
            db,
            inbound,
            applier,
            clock(),
            batch_size=config.worker.batch_size,
            max_attempts=config.worker.max_attempts,
        )

    worker = Worker(
        db,
        providers,
        decoders,
        policy,
        jobs=(apply_crm, outbox.run_once),
        resolvers=resolvers,
        subscriptions=subscriptions,
        batch_size=config.worker.batch_size,
        poll_interval=config.worker.poll_interval_seconds,
        reconcile_interval=config.worker.reconcile_sweep_interval_seconds,
        subscription_interval=config.worker.subscription_check_interval_seconds,
        clock=clock,
    )
    inbox = InboxWriter(db, clock=clock)
    return Runtime(
        config,
        settings,
        db,
        services,
        inbox,
        worker,
        wired,
        crms,
        crm_store=CrmDeliveryStore(db, clock),
        meeting_actions=SchedulerActions(scheduler, config.company_domains()),
        outbox=outbox,
    )


def _wire_crm(
    config: AppConfig,
    settings: Settings,
    registry: PluginRegistry,
    name: str,
    clock: Clock,
    sandbox_base_url: str | None,
) -> WiredCrm:
    plugin = registry.crms.get(name)
    section = config.crm.section(name)
    if plugin is None or section is None:
        raise StartupError(f"crm.{name}: no such CRM plugin is registered")
    sandbox: Sandbox | None = None
    if section.sandbox:
        if plugin.start_sandbox is None:
            raise StartupError(f"crm.{name}: this CRM has no sandbox; set sandbox: false")
        preset = {
            spec.name: v.get_secret_value() for spec in plugin.secrets if (v := settings.secret(spec.name))
        }
        sandbox = plugin.start_sandbox(
            section, _sandbox_context(config, sandbox_base_url, settings.sandbox_state_dir(), preset)
        )
        section = section.model_copy(update=dict(sandbox.section_overrides))
        secrets = dict(sandbox.secrets)
    else:
        secrets = {
            spec.name: require_secret(settings, spec.name) for spec in plugin.required_secrets(section)
        }
        secrets.update(
            {spec.name: v.get_secret_value() for spec in plugin.secrets if (v := settings.secret(spec.name))}
        )
    context = CrmContext(
        section=section,
        secrets=secrets,
        public_url=config.public_url,
        internal_domains=tuple(config.company.internal_domains),
        clock=clock,
    )
    try:
        parts = plugin.build(context)
    except BaseException:
        if sandbox is not None:
            sandbox.emulator.stop()
        raise
    return WiredCrm(plugin, section, parts, sandbox)


def _wire_provider(
    config: AppConfig,
    settings: Settings,
    registry: PluginRegistry,
    name: ProviderName,
    clock: Clock,
    sandbox_base_url: str | None,
) -> WiredProvider:
    plugin = registry.get(name)
    section = config.provider_config(name)
    if plugin is None or section is None:
        raise StartupError(f"providers.{name.value}: no such provider plugin is registered")
    if plugin.build is None:
        raise StartupError(
            f"providers.{name.value}: this release has no {name.value} adapter yet; set enabled: false "
            "(and route its meetings to an available provider)"
        )
    sandbox: Sandbox | None = None
    webhook_base_url = config.public_url
    if section.sandbox:
        if plugin.start_sandbox is None:
            raise StartupError(f"providers.{name.value}: this provider has no sandbox; set sandbox: false")
        preset = {
            spec.name: v.get_secret_value() for spec in plugin.secrets if (v := settings.secret(spec.name))
        }
        sandbox_context = _sandbox_context(config, sandbox_base_url, settings.sandbox_state_dir(), preset)
        sandbox = plugin.start_sandbox(section, sandbox_context)
        section = section.model_copy(update=dict(sandbox.section_overrides))
        webhook_base_url = sandbox_context.webhook_base_url
        secrets = dict(sandbox.secrets)
    else:
        secrets = {spec.name: require_secret(settings, spec.name) for spec in plugin.secrets}
    context = ProviderContext(
        section=section,
        secrets=secrets,
        public_url=config.public_url,
        internal_domains=tuple(config.company.internal_domains),
        clock=clock,
        webhook_base_url=webhook_base_url,
    )
    try:
        parts = plugin.build(context)
    except BaseException:
        if sandbox is not None:
            sandbox.emulator.stop()
        raise
    return WiredProvider(plugin, section, parts, sandbox)


def _sandbox_context(
    config: AppConfig, sandbox_base_url: str | None, state_dir: Path | None, preset: dict[str, str]
) -> SandboxContext:
    organizers: list[str] = []
    for rule in config.routing.rules:
        organizers.extend(rule.when.organizer or ())
    return SandboxContext(
        internal_domains=tuple(config.company.internal_domains),
        organizers=tuple(dict.fromkeys(organizers)),
        webhook_base_url=(sandbox_base_url or config.public_url).rstrip("/"),
        state_dir=state_dir,
        preset_secrets=preset,
    )
