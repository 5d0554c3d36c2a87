"""`crm.hubspot`: how deliveries are verified, where the API is, and what the write-back sets."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from integrations.crm.mapping import CancelledWhen, CrmMapping
from integrations.crm.plugin import CrmSection
from service.config.fields import PositiveSeconds
from service.config.sections import Section

# A typical deal workflow whose "Send a webhook" action has a customised body (see the README).
DEFAULT_MAPPING = CrmMapping(
    object_id="hs_object_id",
    title="meeting_title",
    default_title="Sales meeting",
    start="meeting_start",
    duration_minutes="meeting_duration_minutes",
    end="meeting_end",
    timezone="meeting_timezone",
    organizer="owner_email",
    attendees="contact_emails",
    kind=None,
    cancelled=CancelledWhen(property="meeting_status", values=("cancelled", "canceled")),
    version="hs_lastmodifieddate",
    context={"deal_id": "hs_object_id", "contact_ids": "contact_ids", "owner_id": "hubspot_owner_id"},
)


class WebhookAuth(StrEnum):
    # "Include request signature in header": the app's secret signs (v3, else v1/v2 as announced).
    SIGNATURE = "signature"
    # "API key": a name, a location (header or query parameter) and a value, which is its own secret
    # (SALESMEET_HUBSPOT_WEBHOOK_API_KEY); the extension's calls are still signed by the app's secret.
    API_KEY = "api_key"


class ApiKeyLocation(StrEnum):
    HEADER = "header"
    QUERY = "query"


class OutcomeValues(Section):
    """The `hs_meeting_outcome` option values (editable in HubSpot: read them in its settings)."""

    completed: str = "COMPLETED"
    no_show: str = "NO_SHOW"
    canceled: str = "CANCELED"


class HubSpotConfig(CrmSection):
    mapping: CrmMapping = DEFAULT_MAPPING
    webhook_auth: WebhookAuth = WebhookAuth.SIGNATURE
    # For `api_key`: the key's name as set in the workflow action, and where it travels.
    api_key_name: str = "X-Salesmeet-Key"
    api_key_location: ApiKeyLocation = ApiKeyLocation.HEADER
    # v2 and v3 sign the URL HubSpot called: `<public_url>/webhooks/hubspot` unless a proxy rewrites it.
    signed_base_url: str | None = None
    webhook_timestamp_tolerance_seconds: int = Field(300, ge=1)
    api_base_url: str = "https://api.hubapi.com"
    max_retry_wait_seconds: PositiveSeconds = 30.0
    # Association type ids (HUBSPOT_DEFINED): meeting -> deal, contact, company.
    deal_association_type_id: int = 212
    contact_association_type_id: int = 200
    company_association_type_id: int = 188
    outcome_values: OutcomeValues = Field(default_factory=OutcomeValues)
    # Custom meeting properties the admin created; unset ones are not written.
    attended_minutes_property: str | None = "salesmeet_minutes"
    attendance_property: str | None = "salesmeet_attendance"
    # The property that holds salesmeet's link to the meeting: a write is found again by it.
    meeting_link_property: str = "hs_meeting_external_url"
    # How long to wait when the daily limit (policyName DAILY) is reached.
    daily_limit_wait_seconds: PositiveSeconds = 3600.0
