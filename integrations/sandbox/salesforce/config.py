"""What an emulated Salesforce org looks like: its id, connected app, objects and fields, limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from integrations.sandbox.clock import Clock, utc_now


class FieldType(StrEnum):
    STRING = "string"
    TEXTAREA = "textarea"
    DATETIME = "datetime"
    INT = "int"
    DOUBLE = "double"
    BOOLEAN = "boolean"
    REFERENCE = "reference"


# Fields an admin can write, per object, as the REST API validates them (custom ones end in __c).
_ACTIVITY_CUSTOM = {
    "Salesmeet_Attendance__c": FieldType.STRING,
    "Salesmeet_Minutes__c": FieldType.DOUBLE,
    "Salesmeet_Join_Url__c": FieldType.STRING,
    "Salesmeet_Outcome__c": FieldType.STRING,
    "Salesmeet_Host_No_Show__c": FieldType.BOOLEAN,
    "Salesmeet_Customer_No_Show__c": FieldType.BOOLEAN,
    "Salesmeet_Actual_Start__c": FieldType.DATETIME,
    "Salesmeet_Actual_End__c": FieldType.DATETIME,
    # What the admin's Flow fills for the Outbound Message (see docs/crm-salesforce.md).
    "Salesmeet_Organizer_Email__c": FieldType.STRING,
    "Salesmeet_Attendee_Emails__c": FieldType.TEXTAREA,
    "Salesmeet_Timezone__c": FieldType.STRING,
    "Salesmeet_Cancelled__c": FieldType.BOOLEAN,
}
DEFAULT_OBJECTS: Mapping[str, Mapping[str, FieldType]] = MappingProxyType(
    {
        "Event": MappingProxyType(
            {
                "Subject": FieldType.STRING,
                "StartDateTime": FieldType.DATETIME,
                "EndDateTime": FieldType.DATETIME,
                "DurationInMinutes": FieldType.INT,
                "Location": FieldType.STRING,
                "Description": FieldType.TEXTAREA,
                "WhatId": FieldType.REFERENCE,
                "WhoId": FieldType.REFERENCE,
                "OwnerId": FieldType.REFERENCE,
                "ShowAs": FieldType.STRING,
                **_ACTIVITY_CUSTOM,
            }
        ),
        "Opportunity": MappingProxyType(
            {
                "Name": FieldType.STRING,
                "StageName": FieldType.STRING,
                "CloseDate": FieldType.STRING,
                "Description": FieldType.TEXTAREA,
                "OwnerId": FieldType.REFERENCE,
                **_ACTIVITY_CUSTOM,
            }
        ),
    }
)
# The 3-character key prefix that starts every record id of an object.
KEY_PREFIXES: Mapping[str, str] = MappingProxyType({"Event": "00U", "Opportunity": "006"})


@dataclass(frozen=True)
class SalesforceEmulatorConfig:
    organization_id: str = "00D5g000004SbxQEAS"
    client_id: str = "3MVG9sandboxConsumerKey"
    client_secret: str = "sandbox-consumer-secret"  # noqa: S105 - sandbox credential, not a real secret
    # The run-as user of the client-credentials flow, and the only `sub` the JWT flow accepts.
    username: str = "integration@acme.example"
    # PEM of the certificate uploaded to the connected app; None turns the JWT bearer flow off.
    jwt_certificate_pem: bytes | None = field(default=None, repr=False)
    jwt_audiences: tuple[str, ...] = ("https://login.salesforce.com", "https://test.salesforce.com")
    # A JWT whose exp is further ahead than this is refused, as Salesforce does (3 minutes).
    jwt_max_lifetime_seconds: int = 180
    # Sessions end after this long without use (the org's session timeout, 2 h by default).
    session_timeout_seconds: int = 2 * 3600
    daily_api_limit: int = 100_000
    objects: Mapping[str, Mapping[str, FieldType]] = field(default_factory=lambda: DEFAULT_OBJECTS)
    # The `instance_url` of token answers; None means "this emulator's own origin".
    instance_url: str | None = None
    # Where outbound messages go, and how they are retried (see outbound.py).
    outbound_target_url: str | None = None
    outbound_answer_timeout: float = 60.0
    seed: int = 0
    clock: Clock = field(default=utc_now, compare=False)
