"""`TeamsProvider`: the `MeetingProvider` port on Microsoft Graph (msal app-only tokens + httpx).

Meetings are standalone online meetings of the organizer (`/users/{id}/onlineMeetings`), made
with `createOrGet` keyed by our meeting's idempotency key as `externalId`, so a retried create
can never make a second meeting. Attendance comes from the meeting's attendance reports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

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
from integrations.teams import mapping
from integrations.teams.client import EntraApp, GraphApi, GraphTokens
from integrations.teams.config import TeamsConfig
from integrations.teams.errors import TEAMS
from integrations.teams.mapping import MeetingRef
from service.domain.meeting import ProviderName

# More pages than this means a paging loop, not a meeting.
_MAX_PAGES = 1000


def json_object(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderUnavailable(
            TEAMS, f"unreadable answer (HTTP {response.status_code}, not JSON)"
        ) from exc
    if not isinstance(body, dict):
        raise ProviderUnavailable(TEAMS, "unreadable answer (JSON is not an object)")
    return body


def _ref(provider_meeting_id: str) -> MeetingRef:
    try:
        return MeetingRef.parse(provider_meeting_id)
    except ValueError as exc:
        raise ProviderRejected(TEAMS, str(exc)) from exc


def _meeting_path(ref: MeetingRef) -> str:
    return f"users/{quote(ref.organizer_id, safe='')}/onlineMeetings/{quote(ref.online_meeting_id, safe='')}"


class TeamsProvider:
    """Online meetings hosted by the organizer's Entra user. Nothing touches the network until
    the first call (msal's discovery request included)."""

    name = ProviderName.TEAMS

    def __init__(
        self, settings: TeamsConfig, client_secret: str, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._settings = settings
        self.api = GraphApi(
            settings, GraphTokens(settings, EntraApp.of(settings, client_secret)), sleep=sleep
        )
        self._user_ids: dict[str, str] = {}
        self._user_ids_lock = threading.Lock()

    def close(self) -> None:
        self.api.close()

    def user_id(self, email: str) -> str:
        """The Entra object id of the user with this e-mail (UPN); cached, ids never change."""
        key = email.strip().lower()
        with self._user_ids_lock:
            known = self._user_ids.get(key)
        if known is not None:
            return known
        try:
            body = json_object(
                self.api.call("GET", f"users/{quote(key, safe='@')}", params={"$select": "id"})
            )
        except ProviderNotFound as exc:
            raise ProviderNotFound(TEAMS, f"no Teams user for the organizer {key}", status=404) from exc
        found = body.get("id")
        if not isinstance(found, str) or not found:
            raise ProviderUnavailable(TEAMS, "Graph's user has no id")
        with self._user_ids_lock:
            self._user_ids[key] = found
        return found

    @staticmethod
    def _provider_meeting(organizer_id: str, response: httpx.Response) -> ProviderMeeting:
        try:
            return mapping.provider_meeting(organizer_id, json_object(response))
        except ValueError as exc:
            raise ProviderUnavailable(TEAMS, str(exc)) from exc

    def create_meeting(self, request: MeetingRequest) -> ProviderMeeting:
        organizer_id = self.user_id(request.organizer.email)
        # createOrGet is idempotent by externalId, so even a timed-out create may be retried.
        response = self.api.call(
            "POST",
            f"users/{quote(organizer_id, safe='')}/onlineMeetings/createOrGet",
            json=mapping.create_body(request),
        )
        return self._provider_meeting(organizer_id, response)

    def update_meeting(self, provider_meeting_id: str, request: MeetingRequest) -> ProviderMeeting:
        ref = _ref(provider_meeting_id)
        response = self.api.call("PATCH", _meeting_path(ref), json=mapping.meeting_fields(request))
        return self._provider_meeting(ref.organizer_id, response)

    def cancel_meeting(self, provider_meeting_id: str, extra: Mapping[str, str] | None = None) -> None:
        ref = _ref(provider_meeting_id)
        try:
            self.api.call("DELETE", _meeting_path(ref))
        except ProviderNotFound:
            return  # Already gone (deleted before, or a retry of a delete that went through).

    def fetch_attendance(self, provider_meeting_id: str, instance: str | None = None) -> AttendanceReport:
        """Every attendance report of the meeting (Graph makes one per session of it) as one.

        `instance` is not used: Teams has no instance ids; a meeting's reports span all its
        sessions. No report yet (the meeting has not ended, or Graph is still making it) is
        `ProviderNotFound`, which reconciliation tries again later.
        """
        ref = _ref(provider_meeting_id)
        path = f"{_meeting_path(ref)}/attendanceReports"
        listing = json_object(self.api.call("GET", path))
        reports = [
            r for r in listing.get("value") or [] if isinstance(r, dict) and isinstance(r.get("id"), str)
        ]
        if not reports:
            raise ProviderNotFound(TEAMS, "no attendance report for this meeting yet", status=404)
        sessions: list[ReportedSession] = []
        for report in reports:
            records = self.all_pages(f"{path}/{quote(report['id'], safe='')}/attendanceRecords")
            sessions.extend(mapping.reported_sessions(records))
        return mapping.attendance_report(reports, sessions)

    def all_pages(
        self, path: str, first: Mapping[str, Any] | None = None, key: str = "value"
    ) -> list[dict[str, Any]]:
        """Every row of a listing, following `@odata.nextLink` (or `{key}@odata.nextLink`)."""
        rows: list[dict[str, Any]] = []
        page = first if first is not None else json_object(self.api.call("GET", path))
        for _ in range(_MAX_PAGES):
            found = page.get(key)
            if isinstance(found, list):
                rows.extend(row for row in found if isinstance(row, dict))
            next_link = page.get(f"{key}@odata.nextLink") if key != "value" else None
            next_link = next_link or page.get("@odata.nextLink")
            if not isinstance(next_link, str) or not next_link:
                return rows
            page = json_object(self.api.call("GET", next_link))
            key = "value"  # a next page of an expanded listing is a plain listing
        raise ProviderUnavailable(TEAMS, f"{path} did not end after {_MAX_PAGES} pages")

    def check_health(self) -> ProviderHealth:
        try:
            self.api.token()
        except ProviderError as exc:
            return ProviderHealth(token_obtainable=False, detail=f"{exc.code}: {exc.message}")
        return ProviderHealth(token_obtainable=True)
