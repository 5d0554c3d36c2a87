"""`providers.meet` in the config file: the service account, Google endpoints and Pub/Sub push."""

from __future__ import annotations

from typing import ClassVar

from service.config.fields import Email, HttpEndpoint, PubsubTopic
from service.config.sections import ProviderSection


class MeetConfig(ProviderSection):
    required_when_live: ClassVar[tuple[str, ...]] = ("delegated_user",)

    service_account_email: Email | None = None
    delegated_user: Email | None = None
    calendar_api_url: HttpEndpoint = "https://www.googleapis.com/calendar/v3/"
    meet_api_url: HttpEndpoint = "https://meet.googleapis.com"
    token_url: HttpEndpoint = "https://oauth2.googleapis.com/token"  # noqa: S105 (an endpoint, not a secret)
    certs_url: HttpEndpoint = "https://www.googleapis.com/oauth2/v1/certs"
    workspace_events_url: HttpEndpoint = "https://workspaceevents.googleapis.com/v1"
    pubsub_topic: PubsubTopic | None = None
    push_service_account: Email | None = None
