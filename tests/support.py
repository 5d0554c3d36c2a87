"""Test helpers: a config for the sandbox, and the real service running on a loopback port."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from integrations.sandbox.server import serve_in_thread
from integrations.sandbox.zoom.state import ZoomEmulatorState
from service.api.app import create_app
from service.bootstrap import Runtime, build_runtime
from service.config.loader import parse_config
from service.config.secrets import Settings
from service.domain.meeting import ProviderName
from service.storage.database import upgrade_database
from tests.helpers_signing import SANDBOX_SECRET

CRM_KEY = "test-crm-key"
REPORTS_KEY = "test-reports-key"
ADMIN_KEY = "test-admin-key"


def _hash(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def sandbox_config(public_url: str = "http://127.0.0.1:9", **zoom: Any) -> dict[str, Any]:
    return {
        "public_url": public_url,
        "company": {
            "name": "Acme",
            "internal_domains": ["acme.example"],
            "min_attendance_seconds": 60,
            "timezone": "Europe/Berlin",
            "hourly_cost": {"default": 80, "currency": "EUR"},
        },
        # The kind emulator unless a test asks for the real one (`sandbox_behaviour="real"`).
        "providers": {
            "zoom": {
                "enabled": True,
                "sandbox": True,
                "reconcile_delay_seconds": 0,
                "sandbox_behaviour": "kind",
                **zoom,
            }
        },
        "routing": {"default": "zoom"},
        "api_keys": [
            {"name": "crm", "scope": "crm", "hash": _hash(CRM_KEY)},
            {"name": "reports", "scope": "reports", "hash": _hash(REPORTS_KEY)},
            {"name": "admin", "scope": "admin", "hash": _hash(ADMIN_KEY)},
        ],
        "worker": {"poll_interval_seconds": 0.05},
    }


def auth(key: str = CRM_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class RunningService:
    url: str
    runtime: Runtime
    client: httpx.Client
    app: FastAPI

    @property
    def zoom(self) -> ZoomEmulatorState:
        state = self.runtime.sandbox_handle(ProviderName.ZOOM)
        assert isinstance(state, ZoomEmulatorState)
        return state


@contextmanager
def running_service(
    database_url: str, *, config: dict[str, Any] | None = None, run_worker: bool = False
) -> Iterator[RunningService]:
    """The whole service (API, webhooks, optional worker) on a loopback port, over a fresh database."""
    # The sandbox generates its webhook secret; tests sign with a known one, set as an admin would.
    settings = Settings(database_url=database_url).with_secrets({"zoom_webhook_secret_token": SANDBOX_SECRET})
    app_config = parse_config(config or sandbox_config())
    runtime = build_runtime(app_config, settings)
    upgrade_database(runtime.db.engine)
    app = create_app(runtime, run_worker=run_worker)
    server = serve_in_thread(app, lifespan="on")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield RunningService(server.url, runtime, client, app)
    finally:
        server.stop()
        runtime.close()


def meeting_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_ref": {"system": "hubspot", "id": "deal-1"},
        "title": "Discovery call",
        "start": "2026-12-01T10:00:00+01:00",
        "duration_minutes": 30,
        "timezone": "Europe/Berlin",
        "organizer": {"email": "host@acme.example", "name": "Hanna Host"},
        "attendees": [{"email": "bob@customer.example", "name": "Bob"}],
    }
    body.update(overrides)
    return body
