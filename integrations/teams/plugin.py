"""Microsoft Teams as a plugin. Its config section is validated already; its adapter comes next,
so the service refuses to start with it enabled (`build` is None)."""

from __future__ import annotations

from integrations.plugin import ProviderPlugin, SecretSpec
from integrations.teams.config import TeamsConfig
from service.domain.meeting import ProviderName

PLUGIN: ProviderPlugin[TeamsConfig] = ProviderPlugin(
    name=ProviderName.TEAMS,
    config_model=TeamsConfig,
    secrets=(
        SecretSpec("teams_client_secret"),
        SecretSpec("teams_client_state", yaml_keys=("client_state",)),
    ),
)
