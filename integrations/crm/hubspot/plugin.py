"""HubSpot as a CRM plugin: the config section, the two secrets, the workflow webhook, the
video-conferencing extension, the record parser and the meeting-engagement writer."""

from __future__ import annotations

from integrations.crm.hubspot.client import HubSpotWriter
from integrations.crm.hubspot.config import HubSpotConfig
from integrations.crm.hubspot.inbound import record_parser, workflow_endpoint
from integrations.crm.hubspot.sandbox import start_hubspot_sandbox
from integrations.crm.hubspot.videoconf import video_endpoints
from integrations.crm.plugin import CrmContext, CrmParts, CrmPlugin
from integrations.plugin import SecretSpec


def build_hubspot(context: CrmContext[HubSpotConfig]) -> CrmParts:
    section = context.section
    secret = context.secret("hubspot_app_secret")
    writer = HubSpotWriter(section, context.secret("hubspot_access_token"))
    return CrmParts(
        parse=record_parser(section.mapping),
        inbound=(workflow_endpoint(section, secret, context.public_url, context.clock),),
        actions=video_endpoints(section, secret, context.public_url, context.clock),
        writer=writer,
        close=writer.close,
    )


PLUGIN: CrmPlugin[HubSpotConfig] = CrmPlugin(
    name="hubspot",
    config_model=HubSpotConfig,
    build=build_hubspot,
    secrets=(
        SecretSpec("hubspot_access_token", yaml_keys=("private_app_token", "access_token", "token")),
        SecretSpec("hubspot_app_secret", yaml_keys=("app_secret", "client_secret", "api_key_value")),
    ),
    start_sandbox=start_hubspot_sandbox,
)
