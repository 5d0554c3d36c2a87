"""Microsoft Teams as a plugin: the config section, the two secrets, the Graph adapter, the
webhook endpoint, the call record resolver and the callRecords subscription."""

from __future__ import annotations

from datetime import timedelta

from integrations.plugin import ProviderContext, ProviderParts, ProviderPlugin, SecretSpec
from integrations.teams.adapter import TeamsProvider
from integrations.teams.config import TeamsConfig
from integrations.teams.resolver import CallRecordResolver
from integrations.teams.sandbox import start_teams_sandbox
from integrations.teams.subscriptions import TeamsSubscriptions
from integrations.teams.webhook_check import PATH, teams_endpoint
from service.domain.meeting import ProviderName

# Graph refuses a longer clientState.
MAX_CLIENT_STATE_CHARS = 128


def build_teams(context: ProviderContext[TeamsConfig]) -> ProviderParts:
    section = context.section
    client_state = context.secret("teams_client_state")
    if not 0 < len(client_state) <= MAX_CLIENT_STATE_CHARS:
        raise ValueError(
            f"SALESMEET_TEAMS_CLIENT_STATE must be 1 to {MAX_CLIENT_STATE_CHARS} characters (Graph's limit)"
        )
    adapter = TeamsProvider(section, context.secret("teams_client_secret"))
    subscriptions = TeamsSubscriptions(
        adapter.api,
        notification_url=context.webhook_url(PATH),
        client_state=client_state,
        lifetime=timedelta(minutes=section.subscription_lifetime_minutes),
        renew_before=timedelta(minutes=section.subscription_renew_before_minutes),
        clock=context.clock,
    )
    return ProviderParts(
        adapter=adapter,
        webhooks=(teams_endpoint((client_state,)),),
        resolver=CallRecordResolver(adapter, subscriptions),
        subscriptions=subscriptions,
        close=adapter.close,
    )


PLUGIN: ProviderPlugin[TeamsConfig] = ProviderPlugin(
    name=ProviderName.TEAMS,
    config_model=TeamsConfig,
    secrets=(
        SecretSpec("teams_client_secret"),
        SecretSpec("teams_client_state", yaml_keys=("client_state",)),
    ),
    build=build_teams,
    start_sandbox=start_teams_sandbox,
)
