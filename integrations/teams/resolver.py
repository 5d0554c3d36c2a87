"""From a stored Teams notification batch to attendance events (the plugin's resolver).

A callRecords notification names a call record only. The resolver fetches it with its sessions
(all pages), finds the online meeting it belongs to, and returns the meeting's start and end (the
record's) and every session's join and leave. Lifecycle items are acted on instead:
`reauthorizationRequired` reauthorizes the subscription.

Call record -> online meeting: the record's `joinWebUrl` and organizer (`organizer_v2`) find the
meeting with `GET /users/{organizer}/onlineMeetings?$filter=JoinWebUrl eq '...'`; its Graph id
and the organizer make our provider meeting id, exactly as create returned it. A record without
a join URL (a one-to-one call) or whose meeting Graph cannot find (deleted) gives no events.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from urllib.parse import quote

import structlog

from integrations.base import ProviderNotFound, ProviderUnavailable
from integrations.teams import mapping
from integrations.teams.adapter import TeamsProvider, json_object
from integrations.teams.errors import TEAMS
from integrations.teams.mapping import MeetingRef
from integrations.teams.notifications import (
    NotificationError,
    call_record_id,
    lifecycle_event,
    parse_notifications,
)
from integrations.teams.subscriptions import TeamsSubscriptions
from service.domain.events import AttendanceEvent, UndecodableDelivery

log = structlog.get_logger("salesmeet.teams.resolver")

_MAX_CACHED_MEETINGS = 10_000


class CallRecordResolver:
    def __init__(self, provider: TeamsProvider, subscriptions: TeamsSubscriptions | None = None) -> None:
        self._provider = provider
        self._subscriptions = subscriptions
        self._meetings: dict[tuple[str, str], MeetingRef] = {}
        self._lock = threading.Lock()

    def resolve(self, body: bytes, headers: Mapping[str, str]) -> list[AttendanceEvent]:
        try:
            items = parse_notifications(body)
        except NotificationError as exc:
            raise UndecodableDelivery(f"teams: {exc}") from exc
        events: list[AttendanceEvent] = []
        done: set[str] = set()
        for item in items:
            lifecycle = lifecycle_event(item)
            if lifecycle is not None:
                self._lifecycle(lifecycle, item)
                continue
            record_id = call_record_id(item)
            if record_id is None:
                log.info("teams.notification_ignored", resource=str(item.get("resource"))[:200])
                continue
            if record_id not in done:  # a batch may name one record twice (created, updated)
                done.add(record_id)
                events.extend(self.call_record_events(record_id))
        return events

    def _lifecycle(self, event: str, item: Mapping[str, object]) -> None:
        subscription_id = item.get("subscriptionId")
        log.info("teams.lifecycle_event", lifecycle_event=event, subscription_id=subscription_id)
        if event == "reauthorizationRequired" and isinstance(subscription_id, str) and self._subscriptions:
            self._subscriptions.reauthorize(subscription_id)
        # `subscriptionRemoved` and `missed` do not apply to callRecords; a removed subscription
        # is recreated by the renewal job when its renewal finds it gone.

    def call_record_events(self, record_id: str) -> list[AttendanceEvent]:
        provider = self._provider
        path = f"communications/callRecords/{quote(record_id, safe='')}"
        try:
            record = json_object(
                provider.api.call("GET", path, params={"$expand": "sessions($expand=segments)"})
            )
        except ProviderNotFound as exc:
            # Graph announces a record before every replica can serve it: worth trying again.
            raise ProviderUnavailable(TEAMS, f"call record {record_id} not readable yet") from exc
        sessions = provider.all_pages(path, first=record, key="sessions")
        ref = self._meeting_of(record)
        if ref is None:
            return []
        return mapping.call_record_events(record, sessions, str(ref))

    def _meeting_of(self, record: Mapping[str, object]) -> MeetingRef | None:
        join_url = record.get("joinWebUrl")
        organizer = mapping.organizer_id(record)
        if not isinstance(join_url, str) or not join_url or organizer is None:
            log.info("teams.call_record_without_meeting", call_record_id=record.get("id"))
            return None
        key = (organizer, join_url)
        with self._lock:
            known = self._meetings.get(key)
        if known is not None:
            return known
        try:
            listing = json_object(
                self._provider.api.call(
                    "GET",
                    f"users/{quote(organizer, safe='')}/onlineMeetings",
                    params={"$filter": mapping.join_url_filter(join_url)},
                )
            )
        except ProviderNotFound:
            listing = {}
        found = [
            m for m in listing.get("value") or [] if isinstance(m, dict) and isinstance(m.get("id"), str)
        ]
        if not found:
            log.info("teams.call_record_meeting_not_found", call_record_id=record.get("id"))
            return None
        ref = MeetingRef(organizer, found[0]["id"])
        with self._lock:
            if len(self._meetings) >= _MAX_CACHED_MEETINGS:
                self._meetings.clear()
            self._meetings[key] = ref
        return ref
