"""Zoom in sandbox mode: the loopback emulator, licensed for the company's organizers, standing in
for Zoom's token endpoint, REST API and webhooks. The one place the Zoom plugin reaches into
`integrations.sandbox`."""

from __future__ import annotations

import structlog

from integrations.plugin import Sandbox, SandboxContext
from integrations.sandbox.server import serve_in_thread
from integrations.sandbox.zoom.app import create_zoom_emulator, emulator_state
from integrations.sandbox.zoom.config import ZoomEmulatorConfig, ZoomUser
from integrations.zoom.config import ZoomConfig

log = structlog.get_logger("salesmeet.sandbox.zoom")


def start_zoom_sandbox(section: ZoomConfig, context: SandboxContext) -> Sandbox:
    emulator_config = ZoomEmulatorConfig(
        users=sandbox_users(context),
        webhook_target_url=f"{context.webhook_base_url.rstrip('/')}/webhooks/zoom",
    )
    app = create_zoom_emulator(emulator_config)
    server = serve_in_thread(app)
    log.info("sandbox.zoom_started", url=server.url)
    return Sandbox(
        emulator=server,
        section_overrides={
            "account_id": emulator_config.account_id,
            "client_id": emulator_config.client_id,
            "token_url": f"{server.url}/oauth/token",
            "api_base_url": f"{server.url}/v2",
        },
        secrets={
            "zoom_client_secret": emulator_config.client_secret,
            "zoom_webhook_secret_token": emulator_config.webhook_secret_token,
        },
        handle=emulator_state(app),
    )


def sandbox_users(context: SandboxContext) -> tuple[ZoomUser, ...]:
    """The sandbox licenses every organizer the routing rules name, plus a host per internal domain."""
    emails = [f"host@{domain}" for domain in context.internal_domains]
    emails.extend(context.organizers)
    seen: dict[str, ZoomUser] = {}
    for index, email in enumerate(emails):
        seen.setdefault(email, ZoomUser(email, f"u_sandbox{index:04d}", "Sandbox", email.split("@")[0]))
    return tuple(seen.values())
