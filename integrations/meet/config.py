"""`providers.meet` in the config file: the service account, Google endpoints and Pub/Sub push."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from service.config.fields import Email, HttpEndpoint, NonEmptyText, PubsubTopic
from service.config.sections import ProviderSection


class MeetConfig(ProviderSection):
    required_when_live: ClassVar[tuple[str, ...]] = ("delegated_user",)

    service_account_email: Email | None = None
    # The user impersonated for calls no organizer owns: Meet REST reads (attendance, webhook
    # resolution) and Directory lookups. Calendar calls impersonate the meeting's organizer.
    delegated_user: Email | None = None
    calendar_api_url: HttpEndpoint = "https://www.googleapis.com/calendar/v3/"
    meet_api_url: HttpEndpoint = "https://meet.googleapis.com"
    # Admin SDK root (the Directory's paths start with admin/directory/v1).
    directory_api_url: HttpEndpoint = "https://admin.googleapis.com"
    token_url: HttpEndpoint = "https://oauth2.googleapis.com/token"  # noqa: S105 (an endpoint, not a secret)
    certs_url: HttpEndpoint = "https://www.googleapis.com/oauth2/v1/certs"
    workspace_events_url: HttpEndpoint = "https://workspaceevents.googleapis.com/v1"
    pubsub_topic: PubsubTopic | None = None
    push_service_account: Email | None = None
    # The `aud` of the push's OIDC token; None: the push endpoint's URL under public_url.
    push_audience: NonEmptyText | None = None
    # Organizers whose meetings are subscribed to (Workspace Events on each as a user).
    subscription_users: tuple[Email, ...] = ()
    # Retries after the first try for retryable failures (rate limits, 5xx, timeouts).
    max_retries: int = Field(3, ge=0)
    retry_base_delay_seconds: float = Field(0.5, ge=0, allow_inf_nan=False)
    max_retry_wait_seconds: float = Field(30.0, ge=0, allow_inf_nan=False)
    # How often, and how far apart, a conference still `pending` after the create is read again.
    conference_poll_attempts: int = Field(10, ge=0)
    conference_poll_interval_seconds: float = Field(0.5, ge=0, allow_inf_nan=False)
    # Rows asked per page of Meet REST lists (each list's own maximum caps it).
    page_size: int = Field(100, ge=1, le=250)
