"""Zoom in sandbox mode: the loopback emulator, licensed for the company's organizers, standing in
for Zoom's token endpoint, REST API and webhooks. The one place the Zoom plugin reaches into
`integrations.sandbox`."""

from __future__ import annotations

import secrets

import structlog

from integrations.plugin import Sandbox, SandboxContext
from integrations.sandbox.server import serve_in_thread
from integrations.sandbox.zoom.app import create_zoom_emulator, emulator_state
from integrations.sandbox.zoom.config import ZoomEmulatorConfig, ZoomRealism, ZoomUser
from integrations.sandbox_secrets import sandbox_secrets
from integrations.zoom.config import ZoomConfig

log = structlog.get_logger("salesmeet.sandbox.zoom")


def start_zoom_sandbox(section: ZoomConfig, context: SandboxContext) -> Sandbox:
    credentials = sandbox_secrets(
        "zoom",
        ("zoom_client_secret", "zoom_webhook_secret_token"),
        state_dir=context.state_dir,
        preset=context.preset_secrets,
    )
    emulator_config = ZoomEmulatorConfig(
        client_secret=credentials["zoom_client_secret"],
        webhook_secret_token=credentials["zoom_webhook_secret_token"],
        users=sandbox_users(context),
        licensed_domains=context.internal_domains,
        webhook_target_url=f"{context.webhook_base_url.rstrip('/')}/webhooks/zoom",
        # Meeting ids must not repeat those of an earlier run kept in the database.
        seed=secrets.randbits(63),
        realism=ZoomRealism.kind() if section.sandbox_behaviour == "kind" else ZoomRealism(),
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
        secrets=credentials,
        handle=emulator_state(app),
    )


def sandbox_users(context: SandboxContext) -> tuple[ZoomUser, ...]:
    """Users listed by name: every organizer the routing rules name, and a host per internal domain
    (any other address in an internal domain is licensed too, see `licensed_domains`)."""
    emails = [f"host@{domain}" for domain in context.internal_domains]
    emails.extend(context.organizers)
    seen: dict[str, ZoomUser] = {}
    for index, email in enumerate(emails):
        seen.setdefault(email, ZoomUser(email, f"u_sandbox{index:04d}", "Sandbox", email.split("@")[0]))
    return tuple(seen.values())
