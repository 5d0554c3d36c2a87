"""Stored attendance records: what a read serves is what computing the record at that moment gives.

The worker stores each record it computes; a read serves it when it is current. These tests play
real Zoom webhook bodies through the inbox and the worker on SQLite and PostgreSQL, and compare
every read with the record computed from the stored events at the read's moment, rendered by the
pydantic response model (the route's shape before records were stored).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from integrations.sandbox.zoom import Join, Leave, ScriptPerson, Start
from integrations.zoom.webhook_check import decode_zoom_delivery
from service.api.attendance_json import attendance_json
from service.api.schemas import AttendanceOut, ParticipantOut, SessionOut
from service.bootstrap import Runtime
from service.config.loader import parse_config
from service.domain.attendance import ParticipantAttendance, SessionSpan
from service.domain.meeting import CompanyDomains
from service.storage import inbox_repo, meetings_repo
from service.storage.database import Database
from service.storage.tables import attendance_records, meetings
from service.usecases.read_attendance import read_attendance
from service.usecases.record_attendance import (
    AttendancePolicy,
    compute_meeting_attendance,
    process_inbox_batch,
    refresh_dirty_meetings,
)
from tests.helpers_signing import HOST, OfflineZoom, PlayedMeeting, zoom_delivery
from tests.support import sandbox_config

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
HANNA = ScriptPerson("Hanna Host", HOST.email, HOST.id)
BOB = ScriptPerson("Bob Buyer", "bob@customer.example")
GUEST = ScriptPerson("Dial-in")


@pytest.fixture
def db(runtime: Runtime) -> Database:
    return runtime.db


def policy(min_attendance_seconds: int | None = None) -> AttendancePolicy:
    config = parse_config(sandbox_config())
    return AttendancePolicy(
        company=config.company_domains(),
        min_attendance_seconds=min_attendance_seconds or config.company.min_attendance_seconds,
        timezone=config.company.timezone,
        reconcile_delay=timedelta(hours=1),
    )


def apply(db: Database, bodies: tuple[bytes, ...], now: datetime, rules: AttendancePolicy) -> None:
    """Store and apply the deliveries, then recompute the meetings they touched (the worker's job)."""
    with db.write() as conn:
        inbox_repo.insert_deliveries(conn, [zoom_delivery(b) for b in bodies], now)
    while process_inbox_batch(db, {"zoom": decode_zoom_delivery}, rules, now, 100):
        pass
    refresh_dirty_meetings(db, rules, now)


def meeting_id_of(db: Database, played: PlayedMeeting) -> str:
    with db.read() as conn:
        found: str = conn.execute(
            select(meetings.c.id).where(meetings.c.provider_meeting_id == str(played.meeting_id))
        ).scalar_one()
    return found


def computed_now(db: Database, meeting_id: str, rules: AttendancePolicy, now: datetime) -> dict[str, Any]:
    """The record computed from the stored events at `now`, as the response model renders it."""
    with db.read() as conn:
        meeting = meetings_repo.get_meeting(conn, meeting_id)
        assert meeting is not None
        record, _ = compute_meeting_attendance(conn, meeting, rules, now)
    return AttendanceOut(
        meeting_id=meeting.id,
        provider=meeting.provider,
        actual_start=record.actual_start,
        actual_end=record.actual_end,
        actual_duration_seconds=record.actual_duration_seconds,
        completeness=meeting.completeness,
        completeness_reason=meeting.completeness_reason,
        participants=[ParticipantOut.model_validate(p, from_attributes=True) for p in record.participants],
    ).model_dump(mode="json")


def served(
    db: Database, meeting_id: str, rules: AttendancePolicy, now: datetime
) -> tuple[dict[str, Any], bool]:
    view = read_attendance(db, meeting_id, rules, now)
    return json.loads(attendance_json(view.meeting, view.record)), view.served_stored


def test_an_ended_meeting_is_served_stored_as_computed(db: Database) -> None:
    rules = policy()
    played = OfflineZoom().customer_call("Call with Bob", START, guests=2)
    apply(db, played.bodies, START + timedelta(hours=1), rules)
    meeting_id = meeting_id_of(db, played)
    later = START + timedelta(days=3)

    body, stored = served(db, meeting_id, rules, later)

    assert stored
    assert body == computed_now(db, meeting_id, rules, later)
    assert {p["email"] or p["name"]: p["attended_seconds"] for p in body["participants"]} == {
        "host@acme.example": 1800,
        "bob@customer.example": 1560,
        "Guest 0": 420,
        "Guest 1": 420,
    }


def test_a_live_meetings_open_sessions_count_up_to_each_read(db: Database) -> None:
    rules = policy()
    at = START.__add__
    played = OfflineZoom().play(
        "All hands",
        START,
        [
            Start(at(timedelta(0))),
            Join(at(timedelta(0)), HANNA),
            Join(at(timedelta(minutes=2)), BOB),
            Leave(at(timedelta(minutes=3)), BOB),
            Join(at(timedelta(minutes=4)), BOB),
            Join(at(timedelta(minutes=5)), GUEST),
            Leave(at(timedelta(minutes=5, seconds=30)), GUEST),
        ],
    )
    apply(db, played.bodies, at(timedelta(minutes=6)), rules)
    meeting_id = meeting_id_of(db, played)

    for read_at in (timedelta(minutes=6), timedelta(minutes=6, seconds=10), timedelta(hours=2)):
        body, stored = served(db, meeting_id, rules, at(read_at))
        assert stored
        assert body == computed_now(db, meeting_id, rules, at(read_at))
    seconds = {p["email"] or p["name"]: (p["attended_seconds"], p["attended"]) for p in body["participants"]}
    assert seconds == {
        "host@acme.example": (7200, True),
        "bob@customer.example": (7200 - 180, True),
        "Dial-in": (30, False),
    }


def test_a_record_is_computed_at_read_time_while_its_meeting_awaits_a_refresh(db: Database) -> None:
    rules = policy()
    played = OfflineZoom().customer_call("Call with Bob", START)
    first, rest = played.bodies[:3], played.bodies[3:]
    apply(db, first, START + timedelta(minutes=5), rules)
    meeting_id = meeting_id_of(db, played)
    with db.write() as conn:
        inbox_repo.insert_deliveries(conn, [zoom_delivery(b) for b in rest], START + timedelta(hours=1))
    process_inbox_batch(db, {"zoom": decode_zoom_delivery}, rules, START + timedelta(hours=1), 100)

    later = START + timedelta(hours=2)
    body, stored = served(db, meeting_id, rules, later)

    assert not stored  # events arrived after the stored record was computed
    assert body == computed_now(db, meeting_id, rules, later)
    assert body["actual_duration_seconds"] == 30 * 60
    refresh_dirty_meetings(db, rules, later)
    assert served(db, meeting_id, rules, later) == (body, True)


def test_a_record_computed_under_other_inputs_is_not_served(db: Database) -> None:
    rules = policy()
    played = OfflineZoom().customer_call("Call with Bob", START, guests=1)
    apply(db, played.bodies, START + timedelta(hours=1), rules)
    meeting_id = meeting_id_of(db, played)
    later = START + timedelta(days=1)

    stricter = policy(min_attendance_seconds=1000)  # the admin raised the threshold since
    body, stored = served(db, meeting_id, stricter, later)
    assert not stored
    assert body == computed_now(db, meeting_id, stricter, later)
    assert [p["attended"] for p in body["participants"]] == [True, True, False]

    other_domains = dataclasses.replace(
        rules, company=CompanyDomains.of(["acme.example", "customer.example"])
    )
    body, stored = served(db, meeting_id, other_domains, later)
    assert not stored
    assert {p["classification"] for p in body["participants"]} == {"internal", "unidentified"}


def test_a_meeting_never_refreshed_is_computed_and_a_deleted_one_takes_its_record_along(db: Database) -> None:
    rules = policy()
    played = OfflineZoom().customer_call("Call with Bob", START)
    apply(db, played.bodies, START + timedelta(hours=1), rules)
    meeting_id = meeting_id_of(db, played)
    with db.write() as conn:
        conn.execute(attendance_records.delete())  # as after the upgrade that added stored records
    assert served(db, meeting_id, rules, START + timedelta(hours=2))[1] is False

    refresh = START + timedelta(hours=3)
    with db.write() as conn:
        conn.execute(update(meetings).where(meetings.c.id == meeting_id).values(attendance_dirty=True))
    refresh_dirty_meetings(db, rules, refresh)
    assert served(db, meeting_id, rules, refresh)[1] is True
    with db.write() as conn:
        meetings_repo.delete_meeting_row(conn, meeting_id)
        assert conn.execute(select(attendance_records.c.meeting_id)).all() == []


def test_every_field_the_api_shows_of_a_participant_comes_from_the_domain_record() -> None:
    # attendance_json copies them by name from the stored record: a field of the schema that the
    # domain record lacks would be a KeyError on every read.
    record_fields = {f.name for f in dataclasses.fields(ParticipantAttendance)}
    assert set(ParticipantOut.model_fields) <= record_fields
    assert set(SessionOut.model_fields) <= {f.name for f in dataclasses.fields(SessionSpan)}
