"""Zoom as a plugin: the config section, the two secrets, the adapter, the webhook endpoint and
its decoder. Zoom declares no subscriptions: its webhooks belong to the Marketplace app."""

from __future__ import annotations

from integrations.plugin import ProviderContext, ProviderParts, ProviderPlugin, SecretSpec
from integrations.zoom.adapter import ZoomProvider
from integrations.zoom.config import ZoomConfig
from integrations.zoom.sandbox import start_zoom_sandbox
from integrations.zoom.webhook_check import decode_zoom_delivery, zoom_endpoint
from service.domain.meeting import ProviderName


def build_zoom(context: ProviderContext[ZoomConfig]) -> ProviderParts:
    section = context.section
    return ProviderParts(
        adapter=ZoomProvider(section, context.secret("zoom_client_secret")),
        webhooks=(
            zoom_endpoint(
                (context.secret("zoom_webhook_secret_token"),),
                tolerance_seconds=section.webhook_timestamp_tolerance_seconds,
            ),
        ),
        decoder=decode_zoom_delivery,
    )


PLUGIN: ProviderPlugin[ZoomConfig] = ProviderPlugin(
    name=ProviderName.ZOOM,
    config_model=ZoomConfig,
    secrets=(
        SecretSpec("zoom_client_secret"),
        SecretSpec(
            "zoom_webhook_secret_token",
            yaml_keys=("secret_token", "webhook_secret_token", "webhook_secret", "verification_token"),
        ),
    ),
    build=build_zoom,
    start_sandbox=start_zoom_sandbox,
)
