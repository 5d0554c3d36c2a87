"""Loopback Salesforce emulator: OAuth token endpoint, sObjects REST, and an outbound-message sender."""

from integrations.sandbox.clock import ManualClock
from integrations.sandbox.salesforce.app import create_salesforce_emulator, emulator_state
from integrations.sandbox.salesforce.config import DEFAULT_OBJECTS, FieldType, SalesforceEmulatorConfig
from integrations.sandbox.salesforce.keys import SigningKey, new_signing_key
from integrations.sandbox.salesforce.outbound import (
    NotificationState,
    OutboundMessageSender,
    QueuedNotification,
    RetryPolicy,
)
from integrations.sandbox.salesforce.state import (
    REQUEST_LIMIT_EXCEEDED,
    SERVER_UNAVAILABLE,
    InjectedFault,
    SalesforceEmulatorState,
    too_many_requests,
)

__all__ = [
    "DEFAULT_OBJECTS",
    "REQUEST_LIMIT_EXCEEDED",
    "SERVER_UNAVAILABLE",
    "FieldType",
    "InjectedFault",
    "ManualClock",
    "NotificationState",
    "OutboundMessageSender",
    "QueuedNotification",
    "RetryPolicy",
    "SalesforceEmulatorConfig",
    "SalesforceEmulatorState",
    "SigningKey",
    "create_salesforce_emulator",
    "emulator_state",
    "new_signing_key",
    "too_many_requests",
]
