"""`MeetProvider`: the `MeetingProvider` port on Google Calendar (events with a Meet conference)
and the Meet REST API v2 (attendance), through a service account with domain-wide delegation.

The provider meeting id is the Meet **meeting code** (`abc-defg-hij`): the Calendar conference's
`conferenceId`, and the code of the space Meet's events name, so events and meetings meet on it.
The Calendar event lives in the organizer's calendar (they are impersonated); its id is derived
from our meeting id, so a retried create finds the first event (and its one conference) and an
update needs no lookup. `extra` keeps `calendar_id` and `event_id` for the cancel.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from integrations.base import (
    AttendanceReport,
    MeetingRequest,
    ProviderError,
    ProviderHealth,
    ProviderMeeting,
    ProviderNotFound,
    ProviderRejected,
    ProviderUnavailable,
    ReportedSession,
)
from integrations.meet import mapping
from integrations.meet.client import CALENDAR, CALENDAR_SCOPE, MEET_REST, GoogleApis, unreadable
from integrations.meet.config import MeetConfig
from integrations.meet.directory import DirectoryEmails
from integrations.meet.errors import MEET
from service.domain.meeting import ProviderName

# More pages than this in one list means a paging loop, not a meeting.
_MAX_PAGES = 1000
# Each Meet list's own page-size maximum.
_RECORDS_MAX_PAGE = 100
_PARTICIPANTS_MAX_PAGE = 250


def _call_page(page: Callable[[Any, str | None], Any], token: str | None, service: Any) -> Any:
    return page(service, token)


def _as_object(answer: Any, what: str) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise unreadable(f"{what} is not a JSON object")
    return answer


class MeetProvider:
    """Nothing touches the network (or the key file) until the first call."""

    name = ProviderName.MEET

    def __init__(
        self,
        section: MeetConfig,
        service_account_file: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        apis: GoogleApis | None = None,
    ) -> None:
        if not section.delegated_user:
            raise ValueError("providers.meet needs delegated_user")
        self._section = section
        self._sleep = sleep
        self._apis = apis or GoogleApis(section, service_account_file, sleep=sleep)
        self._delegated_user: str = section.delegated_user
        self._directory = DirectoryEmails(self._apis, self._delegated_user)
        # Where each meeting this process made lives, for a cancel not told (see cancel_meeting).
        self._events: dict[str, tuple[str, str]] = {}
        self._events_lock = threading.Lock()

    @property
    def apis(self) -> GoogleApis:
        return self._apis

    @property
    def directory(self) -> DirectoryEmails:
        return self._directory

    # --- meetings ---------------------------------------------------------------------------

    def create_meeting(self, request: MeetingRequest) -> ProviderMeeting:
        organizer = request.organizer.email.lower()
        body = mapping.create_body(request)
        try:
            event = self._calendar(
                organizer,
                lambda s: s.events().insert(
                    calendarId="primary", body=body, conferenceDataVersion=1, sendUpdates="all"
                ),
            )
        except ProviderRejected as exc:
            if exc.status != 409:
                raise
            # An earlier try made it (its answer was lost): one event, one conference.
            event = self._existing_event(organizer, body["id"], request.idempotency_key)
        return self._remember(self._with_conference(organizer, event), organizer)

    def _existing_event(self, organizer: str, event_id: str, idempotency_key: str) -> dict[str, Any]:
        try:
            event = self._calendar(
                organizer, lambda s: s.events().get(calendarId="primary", eventId=event_id)
            )
        except ProviderNotFound as exc:
            raise ProviderRejected(
                MEET, f"calendar event {event_id} was made for this meeting and deleted since", status=409
            ) from exc
        if event.get("status") == "cancelled":
            raise ProviderRejected(
                MEET, f"calendar event {event_id} was made for this meeting and cancelled since", status=409
            )
        if mapping.conference_status(event) is None:
            conference = mapping.conference_create(idempotency_key)
            event = self._calendar(
                organizer,
                lambda s: s.events().patch(
                    calendarId="primary",
                    eventId=event_id,
                    body={"conferenceData": conference},
                    conferenceDataVersion=1,
                ),
            )
        return event

    def _with_conference(self, organizer: str, event: dict[str, Any]) -> dict[str, Any]:
        """The event once its conference is made: while Google says `pending`, read it again."""
        section = self._section
        for _ in range(section.conference_poll_attempts):
            if mapping.conference_status(event) != "pending":
                break
            self._sleep(section.conference_poll_interval_seconds)
            event = self._read_event(organizer, str(event.get("id") or ""))
        status = mapping.conference_status(event)
        if status == "pending":
            raise ProviderUnavailable(MEET, "the Meet conference is still being created; try again")
        if status != "success":
            raise ProviderUnavailable(MEET, f"Google could not create the Meet conference ({status})")
        return event

    def _read_event(self, organizer: str, event_id: str) -> dict[str, Any]:
        return self._calendar(organizer, lambda s: s.events().get(calendarId="primary", eventId=event_id))

    def _remember(self, event: dict[str, Any], organizer: str) -> ProviderMeeting:
        try:
            meeting = mapping.provider_meeting(event, organizer)
        except ValueError as exc:
            raise unreadable(str(exc)) from exc
        with self._events_lock:
            self._events[meeting.provider_meeting_id] = (organizer, meeting.extra["event_id"])
        return meeting

    def update_meeting(self, provider_meeting_id: str, request: MeetingRequest) -> ProviderMeeting:
        organizer = request.organizer.email.lower()
        event_id = mapping.calendar_event_id(request.idempotency_key)
        fields = mapping.schedule_fields(request)
        event = self._calendar(
            organizer,
            lambda s: s.events().patch(
                calendarId="primary",
                eventId=event_id,
                body=fields,
                conferenceDataVersion=1,
                sendUpdates="all",
            ),
        )
        meeting = self._remember(self._with_conference(organizer, event), organizer)
        if meeting.provider_meeting_id != provider_meeting_id:
            raise ProviderRejected(
                MEET,
                f"calendar event {event_id} holds meeting {meeting.provider_meeting_id}, "
                f"not {provider_meeting_id}",
            )
        return meeting

    def cancel_meeting(self, provider_meeting_id: str, extra: Mapping[str, str] | None = None) -> None:
        """Delete the calendar event (and so its invitations); one already gone counts as cancelled.

        The meeting code alone does not say whose calendar holds the event: `extra` (what the create
        returned) does, else this process's memory of what it made.
        """
        located = self._locate(provider_meeting_id, extra)
        if located is None:
            raise ProviderRejected(
                MEET, f"cannot tell which calendar holds meeting {provider_meeting_id} (pass its extra)"
            )
        calendar_id, event_id = located
        try:
            self._calendar(
                calendar_id,
                lambda s: s.events().delete(calendarId="primary", eventId=event_id, sendUpdates="all"),
            )
        except ProviderNotFound:
            return  # 404 unknown, 410 deleted before: gone either way

    def _locate(self, provider_meeting_id: str, extra: Mapping[str, str] | None) -> tuple[str, str] | None:
        if extra and extra.get("calendar_id") and extra.get("event_id"):
            return extra["calendar_id"], extra["event_id"]
        with self._events_lock:
            return self._events.get(provider_meeting_id)

    def _calendar(self, organizer: str, operation: Callable[[Any], Any]) -> dict[str, Any]:
        answer = self._apis.call(CALENDAR, organizer, operation)
        if answer == "" or answer is None:
            return {}  # a delete's empty answer
        return _as_object(answer, "calendar answer")

    # --- attendance -------------------------------------------------------------------------

    def fetch_attendance(self, provider_meeting_id: str, instance: str | None = None) -> AttendanceReport:
        """Every conference held in the meeting's space (or the one `instance` names), from
        conferenceRecords -> participants -> participantSessions, all pages of each."""
        if instance is not None:
            records = [self._meet(lambda s: s.conferenceRecords().get(name=instance))]
        else:
            code = provider_meeting_id.replace('"', "")
            records = self._all_pages(
                lambda s, token: s.conferenceRecords().list(
                    filter=f'space.meeting_code = "{code}"',
                    pageSize=min(self._section.page_size, _RECORDS_MAX_PAGE),
                    pageToken=token,
                ),
                "conferenceRecords",
            )
        sessions: list[ReportedSession] = []
        for record in records:
            sessions.extend(self._record_sessions(str(record.get("name") or "")))
        start, end = mapping.record_span(records)
        return AttendanceReport(
            actual_start=start,
            actual_end=end,
            sessions=tuple(
                sorted(sessions, key=lambda s: (s.joined_at, s.email or "", s.provider_participant_id or ""))
            ),
        )

    def _record_sessions(self, record_name: str) -> list[ReportedSession]:
        if not record_name:
            raise unreadable("conference record without a name")
        page_size = min(self._section.page_size, _PARTICIPANTS_MAX_PAGE)
        participants = self._all_pages(
            lambda s, token: (
                s.conferenceRecords()
                .participants()
                .list(parent=record_name, pageSize=page_size, pageToken=token)
            ),
            "participants",
        )
        found: list[ReportedSession] = []
        for participant in participants:
            try:
                identity = mapping.participant_identity(participant, self._directory.email_of)
            except ValueError as exc:
                raise unreadable(str(exc)) from exc
            parent = str(participant["name"])
            sessions = self._all_pages(self._sessions_page(parent, page_size), "participantSessions")
            found.extend(
                r for r in (mapping.reported_session(identity, s) for s in sessions) if r is not None
            )
        return found

    @staticmethod
    def _sessions_page(parent: str, page_size: int) -> Callable[[Any, str | None], Any]:
        def page(service: Any, token: str | None) -> Any:
            return (
                service.conferenceRecords()
                .participants()
                .participantSessions()
                .list(parent=parent, pageSize=page_size, pageToken=token)
            )

        return page

    def _meet(self, operation: Callable[[Any], Any]) -> dict[str, Any]:
        return _as_object(self._apis.call(MEET_REST, self._delegated_user, operation), "Meet answer")

    def meet_call(self, operation: Callable[[Any], Any]) -> dict[str, Any]:
        """One Meet REST call as the delegated user (the resolver's reads)."""
        return self._meet(operation)

    def _all_pages(self, page: Callable[[Any, str | None], Any], field: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(_MAX_PAGES):
            answer = self._meet(functools.partial(_call_page, page, token))
            rows = answer.get(field, [])
            if not isinstance(rows, list):
                raise unreadable(f"{field} is not a list")
            items.extend(row for row in rows if isinstance(row, dict))
            token = answer.get("nextPageToken") or None
            if token is None:
                return items
        raise ProviderUnavailable(MEET, f"{field} did not end after {_MAX_PAGES} pages")

    def check_health(self) -> ProviderHealth:
        try:
            self._apis.fetch_token(self._delegated_user, CALENDAR_SCOPE)
        except ProviderError as exc:
            return ProviderHealth(token_obtainable=False, detail=f"{exc.code}: {exc.message}")
        return ProviderHealth(token_obtainable=True)
