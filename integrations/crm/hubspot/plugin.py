"""HubSpot as a CRM plugin: the config section, its secrets, the workflow webhook, the
video-conferencing extension, the record parser and the meeting-engagement writer.

Which secrets a section needs follows `webhook_auth`: `signature` needs the app's client secret,
`api_key` the workflow action's key (`SALESMEET_HUBSPOT_WEBHOOK_API_KEY`). The extension's calls
are always signed by the app's client secret: in `api_key` mode its endpoints are mounted when
that secret is set too, and left out (with a log line saying why) when it is not.
"""

from __future__ import annotations

import structlog

from integrations.crm.hubspot.client import HubSpotWriter
from integrations.crm.hubspot.config import HubSpotConfig, WebhookAuth
from integrations.crm.hubspot.inbound import (
    WORKFLOW_PATH,
    api_key_check,
    record_parser,
    signature_check,
    signed_url_of,
    workflow_endpoint,
)
from integrations.crm.hubspot.sandbox import start_hubspot_sandbox
from integrations.crm.hubspot.secret_names import ACCESS_TOKEN, APP_SECRET, WEBHOOK_API_KEY
from integrations.crm.hubspot.videoconf import video_endpoints
from integrations.crm.plugin import CrmActionEndpoint, CrmContext, CrmParts, CrmPlugin
from integrations.plugin import SecretSpec, WebhookCheck

log = structlog.get_logger("salesmeet.crm.hubspot")

SECRETS = (
    SecretSpec(ACCESS_TOKEN, yaml_keys=("private_app_token", "access_token", "token")),
    SecretSpec(APP_SECRET, yaml_keys=("app_secret", "client_secret")),
    SecretSpec(WEBHOOK_API_KEY, yaml_keys=("api_key_value", "webhook_api_key", "api_key")),
)


def needed_secrets(section: HubSpotConfig) -> frozenset[str]:
    if section.webhook_auth is WebhookAuth.API_KEY:
        return frozenset({ACCESS_TOKEN, WEBHOOK_API_KEY})
    return frozenset({ACCESS_TOKEN, APP_SECRET})


def workflow_check(context: CrmContext[HubSpotConfig]) -> WebhookCheck:
    section = context.section
    if section.webhook_auth is WebhookAuth.API_KEY:
        return api_key_check(section, context.secret(WEBHOOK_API_KEY))
    signed_url = signed_url_of(section, context.public_url, WORKFLOW_PATH)
    return signature_check(section, context.secret(APP_SECRET), signed_url, context.clock)


def extension_endpoints(context: CrmContext[HubSpotConfig]) -> tuple[CrmActionEndpoint, ...]:
    app_secret = context.secrets.get(APP_SECRET)
    if app_secret is None:
        # Only reachable in api_key mode: signature mode cannot start without the app secret.
        unset = SecretSpec(APP_SECRET).env_var
        log.info(
            "crm.hubspot_video_extension_off", reason=f"{unset} is not set; it signs the extension's calls"
        )
        return ()
    return video_endpoints(context.section, app_secret, context.public_url, context.clock)


def build_hubspot(context: CrmContext[HubSpotConfig]) -> CrmParts:
    section = context.section
    writer = HubSpotWriter(section, context.secret(ACCESS_TOKEN))
    return CrmParts(
        parse=record_parser(section.mapping),
        inbound=(workflow_endpoint(section, workflow_check(context)),),
        actions=extension_endpoints(context),
        writer=writer,
        close=writer.close,
    )


PLUGIN: CrmPlugin[HubSpotConfig] = CrmPlugin(
    name="hubspot",
    config_model=HubSpotConfig,
    build=build_hubspot,
    secrets=SECRETS,
    start_sandbox=start_hubspot_sandbox,
    needed_secrets=needed_secrets,
)
