"""Google Meet as a plugin. Its config section is validated already; its adapter comes next, so
the service refuses to start with it enabled (`build` is None)."""

from __future__ import annotations

from integrations.meet.config import MeetConfig
from integrations.plugin import ProviderPlugin, SecretSpec
from service.domain.meeting import ProviderName

PLUGIN: ProviderPlugin[MeetConfig] = ProviderPlugin(
    name=ProviderName.MEET,
    config_model=MeetConfig,
    secrets=(
        SecretSpec("google_service_account_file", yaml_keys=("service_account_key", "service_account_json")),
    ),
)
