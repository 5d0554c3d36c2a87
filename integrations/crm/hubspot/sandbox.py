"""HubSpot in sandbox mode: the loopback emulator stands in for the CRM API, with a generated
private-app token, app secret and workflow API key; its sender signs workflow deliveries and
extension calls to the address `serve` listens on. The one place the HubSpot plugin reaches into
`integrations.sandbox`."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from integrations.crm.hubspot.config import HubSpotConfig
from integrations.crm.hubspot.secret_names import ACCESS_TOKEN, APP_SECRET, WEBHOOK_API_KEY
from integrations.plugin import Sandbox, SandboxContext
from integrations.sandbox.hubspot.app import create_hubspot_emulator
from integrations.sandbox.hubspot.sender import HubSpotSender
from integrations.sandbox.hubspot.state import HubSpotEmulatorState
from integrations.sandbox.server import serve_in_thread
from integrations.sandbox_secrets import sandbox_secrets

log = structlog.get_logger("salesmeet.sandbox.hubspot")

SECRETS = (ACCESS_TOKEN, APP_SECRET, WEBHOOK_API_KEY)


@dataclass
class HubSpotSandbox:
    """What tests and the demo drive: the emulated portal and HubSpot's outgoing calls."""

    state: HubSpotEmulatorState
    sender: HubSpotSender


def start_hubspot_sandbox(section: HubSpotConfig, context: SandboxContext) -> Sandbox:
    credentials = sandbox_secrets(
        "hubspot", SECRETS, state_dir=context.state_dir, preset=context.preset_secrets
    )
    custom = {p for p in (section.attended_minutes_property, section.attendance_property) if p}
    state = HubSpotEmulatorState(
        access_token=credentials[ACCESS_TOKEN],
        app_secret=credentials[APP_SECRET],
        custom_properties=frozenset(custom),
    )
    server = serve_in_thread(create_hubspot_emulator(state))
    log.info("sandbox.hubspot_started", url=server.url)
    sender = HubSpotSender(
        context.webhook_base_url,
        credentials[APP_SECRET],
        api_key_name=section.api_key_name,
        api_key=credentials[WEBHOOK_API_KEY],
    )
    return Sandbox(
        emulator=server,
        section_overrides={"api_base_url": server.url, "signed_base_url": context.webhook_base_url},
        secrets=credentials,
        handle=HubSpotSandbox(state, sender),
    )
