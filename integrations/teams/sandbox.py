"""Teams in sandbox mode: the loopback Entra + Graph emulator, serving TLS with a CA generated at
start-up (msal refuses http), with the company's organizers as licensed users. The one place the
Teams plugin reaches into `integrations.sandbox`.

The generated CA, certificate and key live in a private temporary directory, removed when the
emulator stops; the adapter trusts the CA through the `ca_bundle` override. The client secret and
the client state the webhook expects are random and kept in the sandbox state dir, so a
subscription made before a restart still verifies after it.
"""

from __future__ import annotations

import secrets
import shutil
import uuid
from pathlib import Path

import structlog

from integrations.plugin import Sandbox, SandboxContext
from integrations.sandbox.server import RunningServer, serve_in_thread
from integrations.sandbox.teams import (
    EntraUser,
    TeamsEmulatorConfig,
    create_teams_emulator,
    emulator_state,
    generate_sandbox_certificates,
)
from integrations.sandbox_secrets import sandbox_secrets
from integrations.teams.config import TeamsConfig

log = structlog.get_logger("salesmeet.sandbox.teams")


class TlsEmulator:
    """The running emulator; stopping it also removes its generated key material."""

    def __init__(self, server: RunningServer, key_directory: Path) -> None:
        self._server = server
        self._key_directory = key_directory
        self.url = server.url

    def stop(self) -> None:
        self._server.stop()
        shutil.rmtree(self._key_directory, ignore_errors=True)


def start_teams_sandbox(section: TeamsConfig, context: SandboxContext) -> Sandbox:
    credentials = sandbox_secrets(
        "teams",
        ("teams_client_secret", "teams_client_state"),
        state_dir=context.state_dir,
        preset=context.preset_secrets,
    )
    emulator_config = TeamsEmulatorConfig(
        users=sandbox_users(context),
        licensed_domains=context.internal_domains,
        client_secret=credentials["teams_client_secret"],
        seed=secrets.randbits(63),
    )
    certificates = generate_sandbox_certificates()
    app = create_teams_emulator(emulator_config)
    try:
        server = serve_in_thread(app, ssl=certificates.server)
    except BaseException:
        shutil.rmtree(certificates.ca_file.parent, ignore_errors=True)
        raise
    log.info("sandbox.teams_started", url=server.url)
    return Sandbox(
        emulator=TlsEmulator(server, certificates.ca_file.parent),
        section_overrides={
            "tenant_id": emulator_config.tenant_id,
            "client_id": emulator_config.client_id,
            "authority_url": server.url,
            "graph_base_url": f"{server.url}/v1.0",
            "ca_bundle": certificates.ca_file,
        },
        secrets=credentials,
        handle=emulator_state(app),
    )


def sandbox_users(context: SandboxContext) -> tuple[EntraUser, ...]:
    """The sandbox tenant's users: every organizer the routing rules name, plus a host per
    internal domain; object ids derived from the address, so they are the same every start."""
    emails = [f"host@{domain}" for domain in context.internal_domains]
    emails.extend(context.organizers)
    users: dict[str, EntraUser] = {}
    for email in emails:
        key = email.strip().lower()
        object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"salesmeet-sandbox:{key}"))
        users.setdefault(key, EntraUser(key, object_id, key.split("@")[0].replace(".", " ").title()))
    return tuple(users.values())
