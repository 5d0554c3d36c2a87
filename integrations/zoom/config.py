"""`providers.zoom` in the config file: the Server-to-Server OAuth app and meeting defaults."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from service.config.fields import HttpEndpoint, NonEmptyText
from service.config.sections import ProviderSection


class ZoomConfig(ProviderSection):
    required_when_live: ClassVar[tuple[str, ...]] = ("account_id", "client_id")

    account_id: NonEmptyText | None = None
    client_id: NonEmptyText | None = None
    token_url: HttpEndpoint = "https://zoom.us/oauth/token"  # noqa: S105 (an endpoint, not a secret)
    api_base_url: HttpEndpoint = "https://api.zoom.us/v2"
    webhook_timestamp_tolerance_seconds: int = Field(300, ge=1)
    waiting_room: bool = False
    passcode: bool = True
    join_before_host: bool = False
    # Retries after the first try for retryable failures (429 other than the daily limit, 5xx...).
    max_retries: int = Field(3, ge=0)
    retry_base_delay_seconds: float = Field(0.5, ge=0, allow_inf_nan=False)
    # Longest single wait between retries, whatever Retry-After asks for.
    max_retry_wait_seconds: float = Field(30.0, ge=0, allow_inf_nan=False)
    # Rows per page of the participants report (Zoom's maximum is 300).
    report_page_size: int = Field(300, ge=1, le=300)
    # Customer meetings are made with registration (automatic approval) and every external invitee
    # is registered: Zoom hides the e-mail of anyone outside the account unless they registered,
    # and each attendee gets their own join link. Needs a licensed (Pro or higher) host.
    register_external_attendees: bool = True
    # Whether Zoom itself e-mails registrants (confirmation, link); off: the CRM sends the links.
    registrant_emails: bool = False
    # Sandbox only: "real" makes the built-in emulator as unkind as Zoom (hidden external identities,
    # new guest ids on every rejoin, waiting-room rows, no report below two participants); "kind"
    # tells everything (for demos and tests that need it).
    sandbox_behaviour: Literal["real", "kind"] = "real"
