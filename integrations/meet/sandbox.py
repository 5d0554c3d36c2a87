"""Google Meet in sandbox mode: the loopback Google emulator, with the company's organizers as
Workspace users, standing in for Google's token endpoint, Calendar, Meet REST, Directory, Workspace
Events and Pub/Sub push. The one place the Meet plugin reaches into `integrations.sandbox`.

The emulator makes its keys at start-up; the service account's key file is written to a private
temporary directory (removed when the emulator stops) and handed over as the
`google_service_account_file` secret, as a real deployment hands over its key file's path.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import structlog

from integrations.meet.config import MeetConfig
from integrations.meet.webhook_check import PATH
from integrations.plugin import Sandbox, SandboxContext
from integrations.sandbox.meet.app import create_meet_emulator, emulator_state
from integrations.sandbox.meet.config import MeetEmulatorConfig, WorkspaceUser
from integrations.sandbox.server import RunningServer, serve_in_thread

log = structlog.get_logger("salesmeet.sandbox.meet")


class RunningMeetEmulator:
    """The emulator's server, and the key file it removes when it stops."""

    def __init__(self, server: RunningServer, key_dir: str) -> None:
        self._server = server
        self._key_dir = key_dir
        self.url = server.url

    def stop(self) -> None:
        self._server.stop()
        shutil.rmtree(self._key_dir, ignore_errors=True)


def delegate_email(context: SandboxContext) -> str:
    """The Workspace admin the service account impersonates for reads (`delegated_user`)."""
    domain = context.internal_domains[0] if context.internal_domains else "example.com"
    return f"meet-admin@{domain}"


def sandbox_users(context: SandboxContext) -> tuple[WorkspaceUser, ...]:
    """Every organizer the routing rules name, a host per internal domain, and the delegated admin."""
    emails = [f"host@{d}" for d in context.internal_domains]
    emails.extend(context.organizers)
    emails.append(delegate_email(context))
    unique = list(dict.fromkeys(e.lower() for e in emails))
    return tuple(
        WorkspaceUser(
            email, str(100000000000000000000 + index), email.split("@")[0].replace(".", " ").title()
        )
        for index, email in enumerate(unique, start=1)
    )


def _write_key_file(config: MeetEmulatorConfig, token_url: str) -> tuple[str, str]:
    key_dir = tempfile.mkdtemp(prefix="salesmeet-meet-sandbox-")
    path = Path(key_dir) / "service-account.json"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(config.service_account.key_file_json(token_url))
    return key_dir, str(path)


def start_meet_sandbox(section: MeetConfig, context: SandboxContext) -> Sandbox:
    users = sandbox_users(context)
    push_url = f"{context.webhook_base_url.rstrip('/')}{PATH}"
    emulator_config = MeetEmulatorConfig(
        users=users,
        licensed_domains=context.internal_domains,
        seed=secrets.randbits(63),
        push_target_url=push_url,
        push_audience=section.push_audience or push_url,
    )
    app = create_meet_emulator(emulator_config)
    server = serve_in_thread(app)
    try:
        key_dir, key_file = _write_key_file(emulator_config, f"{server.url}/token")
    except OSError:
        server.stop()
        raise
    log.info("sandbox.meet_started", url=server.url)
    delegate = delegate_email(context)
    organizers = [u.email for u in users if u.email != delegate]
    return Sandbox(
        emulator=RunningMeetEmulator(server, key_dir),
        section_overrides={
            "service_account_email": emulator_config.service_account.email,
            "delegated_user": delegate,
            "calendar_api_url": f"{server.url}/calendar/v3/",
            "meet_api_url": server.url,
            "directory_api_url": server.url,
            "token_url": f"{server.url}/token",
            "certs_url": f"{server.url}/oauth2/v1/certs",
            "workspace_events_url": f"{server.url}/v1",
            "pubsub_topic": emulator_config.pubsub_topic,
            "push_service_account": emulator_config.push_service_account,
            "push_audience": emulator_config.push_audience,
            "subscription_users": tuple(organizers),
        },
        secrets={"google_service_account_file": key_file},
        handle=emulator_state(app),
    )
