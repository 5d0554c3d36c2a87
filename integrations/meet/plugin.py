"""Google Meet as a plugin: the config section, the service-account key file, the adapter, the
Pub/Sub push endpoint with its resolver, and the Workspace Events subscriptions.

Without `push_service_account` the pushes cannot be verified: the plugin then serves no webhook
and keeps no subscriptions, and attendance comes from the post-meeting reconciliation alone.
"""

from __future__ import annotations

import structlog

from integrations.meet.adapter import MeetProvider
from integrations.meet.config import MeetConfig
from integrations.meet.resolver import MeetResolver
from integrations.meet.sandbox import start_meet_sandbox
from integrations.meet.subscriptions import MeetSubscriptions
from integrations.meet.webhook_check import PATH, google_endpoint
from integrations.plugin import ProviderContext, ProviderParts, ProviderPlugin, SecretSpec
from service.domain.meeting import ProviderName

log = structlog.get_logger("salesmeet.meet")


def build_meet(context: ProviderContext[MeetConfig]) -> ProviderParts:
    section = context.section
    adapter = MeetProvider(section, context.secret("google_service_account_file"))
    if section.push_service_account is None:
        log.warning("meet.pushes_disabled", reason="providers.meet.push_service_account is not set")
        return ProviderParts(adapter=adapter)
    subscriptions = None
    if section.pubsub_topic is not None:
        subscriptions = MeetSubscriptions(
            adapter.apis, adapter.directory, section.subscription_users, section.pubsub_topic
        )
    return ProviderParts(
        adapter=adapter,
        webhooks=(
            google_endpoint(
                section.certs_url,
                audience=section.push_audience or context.url_for(PATH),
                service_account=section.push_service_account,
                timeout=section.timeout_seconds,
            ),
        ),
        resolver=MeetResolver(adapter),
        subscriptions=subscriptions,
    )


PLUGIN: ProviderPlugin[MeetConfig] = ProviderPlugin(
    name=ProviderName.MEET,
    config_model=MeetConfig,
    secrets=(
        SecretSpec("google_service_account_file", yaml_keys=("service_account_key", "service_account_json")),
    ),
    build=build_meet,
    start_sandbox=start_meet_sandbox,
)
