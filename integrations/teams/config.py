"""`providers.teams` in the config file: the Entra app registration, Graph endpoints, retries and
the callRecords subscription's lifetime."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from service.config.fields import ExistingFile, HttpEndpoint, NonEmptyText, config_error
from service.config.sections import ProviderSection

# Graph keeps a callRecords subscription at most 4,230 minutes (just under 3 days).
MAX_CALL_RECORDS_SUBSCRIPTION_MINUTES = 4230


class TeamsConfig(ProviderSection):
    required_when_live: ClassVar[tuple[str, ...]] = ("tenant_id", "client_id")

    tenant_id: NonEmptyText | None = None
    client_id: NonEmptyText | None = None
    authority_url: HttpEndpoint = "https://login.microsoftonline.com"
    graph_base_url: HttpEndpoint = "https://graph.microsoft.com/v1.0"
    ca_bundle: ExistingFile | None = None
    # Retries after the first try for retryable failures (429, 5xx, connection failures).
    max_retries: int = Field(3, ge=0)
    retry_base_delay_seconds: float = Field(0.5, ge=0, allow_inf_nan=False)
    # Longest single wait between retries, whatever Retry-After asks for.
    max_retry_wait_seconds: float = Field(30.0, ge=0, allow_inf_nan=False)
    # How long each callRecords subscription is asked for, and how long before its expiry it is renewed.
    subscription_lifetime_minutes: int = Field(4200, ge=10, le=MAX_CALL_RECORDS_SUBSCRIPTION_MINUTES)
    subscription_renew_before_minutes: int = Field(1440, ge=5)

    @model_validator(mode="after")
    def _renewed_before_expiry(self) -> TeamsConfig:
        if self.subscription_renew_before_minutes >= self.subscription_lifetime_minutes:
            raise config_error(
                "renew_after_expiry",
                "subscription_renew_before_minutes ({before}) must be less than "
                "subscription_lifetime_minutes ({lifetime})",
                before=str(self.subscription_renew_before_minutes),
                lifetime=str(self.subscription_lifetime_minutes),
            )
        return self
