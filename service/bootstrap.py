"""The composition root: config + environment in, a running service's parts out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from fastapi import FastAPI

from integrations.base import MeetingProvider, ProviderError
from integrations.sandbox.server import RunningServer, serve_in_thread
from integrations.sandbox.zoom.app import create_zoom_emulator
from integrations.sandbox.zoom.config import ZoomEmulatorConfig, ZoomUser
from integrations.zoom.adapter import ZoomProvider
from integrations.zoom.settings import ZoomAdapterSettings
from service.api.auth import ApiKeyring
from service.api.deps import Services
from service.config import AppConfig, ZoomConfig
from service.domain.events import AttendanceEvent
from service.domain.meeting import ProviderName
from service.settings import Settings, require_secret
from service.storage import provider_status_repo
from service.storage.database import Database, create_database_engine
from service.usecases.provider_registry import ProviderRegistry
from service.usecases.record_attendance import AttendancePolicy, EventDecoder, UndecodableDelivery
from service.usecases.schedule_meeting import MeetingScheduler
from service.worker import Worker
from webhooks.inbox import InboxWriter
from integrations.zoom.webhook import ZoomWebhookError, normalise_zoom_event, parse_zoom_event

log = structlog.get_logger("salesmeet.bootstrap")

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ZoomWiring:
    provider: ZoomProvider
    webhook_secret_tokens: tuple[str, ...]
    tolerance_seconds: int
    emulator: RunningServer | None = None
    emulator_app: FastAPI | None = None


@dataclass
class Runtime:
    config: AppConfig
    settings: Settings
    db: Database
    services: Services
    inbox: InboxWriter
    worker: Worker
    zoom: ZoomWiring | None
    sandboxes: list[RunningServer] = field(default_factory=list)

    def close(self) -> None:
        self.worker.stop()
        for server in self.sandboxes:
            server.stop()
        self.db.dispose()


def decode_zoom_delivery(body: bytes) -> list[AttendanceEvent]:
    try:
        return normalise_zoom_event(parse_zoom_event(body))
    except ZoomWebhookError as exc:
        raise UndecodableDelivery(f"{exc.code}: {exc.message}") from exc


def _zoom_wiring(
    config: AppConfig, section: ZoomConfig, settings: Settings, sandbox_base_url: str | None
) -> ZoomWiring:
    if section.sandbox:
        base = (sandbox_base_url or config.public_url).rstrip("/")
        emulator_config = ZoomEmulatorConfig(
            users=_sandbox_users(config),
            webhook_target_url=f"{base}/webhooks/zoom",
        )
        emulator_app = create_zoom_emulator(emulator_config)
        emulator = serve_in_thread(emulator_app)
        log.info("sandbox.zoom_started", url=emulator.url)
        adapter_settings = ZoomAdapterSettings(
            account_id=emulator_config.account_id,
            client_id=emulator_config.client_id,
            client_secret=emulator_config.client_secret,
            token_url=f"{emulator.url}/oauth/token",
            api_base_url=f"{emulator.url}/v2",
            timeout_seconds=section.timeout_seconds,
            waiting_room=section.waiting_room,
            passcode=section.passcode,
            join_before_host=section.join_before_host,
        )
        return ZoomWiring(
            ZoomProvider(adapter_settings),
            (emulator_config.webhook_secret_token,),
            section.webhook_timestamp_tolerance_seconds,
            emulator,
            emulator_app,
        )
    assert section.account_id is not None and section.client_id is not None
    adapter_settings = ZoomAdapterSettings(
        account_id=section.account_id,
        client_id=section.client_id,
        client_secret=require_secret(settings, "zoom_client_secret"),
        token_url=section.token_url,
        api_base_url=section.api_base_url,
        timeout_seconds=section.timeout_seconds,
        waiting_room=section.waiting_room,
        passcode=section.passcode,
        join_before_host=section.join_before_host,
    )
    return ZoomWiring(
        ZoomProvider(adapter_settings),
        (require_secret(settings, "zoom_webhook_secret_token"),),
        section.webhook_timestamp_tolerance_seconds,
    )


def _sandbox_users(config: AppConfig) -> tuple[ZoomUser, ...]:
    """The sandbox licenses every organizer the routing rules name, plus a host per internal domain."""
    emails: list[str] = [f"host@{domain}" for domain in config.company.internal_domains]
    for rule in config.routing.rules:
        emails.extend(rule.when.organizer or ())
    seen: dict[str, ZoomUser] = {}
    for index, email in enumerate(emails):
        seen.setdefault(email, ZoomUser(email, f"u_sandbox{index:04d}", "Sandbox", email.split("@")[0]))
    return tuple(seen.values())


class StartupError(RuntimeError):
    """The service cannot start with this configuration; the message says what to change."""


# Adapters that exist in this release; the config file already describes all three providers.
SUPPORTED_PROVIDERS = (ProviderName.ZOOM,)


def build_runtime(
    config: AppConfig, settings: Settings, *, clock: Clock = _utc_now, sandbox_base_url: str | None = None
) -> Runtime:
    """Wire the service. `sandbox_base_url` is where the built-in emulators send their webhooks
    (the address `serve` listens on); by default the config's `public_url`."""
    for name in config.enabled_providers():
        if name not in SUPPORTED_PROVIDERS:
            raise StartupError(
                f"providers.{name.value}: this release has no {name.value} adapter yet; set enabled: false "
                "(and route its meetings to an available provider)"
            )
    db = Database(create_database_engine(settings.database_url))
    providers: dict[ProviderName, tuple[MeetingProvider, int]] = {}
    decoders: dict[str, EventDecoder] = {}
    zoom: ZoomWiring | None = None
    sandboxes: list[RunningServer] = []
    zoom_section = config.providers.zoom
    if zoom_section is not None and zoom_section.enabled:
        zoom = _zoom_wiring(config, zoom_section, settings, sandbox_base_url)
        providers[ProviderName.ZOOM] = (zoom.provider, zoom_section.max_concurrency)
        decoders[ProviderName.ZOOM.value] = decode_zoom_delivery
        if zoom.emulator is not None:
            sandboxes.append(zoom.emulator)

    def remember_error(name: ProviderName, exc: ProviderError) -> None:
        try:
            with db.write() as conn:
                provider_status_repo.record_error(conn, name.value, f"{exc.code}: {exc.message}", clock())
        except Exception as store_exc:  # never let bookkeeping hide the provider's own error
            log.warning("provider.status_not_recorded", provider=name.value, error=repr(store_exc))

    registry = ProviderRegistry(providers, on_error=remember_error)
    scheduler = MeetingScheduler(db, registry, config.routing_table(), config.company_domains(), clock)
    keyring = ApiKeyring((k.name, k.scope.value, k.hash) for k in config.api_keys)
    policy = AttendancePolicy(
        company=config.company_domains(),
        min_attendance_seconds=config.company.min_attendance_seconds,
        timezone=config.company.timezone,
        reconcile_delay=timedelta(seconds=zoom_section.reconcile_delay_seconds if zoom_section else 120),
        max_attempts=config.worker.max_attempts,
    )
    services = Services(
        config=config,
        db=db,
        scheduler=scheduler,
        providers=registry,
        keyring=keyring,
        attendance_policy=policy,
        clock=clock,
    )
    worker = Worker(
        db,
        registry,
        decoders,
        policy,
        batch_size=config.worker.batch_size,
        poll_interval=config.worker.poll_interval_seconds,
        reconcile_interval=config.worker.reconcile_sweep_interval_seconds,
        clock=clock,
    )
    inbox = InboxWriter(db, clock=clock)
    return Runtime(config, settings, db, services, inbox, worker, zoom, sandboxes)
