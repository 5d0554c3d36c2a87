"""The Teams plugin: sandbox wiring (TLS emulator, generated keys removed on stop) and build."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from integrations.plugin import ProviderContext, SandboxContext
from integrations.sandbox.teams import TeamsEmulatorState
from integrations.teams.adapter import TeamsProvider
from integrations.teams.config import TeamsConfig
from integrations.teams.plugin import PLUGIN, build_teams
from integrations.teams.subscriptions import CALL_RECORDS, TeamsSubscriptions
from integrations.teams.webhook_check import PATH

CONTEXT = SandboxContext(
    internal_domains=("acme.example",),
    organizers=("rep@acme.example", "Host@acme.example"),
    webhook_base_url="http://127.0.0.1:9",
)


def test_the_sandbox_serves_tls_for_the_organizers_and_removes_its_keys_on_stop() -> None:
    assert PLUGIN.start_sandbox is not None and PLUGIN.build is build_teams
    sandbox = PLUGIN.start_sandbox(TeamsConfig(enabled=True, sandbox=True), CONTEXT)
    try:
        state = sandbox.handle
        assert isinstance(state, TeamsEmulatorState)
        assert [u.upn for u in state.config.users] == ["host@acme.example", "rep@acme.example"]
        assert sandbox.emulator.url.startswith("https://127.0.0.1:")
        overrides = sandbox.section_overrides
        ca_bundle = overrides["ca_bundle"]
        assert isinstance(ca_bundle, Path) and ca_bundle.is_file()
        section = TeamsConfig(enabled=True, sandbox=True).model_copy(update=dict(overrides))
        parts = build_teams(
            ProviderContext(
                section=section,
                secrets=dict(sandbox.secrets),
                public_url="https://salesmeet.acme.example/",
                internal_domains=CONTEXT.internal_domains,
                clock=lambda: datetime.now(UTC),
            )
        )
        adapter = parts.adapter
        assert isinstance(adapter, TeamsProvider)
        try:
            assert adapter.check_health().token_obtainable  # msal over TLS, trusting the generated CA
            assert adapter.user_id("rep@acme.example") == state.config.users[1].id
        finally:
            adapter.close()
        assert [w.path for w in parts.webhooks] == [PATH] and parts.resolver is not None
        assert isinstance(parts.subscriptions, TeamsSubscriptions)
        assert parts.subscriptions.wanted() == (CALL_RECORDS,)
    finally:
        sandbox.emulator.stop()
    assert not ca_bundle.exists() and not ca_bundle.parent.exists()


def test_build_refuses_a_client_state_graph_would_refuse(tmp_path: Path) -> None:
    section = TeamsConfig(enabled=True, tenant_id="t", client_id="c")
    context = ProviderContext(
        section=section,
        secrets={"teams_client_secret": "s", "teams_client_state": "x" * 129},
        public_url="https://salesmeet.acme.example",
        internal_domains=("acme.example",),
        clock=lambda: datetime.now(UTC),
    )
    with pytest.raises(ValueError, match="128"):
        build_teams(context)
