"""`ZoomProvider`: the `MeetingProvider` port implemented on zoomus (Server-to-Server OAuth)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import requests

from integrations.base import (
    AttendanceReport,
    AttendeeRegistration,
    MeetingRequest,
    ProviderCreateUnfinished,
    ProviderError,
    ProviderHealth,
    ProviderMeeting,
    ProviderNotFound,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderUnavailable,
)
from integrations.zoom import mapping
from integrations.zoom.client import ZoomApi, ZoomApp, ZoomCall
from integrations.zoom.config import ZoomConfig
from integrations.zoom.errors import ZOOM
from service.domain.meeting import ProviderName

# A participants report longer than this many pages means a paging loop, not a meeting.
_MAX_REPORT_PAGES = 1000
# Pages of a host's scheduled meetings read when looking for a create that got no answer.
_MAX_LIST_PAGES = 50
# Registrants per page when listing them (Zoom's maximum).
_REGISTRANT_PAGE_SIZE = 300


def _json_object(response: requests.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderUnavailable(ZOOM, f"unreadable answer (HTTP {response.status_code}, not JSON)") from exc
    if not isinstance(body, dict):
        raise ProviderUnavailable(ZOOM, "unreadable answer (JSON is not an object)")
    return body


def _meeting_id(provider_meeting_id: str) -> str:
    if not provider_meeting_id.isdigit():
        raise ProviderRejected(ZOOM, f"not a Zoom meeting id: {provider_meeting_id!r}")
    return provider_meeting_id


def _add_registrant(meeting_id: str, fields: Mapping[str, Any]) -> ZoomCall:
    def call(zc: Any) -> requests.Response:
        response: requests.Response = zc.meeting.add_registrant(id=meeting_id, **fields)
        return response

    return call


def _list_registrants(meeting_id: str, params: Mapping[str, Any]) -> ZoomCall:
    def call(zc: Any) -> requests.Response:
        response: requests.Response = zc.meeting.list_registrants(id=meeting_id, **params)
        return response

    return call


class ZoomProvider:
    """Meetings hosted by the organizer's Zoom user (`users/{email}/meetings`).

    Nothing touches the network until the first call; the zoomus client is built then.
    """

    name = ProviderName.ZOOM

    def __init__(
        self,
        settings: ZoomConfig,
        client_secret: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._now = now
        self._api = ZoomApi(
            settings, ZoomApp.of(settings, client_secret), sleep=sleep, monotonic=monotonic, now=now
        )

    def _meeting(self, meeting_id: str) -> ProviderMeeting:
        response = self._api.call(lambda zc: zc.meeting.get(id=meeting_id), idempotent=True)
        return self._provider_meeting(response)

    @staticmethod
    def _provider_meeting(response: requests.Response) -> ProviderMeeting:
        try:
            return mapping.provider_meeting(_json_object(response))
        except ValueError as exc:
            raise ProviderUnavailable(ZOOM, str(exc)) from exc

    def create_meeting(self, request: MeetingRequest) -> ProviderMeeting:
        """Zoom's create is not idempotent: a create that got no answer may have happened, so its
        meeting is looked for (host, topic, start, duration, created since it was sent) before
        anything is created again. Not settling that raises `ProviderOutcomeUnknown`; a meeting
        made whose registrants could not all be added raises `ProviderCreateUnfinished`, and the
        retry that finds it adds the rest."""
        made: ProviderMeeting | None = None
        if request.maybe_created_since is not None:
            made = self._find_created(request, request.maybe_created_since)
        fresh = made is None
        if made is None:
            made = self._create(request)
        if not mapping.registers_attendees(request, self._settings):
            return made
        try:
            already = [] if fresh else self._registrants(made.provider_meeting_id)
            registered = self._sync_registrants(made.provider_meeting_id, request, already=already)
        except ProviderError as exc:
            raise ProviderCreateUnfinished(made.provider_meeting_id, exc) from exc
        return replace(made, registrations=tuple(registered))

    def _create(self, request: MeetingRequest) -> ProviderMeeting:
        fields = mapping.create_fields(request, self._settings)
        host = request.organizer.email
        sent_at = self._now()
        try:
            response = self._api.call(lambda zc: zc.meeting.create(user_id=host, **fields), idempotent=False)
        except ProviderOutcomeUnknown:
            found = self._find_created(request, sent_at)
            if found is None:
                raise
            return found
        return self._provider_meeting(response)

    def _find_created(self, request: MeetingRequest, since: datetime) -> ProviderMeeting | None:
        """The meeting an unanswered create made, if Zoom lists it; ProviderOutcomeUnknown when
        the listing itself fails (then nobody knows yet)."""
        host = request.organizer.email
        page_token = ""
        try:
            for _ in range(_MAX_LIST_PAGES):
                page = _json_object(self._api.call(_list_page(host, page_token), idempotent=True))
                found = mapping.created_by(page.get("meetings"), request, since)
                if found is not None:
                    return self._meeting(found)
                page_token = str(page.get("next_page_token") or "")
                if not page_token:
                    return None
        except ProviderError as exc:
            raise ProviderOutcomeUnknown(
                ZOOM, f"a create got no answer and its meeting could not be looked for ({exc.code})"
            ) from exc
        raise ProviderOutcomeUnknown(ZOOM, "a create got no answer and the host's meetings did not end")

    def update_meeting(self, provider_meeting_id: str, request: MeetingRequest) -> ProviderMeeting:
        meeting_id = _meeting_id(provider_meeting_id)
        fields = mapping.schedule_fields(request, self._settings)
        # PATCH changes the meeting in place (204); read it back for the current join data.
        self._api.call(lambda zc: zc.meeting.update(id=meeting_id, **fields), idempotent=True)
        made = self._meeting(meeting_id)
        if not mapping.registers_attendees(request, self._settings):
            return made
        registered = self._sync_registrants(meeting_id, request, already=self._registrants(meeting_id))
        return replace(made, registrations=tuple(registered))

    def _sync_registrants(
        self, meeting_id: str, request: MeetingRequest, already: list[AttendeeRegistration]
    ) -> list[AttendeeRegistration]:
        """Register every external attendee not registered yet and cancel those no longer invited;
        returns every external attendee's registration."""
        wanted = mapping.external_attendees(request)
        wanted_emails = {email for email, _ in wanted}
        known = {r.email: r for r in already}
        gone = [r for r in already if r.email not in wanted_emails]
        if gone:
            body = [{"id": r.registrant_id, "email": r.email} for r in gone]
            self._api.call(
                lambda zc: zc.meeting.update_registrant_status(
                    id=meeting_id, action="cancel", registrants=body
                ),
                idempotent=True,
            )
        registered = []
        for email, name in wanted:
            if email in known:
                registered.append(known[email])
                continue
            fields = mapping.registrant_fields(email, name)
            # Adding a registrant twice gives the same registration back, so a retry is harmless.
            response = self._api.call(_add_registrant(meeting_id, fields), idempotent=True)
            try:
                registered.append(mapping.registration(email, _json_object(response)))
            except ValueError as exc:
                raise ProviderUnavailable(ZOOM, str(exc)) from exc
        return registered

    def _registrants(self, meeting_id: str) -> list[AttendeeRegistration]:
        found: list[AttendeeRegistration] = []
        page_token = ""
        for _ in range(_MAX_REPORT_PAGES):
            params = {"page_size": _REGISTRANT_PAGE_SIZE, "next_page_token": page_token, "status": "approved"}
            page = _json_object(self._api.call(_list_registrants(meeting_id, params), idempotent=True))
            try:
                found.extend(mapping.listed_registrations(page))
            except ValueError as exc:
                raise ProviderUnavailable(ZOOM, str(exc)) from exc
            page_token = str(page.get("next_page_token") or "")
            if not page_token:
                return found
        raise ProviderUnavailable(ZOOM, "registrants list did not end after many pages")

    def cancel_meeting(self, provider_meeting_id: str, extra: Mapping[str, str] | None = None) -> None:
        meeting_id = _meeting_id(provider_meeting_id)
        try:
            self._api.call(lambda zc: zc.meeting.delete(id=meeting_id), idempotent=True)
        except ProviderNotFound:
            return  # Already gone (deleted before, or a retry of a delete that went through).

    def fetch_attendance(self, provider_meeting_id: str, instance: str | None = None) -> AttendanceReport:
        """The report for one instance (its uuid), or for every ended instance of the meeting.

        A Zoom meeting id gets a new instance each time the host starts it again (a dropped host,
        a restart): the meeting's attendance spans all of them. Zoom's numeric-id report covers only
        the latest instance, so the past instances are listed and each one's report is merged.
        """
        if instance is not None:
            return self._instance_report(instance, instance)
        meeting_id = _meeting_id(provider_meeting_id)
        listing = _json_object(
            self._api.call(lambda zc: zc.past_meeting.list(meeting_id=meeting_id), idempotent=True)
        )
        uuids = mapping.past_instance_uuids(listing)
        if not uuids:
            return self._instance_report(meeting_id, None)  # the latest instance; its detail names it
        reports = []
        for uuid in uuids:
            try:
                reports.append(self._instance_report(uuid, uuid))
            except ProviderNotFound:
                # Zoom keeps no report of an instance with fewer than two participants; its
                # webhooks stand for it (the merged report names none of its people).
                continue
        if not reports:
            raise ProviderNotFound(ZOOM, "no participants report exists for any instance of this meeting")
        return mapping.merge_reports(reports)

    def _instance_report(self, meeting_id_or_uuid: str, instance: str | None) -> AttendanceReport:
        ref = mapping.report_path_ref(meeting_id_or_uuid)
        detail = _json_object(
            self._api.call(lambda zc: zc.report.get_request(f"/report/meetings/{ref}"), idempotent=True)
        )
        rows: list[Mapping[str, Any]] = []
        page_token = ""
        for _ in range(_MAX_REPORT_PAGES):
            page = _json_object(self._api.call(self._participants_page(ref, page_token), idempotent=True))
            participants = page.get("participants")
            if isinstance(participants, list):
                rows.extend(row for row in participants if isinstance(row, dict))
            page_token = str(page.get("next_page_token") or "")
            if not page_token:
                break
        else:
            raise ProviderUnavailable(ZOOM, "participants report did not end after many pages")
        try:
            return mapping.attendance_report(detail, rows, instance)
        except ValueError as exc:
            raise ProviderUnavailable(ZOOM, f"unreadable report ({exc})") from exc

    def _participants_page(self, ref: str, page_token: str) -> ZoomCall:
        params = {"page_size": self._settings.report_page_size, "next_page_token": page_token}

        def call(zc: Any) -> requests.Response:
            response: requests.Response = zc.report.get_request(
                f"/report/meetings/{ref}/participants", params=params
            )
            return response

        return call

    def check_health(self) -> ProviderHealth:
        try:
            self._api.fetch_token()
        except ProviderError as exc:
            return ProviderHealth(token_obtainable=False, detail=f"{exc.code}: {exc.message}")
        return ProviderHealth(token_obtainable=True)


def _list_page(host: str, page_token: str) -> ZoomCall:
    """One page of the host's scheduled meetings ("List meetings")."""
    params = {"type": "scheduled", "page_size": 300, "next_page_token": page_token}

    def call(zc: Any) -> requests.Response:
        response: requests.Response = zc.meeting.list(user_id=host, **params)
        return response

    return call
