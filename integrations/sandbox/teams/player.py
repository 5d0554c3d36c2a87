"""The meeting player: plays a scripted Teams meeting, then does what Graph does after it ends.

A script is a list of steps with explicit datetimes (start, joins, leaves, rejoins, second
devices, end). Once it ends the player writes, as Graph would:
- a call record: one session per join (per device), each with its caller's identity as Graph
  shows it (a tenant user with UPN; another tenant's user with no UPN; a guest with a fresh id
  per join; a phone number);
- an attendance report on the online meeting: one record per person with its intervals;
- a change notification (`created`, and `updated` per later version) to every callRecords
  subscription, batched, with the subscription's `clientState`, under seeded faults (drop,
  duplicate, shuffle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from integrations.sandbox.teams.notifications import (
    BatchDelivery,
    Notification,
    NotificationFaults,
    NotificationSender,
    change_notification,
    lifecycle_notification,
)
from integrations.sandbox.teams.state import (
    AttendanceRecordData,
    AttendanceReportData,
    CallRecord,
    CallSession,
    OnlineMeeting,
    TeamsEmulatorState,
)
from service.domain.meeting import require_utc


class PersonKind(StrEnum):
    TENANT_USER = "user"  # a user of the organizer's tenant
    EXTERNAL_USER = "external"  # a user of another Entra tenant (federated)
    GUEST = "guest"  # anonymous, joined from the browser with a typed name
    PHONE = "phone"  # dialled in


@dataclass(frozen=True)
class ScriptPerson:
    name: str
    kind: PersonKind = PersonKind.TENANT_USER
    email: str | None = None
    object_id: str | None = None
    tenant_id: str | None = None  # for external users: their own tenant

    @property
    def truth_key(self) -> str:
        """Who this is, independent of any adapter: e-mail, else Entra object id, else name."""
        if self.email:
            return self.email.lower()
        if self.object_id:
            return f"oid:{self.object_id}"
        return f"name:{self.name}"


@dataclass(frozen=True)
class Start:
    at: datetime


@dataclass(frozen=True)
class Join:
    at: datetime
    who: ScriptPerson
    device: str = "desktop"


@dataclass(frozen=True)
class Leave:
    at: datetime
    who: ScriptPerson
    device: str = "desktop"


@dataclass(frozen=True)
class End:
    at: datetime


Step = Start | Join | Leave | End


class ScriptError(ValueError):
    """The script cannot have happened (leave without join, steps out of time order...)."""


@dataclass(frozen=True)
class TruthSession:
    joined_at: datetime
    left_at: datetime
    device: str


@dataclass(frozen=True)
class PlaySummary:
    meeting_id: str
    call_record_id: str
    report_id: str
    notifications: tuple[Notification, ...]  # what Graph meant to send
    deliveries: tuple[BatchDelivery, ...]  # what was posted (batches, duplicates included)
    dropped: tuple[Notification, ...]
    # Per ScriptPerson.truth_key: the sessions as they truly happened.
    ground_truth: dict[str, tuple[TruthSession, ...]] = field(default_factory=dict)


@dataclass
class _Open:
    who: ScriptPerson
    device: str
    joined_at: datetime


class MeetingPlayer:
    def __init__(
        self,
        state: TeamsEmulatorState,
        sender: NotificationSender | None = None,
        faults: NotificationFaults | None = None,
    ) -> None:
        self._state = state
        self._sender = sender
        self._faults = faults or NotificationFaults()

    def play(self, meeting_id: str, script: Sequence[Step], *, updates: int = 0) -> PlaySummary:
        """Play `script` on the online meeting; `updates` later versions of the call record are
        announced too (Graph may update a record after creating it)."""
        meeting = self._state.meeting(meeting_id)
        if meeting is None:
            raise ScriptError(f"no online meeting {meeting_id} in the emulator")
        start, end, sessions = _sessions(script)
        record = self._call_record(meeting, start, end, sessions)
        report = self._attendance_report(meeting, start, end, sessions)
        with self._state.lock:
            self._state.call_records[record.id] = record
            self._state.attendance_reports.setdefault(meeting.id, []).append(report)
        notifications = self._notifications(record.id, updates)
        deliveries: list[BatchDelivery] = []
        dropped: list[Notification] = []
        if self._sender is not None:
            deliveries, dropped = self._sender.send(notifications, self._faults)
            for delivery in deliveries:
                if not delivery.delivered:
                    dropped.extend(n for n in notifications if n.item in delivery.items)
        truth: dict[str, list[TruthSession]] = {}
        for who, device, joined, left in sessions:
            truth.setdefault(who.truth_key, []).append(TruthSession(joined, left, device))
        return PlaySummary(
            meeting_id=meeting.id,
            call_record_id=record.id,
            report_id=report.id,
            notifications=tuple(notifications),
            deliveries=tuple(deliveries),
            dropped=tuple(dropped),
            ground_truth={key: tuple(s) for key, s in truth.items()},
        )

    def send_lifecycle(self, event: str = "reauthorizationRequired") -> list[BatchDelivery]:
        """Tell every callRecords subscription with a lifecycle URL of `event`."""
        if self._sender is None:
            raise ScriptError("the player has no notification sender")
        state = self._state
        notifications = [
            lifecycle_notification(s, state.config.tenant_id, event)
            for s in state.live_subscriptions("communications/callRecords")
            if s.lifecycle_url is not None
        ]
        deliveries, _ = self._sender.send(notifications)
        return deliveries

    def _notifications(self, record_id: str, updates: int) -> list[Notification]:
        state = self._state
        found: list[Notification] = []
        for subscription in state.live_subscriptions("communications/callRecords"):
            kinds = subscription.change_type.split(",")
            if "created" in kinds:
                found.append(change_notification(subscription, state.config.tenant_id, record_id, "created"))
            if "updated" in kinds:
                found.extend(
                    change_notification(subscription, state.config.tenant_id, record_id, "updated")
                    for _ in range(updates)
                )
        if updates:
            with state.lock:
                state.call_records[record_id].version += updates
        return found

    def _endpoint(self, who: ScriptPerson, device: str) -> dict[str, Any]:
        """The participantEndpoint Graph shows for one leg of `who`."""
        tenant = self._state.config.tenant_id
        agent = {
            "@odata.type": "#microsoft.graph.callRecords.clientUserAgent",
            "platform": {"desktop": "windows", "mobile": "android", "phone": "unknown"}.get(device, "web"),
            "productFamily": "teams" if who.kind is not PersonKind.PHONE else "unknown",
        }
        if who.kind is PersonKind.TENANT_USER or who.kind is PersonKind.EXTERNAL_USER:
            own_tenant = tenant if who.kind is PersonKind.TENANT_USER else who.tenant_id
            user = {"id": who.object_id, "displayName": who.name, "tenantId": own_tenant}
            associated = {
                **user,
                "userPrincipalName": who.email if who.kind is PersonKind.TENANT_USER else None,
            }
            identity: dict[str, Any] = {"user": user}
        elif who.kind is PersonKind.GUEST:
            # A guest gets a new id on every join; only the typed name is the same.
            guest_id = self._state.new_guid()
            identity = {"guest": {"id": guest_id, "displayName": who.name, "tenantId": None}}
            associated = {
                "id": guest_id,
                "displayName": who.name,
                "tenantId": None,
                "userPrincipalName": None,
            }
        else:
            identity = {"phone": {"id": who.name, "displayName": who.name}}
            associated = {
                "id": who.name,
                "displayName": who.name,
                "tenantId": None,
                "userPrincipalName": None,
            }
        return {
            "@odata.type": "#microsoft.graph.callRecords.participantEndpoint",
            "identity": identity,
            "associatedIdentity": associated,
            "userAgent": agent,
        }

    def _call_record(
        self,
        meeting: OnlineMeeting,
        start: datetime,
        end: datetime,
        sessions: list[tuple[ScriptPerson, str, datetime, datetime]],
    ) -> CallRecord:
        state = self._state
        record = CallRecord(
            id=state.new_guid(),
            join_web_url=meeting.join_web_url,
            organizer=meeting.organizer,
            start=start,
            end=end,
            last_modified=end,
        )
        for who, device, joined, left in sessions:
            record.sessions.append(CallSession(state.new_guid(), joined, left, self._endpoint(who, device)))
        return record

    def _attendance_report(
        self,
        meeting: OnlineMeeting,
        start: datetime,
        end: datetime,
        sessions: list[tuple[ScriptPerson, str, datetime, datetime]],
    ) -> AttendanceReportData:
        state = self._state
        tenant = state.config.tenant_id
        by_person: dict[ScriptPerson, list[tuple[datetime, datetime]]] = {}
        for who, _, joined, left in sessions:
            by_person.setdefault(who, []).append((joined, left))
        records: list[AttendanceRecordData] = []
        for who, intervals in by_person.items():
            if who.kind is PersonKind.TENANT_USER:
                identity: dict[str, Any] = {"id": who.object_id, "displayName": who.name, "tenantId": tenant}
            elif who.kind is PersonKind.EXTERNAL_USER:
                identity = {"id": who.object_id, "displayName": who.name, "tenantId": who.tenant_id}
            else:
                identity = {"id": state.new_guid(), "displayName": who.name, "tenantId": None}
            is_organizer = who.object_id is not None and who.object_id == meeting.organizer.id
            email = who.email if who.kind in (PersonKind.TENANT_USER, PersonKind.EXTERNAL_USER) else None
            records.append(
                AttendanceRecordData(
                    identity, email, "Organizer" if is_organizer else "Attendee", sorted(intervals)
                )
            )
        return AttendanceReportData(state.new_guid(), meeting.id, start, end, records)


def _sessions(
    script: Sequence[Step],
) -> tuple[datetime, datetime, list[tuple[ScriptPerson, str, datetime, datetime]]]:
    """Check the script; its start, end, and every (who, device, joined, left) session."""
    if len(script) < 2 or not isinstance(script[0], Start) or not isinstance(script[-1], End):
        raise ScriptError(
            "a script begins with Start and ends with End (a call record exists only after the end)"
        )
    times = [require_utc(step.at) for step in script]
    if times != sorted(times):
        raise ScriptError("script steps must be in time order")
    if any(isinstance(step, Start | End) for step in script[1:-1]):
        raise ScriptError("a script has one Start and one End")
    open_legs: dict[tuple[ScriptPerson, str], datetime] = {}
    done: list[tuple[ScriptPerson, str, datetime, datetime]] = []
    for step, at in zip(script[1:-1], times[1:-1], strict=True):
        if isinstance(step, Join):
            if (step.who, step.device) in open_legs:
                raise ScriptError(f"{step.who.name} ({step.device}) joined twice without leaving")
            open_legs[(step.who, step.device)] = at
        elif isinstance(step, Leave):
            joined = open_legs.pop((step.who, step.device), None)
            if joined is None:
                raise ScriptError(f"{step.who.name} ({step.device}) left without joining")
            if at > joined:
                done.append((step.who, step.device, joined, at))
    end = times[-1]
    done.extend((who, device, joined, end) for (who, device), joined in open_legs.items() if end > joined)
    done.sort(key=lambda s: (s[2], s[0].truth_key, s[1]))
    return times[0], end, done
