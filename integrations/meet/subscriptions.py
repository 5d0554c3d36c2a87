"""Workspace Events subscriptions that bring Meet's events to our Pub/Sub topic.

One subscription per organizer, on them as a user (`//cloudidentity.googleapis.com/users/{id}`):
it covers every meeting whose space they own, including the ones salesmeet creates on their
behalf, without a subscription per space. Each is created (and renewed, and deleted) impersonating
that user, as Google requires for user targets. Creates, renewals and deletes answer with an
Operation; an unfinished one is read again until it is done.

The renewal asks for `ttl: 0s`, i.e. the longest life Google allows (its `expireTime` is trusted).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from integrations.base import (
    ProviderNotFound,
    ProviderRejected,
    ProviderSubscription,
    ProviderUnavailable,
)
from integrations.meet.client import WORKSPACE_EVENTS, GoogleApis
from integrations.meet.directory import DirectoryEmails
from integrations.meet.errors import MEET
from integrations.meet.mapping import parse_google_time

USER_TARGET = "//cloudidentity.googleapis.com/users/"
EVENT_TYPES = (
    "google.workspace.meet.conference.v2.started",
    "google.workspace.meet.conference.v2.ended",
    "google.workspace.meet.participant.v2.joined",
    "google.workspace.meet.participant.v2.left",
)
_OPERATION_READS = 10
_OPERATION_INTERVAL_SECONDS = 0.5


def _operation_get(name: str) -> Callable[[Any], Any]:
    return lambda service: service.operations().get(name=name)


class MeetSubscriptions:
    renew_before = timedelta(hours=12)

    def __init__(
        self,
        apis: GoogleApis,
        directory: DirectoryEmails,
        users: Sequence[str],
        pubsub_topic: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._apis = apis
        self._directory = directory
        self._users = tuple(dict.fromkeys(u.lower() for u in users))
        self._topic = pubsub_topic
        self._sleep = sleep

    def wanted(self) -> Sequence[str]:
        return [USER_TARGET + self._directory.user_id_of(email) for email in self._users]

    def _subject(self, resource: str) -> str:
        if not resource.startswith(USER_TARGET):
            raise ProviderRejected(MEET, f"not a user subscription target: {resource}")
        email = self._directory.email_of(resource.removeprefix(USER_TARGET))
        if email is None:
            raise ProviderNotFound(MEET, f"no Workspace user for {resource}")
        return email

    def _call(self, subject: str, operation: Callable[[Any], Any]) -> dict[str, Any]:
        answer = self._apis.call(WORKSPACE_EVENTS, subject, operation)
        if not isinstance(answer, dict):
            raise ProviderUnavailable(MEET, "unreadable Workspace Events answer")
        return answer

    def _finished(self, subject: str, operation: dict[str, Any]) -> dict[str, Any]:
        """The operation's response once done (read again while it is not)."""
        for _ in range(_OPERATION_READS):
            if operation.get("done"):
                break
            self._sleep(_OPERATION_INTERVAL_SECONDS)
            operation = self._call(subject, _operation_get(str(operation.get("name") or "")))
        if not operation.get("done"):
            raise ProviderUnavailable(MEET, "the subscription operation has not finished")
        error = operation.get("error")
        if isinstance(error, dict):
            raise ProviderRejected(MEET, f"subscription operation failed: {error.get('message', '')}")
        response = operation.get("response")
        return response if isinstance(response, dict) else {}

    @staticmethod
    def _subscription(resource: str, document: dict[str, Any]) -> ProviderSubscription:
        name = document.get("name")
        expires_at = parse_google_time(document.get("expireTime"))
        if not isinstance(name, str) or not name or expires_at is None:
            raise ProviderUnavailable(MEET, "subscription answer without name or expireTime")
        return ProviderSubscription(resource, name, expires_at)

    def create(self, resource: str) -> ProviderSubscription:
        subject = self._subject(resource)
        body = {
            "targetResource": resource,
            "eventTypes": list(EVENT_TYPES),
            "notificationEndpoint": {"pubsubTopic": self._topic},
            "payloadOptions": {"includeResource": False},
            "ttl": "0s",
        }
        try:
            operation = self._call(subject, lambda s: s.subscriptions().create(body=body))
        except ProviderRejected as exc:
            if exc.status != 409:
                raise
            return self._existing(subject, resource)  # ALREADY_EXISTS: made before, by us
        return self._subscription(resource, self._finished(subject, operation))

    def _existing(self, subject: str, resource: str) -> ProviderSubscription:
        types = " OR ".join(f'event_types:"{t}"' for t in EVENT_TYPES)
        query = f'({types}) AND target_resource="{resource}"'
        listing = self._call(subject, lambda s: s.subscriptions().list(filter=query))
        for document in listing.get("subscriptions") or []:
            if isinstance(document, dict) and document.get("targetResource") == resource:
                return self._subscription(resource, document)
        raise ProviderUnavailable(MEET, f"subscription on {resource} exists but is not listed")

    def renew(self, subscription: ProviderSubscription) -> ProviderSubscription:
        subject = self._subject(subscription.resource)
        name = subscription.provider_subscription_id
        operation = self._call(
            subject, lambda s: s.subscriptions().patch(name=name, updateMask="ttl", body={"ttl": "0s"})
        )
        return self._subscription(subscription.resource, self._finished(subject, operation))

    def delete(self, subscription: ProviderSubscription) -> None:
        subject = self._subject(subscription.resource)
        name = subscription.provider_subscription_id
        try:
            self._finished(subject, self._call(subject, lambda s: s.subscriptions().delete(name=name)))
        except ProviderNotFound:
            return
