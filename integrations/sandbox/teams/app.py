"""The Teams emulator's HTTP surface: the identity platform (discovery, token) and Microsoft Graph.

`create_teams_emulator(config)` returns the FastAPI app; its `TeamsEmulatorState` is at
`app.state.teams` (also returned by `emulator_state(app)`) for tests, the player and the demo.
Serve it over TLS (`generate_sandbox_certificates`): msal refuses http authorities.
"""

from __future__ import annotations

from fastapi import FastAPI

from integrations.sandbox.teams.config import TeamsEmulatorConfig
from integrations.sandbox.teams.identity_api import add_identity_routes
from integrations.sandbox.teams.meetings_api import add_meeting_routes
from integrations.sandbox.teams.records_api import add_record_routes
from integrations.sandbox.teams.state import TeamsEmulatorState
from integrations.sandbox.teams.subscriptions_api import add_subscription_routes


def emulator_state(app: FastAPI) -> TeamsEmulatorState:
    state = app.state.teams
    assert isinstance(state, TeamsEmulatorState)
    return state


def create_teams_emulator(config: TeamsEmulatorConfig | None = None) -> FastAPI:
    state = TeamsEmulatorState(config or TeamsEmulatorConfig())
    app = FastAPI(title="Teams sandbox emulator", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.teams = state
    # Graph's fixed `/v1.0/...` routes before the identity routes, whose first segment is a
    # parameter (`/{tenant}/...`).
    add_meeting_routes(app, state)
    add_record_routes(app, state)
    add_subscription_routes(app, state)
    add_identity_routes(app, state)
    return app
