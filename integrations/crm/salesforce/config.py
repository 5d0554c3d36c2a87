"""`crm.salesforce`: which org may send Outbound Messages, how salesmeet gets a token, and which
fields of which sObject the measured outcome is written to."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from integrations.crm.mapping import CancelledWhen, CrmMapping
from integrations.crm.plugin import CrmSection
from integrations.crm.salesforce.client import DEFAULT_API_VERSION, check_api_version
from service.config.fields import ExistingFile, HttpEndpoint, NonEmptyText, config_error
from service.config.sections import Section

# An org id is 15 case-sensitive characters, or those plus a 3-character checksum (always sent).
_ORGANIZATION_ID = re.compile(r"^00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")

# An Outbound Message on Event with these fields chosen (custom ones the admin adds; see
# docs/crm-salesforce.md). An Outbound Message only carries the Event's own fields, so the owner's
# e-mail and the attendees' come from text fields a Flow fills before the message fires.
DEFAULT_MAPPING = CrmMapping(
    object_id="Id",
    title="Subject",
    default_title="Sales meeting",
    start="StartDateTime",
    duration_minutes="DurationInMinutes",
    end="EndDateTime",
    timezone="Salesmeet_Timezone__c",
    organizer="Salesmeet_Organizer_Email__c",
    attendees="Salesmeet_Attendee_Emails__c",
    kind=None,
    cancelled=CancelledWhen(property="Salesmeet_Cancelled__c", values=("true",)),
    version="LastModifiedDate",
    context={"what_id": "WhatId", "who_id": "WhoId"},
)


class AuthMode(StrEnum):
    # OAuth client credentials of an External Client App (or connected app) with a run-as user.
    CLIENT_CREDENTIALS = "client_credentials"
    # An RS256 assertion signed with the private key whose certificate the app holds.
    JWT_BEARER = "jwt_bearer"


class WriteBackFields(Section):
    """The API names of the fields salesmeet writes; a field set to null is not written."""

    outcome: str | None = "Salesmeet_Outcome__c"
    attended_minutes: str | None = "Salesmeet_Minutes__c"
    host_no_show: str | None = "Salesmeet_Host_No_Show__c"
    customer_no_show: str | None = "Salesmeet_Customer_No_Show__c"
    actual_start: str | None = "Salesmeet_Actual_Start__c"
    actual_end: str | None = "Salesmeet_Actual_End__c"
    # Who came, as text (at most 255 characters).
    attendance: str | None = "Salesmeet_Attendance__c"
    join_url: str | None = "Salesmeet_Join_Url__c"

    @field_validator("*")
    @classmethod
    def _api_name(cls, value: str | None) -> str | None:
        if value is not None and not _FIELD_NAME.match(value):
            raise config_error("invalid_field_name", "not a Salesforce field API name: {name}", name=value)
        return value


class OutcomeValues(Section):
    """What the outcome field holds for each outcome (a picklist's values, say)."""

    completed: str = "Completed"
    customer_no_show: str = "Customer no-show"
    host_no_show: str = "Host no-show"
    cancelled: str = "Cancelled"


class SalesforceConfig(CrmSection):
    mapping: CrmMapping = DEFAULT_MAPPING
    # Outbound Messages from any other org are refused (they carry no signature).
    organization_id: str | None = None
    auth: AuthMode = AuthMode.CLIENT_CREDENTIALS
    client_id: NonEmptyText | None = None
    # The org's My Domain URL: client credentials get their token there.
    instance_url: HttpEndpoint | None = None
    # The JWT bearer flow's token host and `aud` (https://test.salesforce.com for a sandbox org).
    login_url: HttpEndpoint = "https://login.salesforce.com"
    # jwt_bearer: the run-as user and the PEM private key file (relative to the config file).
    username: NonEmptyText | None = None
    private_key_file: ExistingFile | None = None
    api_version: str = DEFAULT_API_VERSION
    # The record written back: this sObject, with the id the record's context holds under
    # `write_back_id_from` (e.g. `what_id` for the Opportunity), else the notified record's own id.
    write_back_object: str = "Event"
    write_back_id_from: str | None = None
    write_back_fields: WriteBackFields = Field(default_factory=WriteBackFields)
    outcome_values: OutcomeValues = Field(default_factory=OutcomeValues)

    @field_validator("organization_id")
    @classmethod
    def _organization_id(cls, value: str | None) -> str | None:
        if value is not None and not _ORGANIZATION_ID.match(value.strip()):
            raise config_error(
                "invalid_organization_id",
                "not a Salesforce organization id (00D followed by 12 or 15 letters and digits): {value}",
                value=value[:40],
            )
        return value.strip() if value is not None else None

    @field_validator("api_version")
    @classmethod
    def _api_version(cls, value: str) -> str:
        try:
            return check_api_version(value)
        except ValueError as exc:
            raise config_error("invalid_api_version", str(exc)) from exc

    @field_validator("write_back_object")
    @classmethod
    def _sobject(cls, value: str) -> str:
        if not _FIELD_NAME.match(value):
            raise config_error("invalid_sobject", "not an sObject API name: {name}", name=value[:80])
        return value

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> SalesforceConfig:
        if not self.enabled:
            return self
        if self.organization_id is None:
            raise config_error(
                "missing_organization_id",
                "organization_id is required when crm.salesforce is enabled (Setup > Company Information)",
            )
        if self.sandbox:
            return self
        missing = [name for name in self.needed_keys() if getattr(self, name) is None]
        if missing:
            raise config_error(
                "missing_setting",
                "{names} required when crm.salesforce is enabled with auth {auth}",
                names=", ".join(missing),
                auth=self.auth.value,
            )
        return self

    def needed_keys(self) -> tuple[str, ...]:
        if self.auth is AuthMode.JWT_BEARER:
            return ("client_id", "username", "private_key_file")
        return ("client_id", "instance_url")

    @property
    def token_url(self) -> str:
        host = self.login_url if self.auth is AuthMode.JWT_BEARER else (self.instance_url or self.login_url)
        return f"{host.rstrip('/')}/services/oauth2/token"
