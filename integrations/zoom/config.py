"""`providers.zoom` in the config file: the Server-to-Server OAuth app and meeting defaults."""

from __future__ import annotations

from typing import ClassVar

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
