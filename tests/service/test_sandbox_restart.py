"""The sandbox as an integrator meets it: restarts just work, its secrets are its own, reps are licensed."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx

from integrations.sandbox.server import serve_in_thread
from integrations.sandbox.zoom.config import ZoomEmulatorConfig
from integrations.sandbox.zoom.state import ZoomEmulatorState
from service.api.app import create_app
from service.bootstrap import build_runtime
from service.config.loader import parse_config
from service.config.secrets import Settings
from service.domain.meeting import ProviderName
from service.storage.database import upgrade_database
from tests.support import CRM_KEY, auth, meeting_body, sandbox_config


def _create_twice_across_a_restart(tmp_path: Path) -> tuple[list[dict[str, object]], list[str]]:
    database_url = f"sqlite:///{tmp_path}/data/salesmeet.db"
    created, secrets = [], []
    for n in range(2):
        runtime = build_runtime(parse_config(sandbox_config()), Settings(database_url=database_url))
        upgrade_database(runtime.db.engine)
        server = serve_in_thread(create_app(runtime), lifespan="on")
        try:
            state = runtime.sandbox_handle(ProviderName.ZOOM)
            assert isinstance(state, ZoomEmulatorState)
            secrets.append(state.config.webhook_secret_token)
            body = meeting_body(external_ref={"system": "hubspot", "id": f"deal-{n}"})
            body["organizer"] = {"email": "priya.rep@emea.acme.example"}  # any rep in an internal domain
            response = httpx.post(f"{server.url}/v1/meetings", json=body, headers=auth(CRM_KEY), timeout=30)
            assert response.status_code == 201, response.text
            created.append(response.json())
        finally:
            server.stop()
            runtime.close()
    return created, secrets


def test_a_restarted_sandbox_creates_meetings_and_keeps_its_generated_secrets(tmp_path: Path) -> None:
    created, secrets = _create_twice_across_a_restart(tmp_path)
    assert created[0]["provider_meeting_id"] != created[1]["provider_meeting_id"]
    assert secrets[0] == secrets[1]  # webhooks signed before the restart still verify after it
    assert secrets[0] != ZoomEmulatorConfig().webhook_secret_token and len(secrets[0]) >= 32
    kept = tmp_path / "data" / "sandbox" / "zoom.json"
    assert json.loads(kept.read_text())["zoom_webhook_secret_token"] == secrets[0]
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_two_sandboxes_have_different_secrets(tmp_path: Path) -> None:
    first = _create_twice_across_a_restart(tmp_path / "a")[1][0]
    second = _create_twice_across_a_restart(tmp_path / "b")[1][0]
    assert first != second
