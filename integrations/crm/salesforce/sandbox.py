"""Salesforce in sandbox mode: the loopback emulator stands in for the org (token endpoint and
sObjects), with a generated client secret; its outbound-message sender posts to the address
`serve` listens on. The one place the Salesforce plugin reaches into `integrations.sandbox`."""

from __future__ import annotations

from dataclasses import dataclass, replace

import structlog

from integrations.crm.salesforce.config import AuthMode, SalesforceConfig
from integrations.crm.salesforce.inbound import OUTBOUND_PATH
from integrations.plugin import Sandbox, SandboxContext
from integrations.sandbox.salesforce.app import create_salesforce_emulator, emulator_state
from integrations.sandbox.salesforce.config import SalesforceEmulatorConfig
from integrations.sandbox.salesforce.outbound import OutboundMessageSender
from integrations.sandbox.salesforce.state import SalesforceEmulatorState
from integrations.sandbox.server import serve_in_thread
from integrations.sandbox_secrets import sandbox_secrets

log = structlog.get_logger("salesmeet.sandbox.salesforce")

SECRETS = ("salesforce_client_secret",)
SANDBOX_CLIENT_ID = "3MVG9sandboxConsumerKey"


@dataclass
class SalesforceSandbox:
    """What tests and the demo drive: the emulated org and its Outbound Message on Event."""

    state: SalesforceEmulatorState
    sender: OutboundMessageSender


def message_fields(section: SalesforceConfig) -> tuple[str, ...]:
    """The fields the admin would choose for the Outbound Message: every one the mapping reads."""
    mapping = section.mapping
    named = [
        mapping.object_id,
        mapping.title,
        mapping.start,
        mapping.duration_minutes,
        mapping.end,
        mapping.timezone,
        mapping.organizer,
        mapping.attendees,
        mapping.kind,
        mapping.cancelled.property if mapping.cancelled else None,
        mapping.version,
        *mapping.context.values(),
    ]
    return tuple(dict.fromkeys(name for name in named if name))


def start_salesforce_sandbox(section: SalesforceConfig, context: SandboxContext) -> Sandbox:
    credentials = sandbox_secrets(
        "salesforce", SECRETS, state_dir=context.state_dir, preset=context.preset_secrets
    )
    client_id = section.client_id or SANDBOX_CLIENT_ID
    config = SalesforceEmulatorConfig(
        client_id=client_id, client_secret=credentials["salesforce_client_secret"]
    )
    if section.organization_id:
        config = replace(config, organization_id=section.organization_id)
    app = create_salesforce_emulator(config)
    server = serve_in_thread(app)
    log.info("sandbox.salesforce_started", url=server.url)
    state = emulator_state(app)
    sender = OutboundMessageSender(
        state,
        f"{context.webhook_base_url.rstrip('/')}{OUTBOUND_PATH}",
        sobject="Event",
        fields=message_fields(section),
    )
    return Sandbox(
        emulator=server,
        section_overrides={
            "auth": AuthMode.CLIENT_CREDENTIALS,
            "client_id": client_id,
            "instance_url": server.url,
            "login_url": server.url,
            "organization_id": config.organization_id,
        },
        secrets=credentials,
        handle=SalesforceSandbox(state, sender),
    )
