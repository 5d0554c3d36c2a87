"""Pure Zoom mapping rules: Retry-After forms, uuid path encoding, report rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from integrations.zoom.errors import parse_retry_after
from integrations.zoom.mapping import attendance_report, report_path_ref

NOW = datetime(2026, 3, 28, 23, 59, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        ("2.5", 2.5),
        ("2026-03-29T00:00:00Z", 60.0),
        ("Sun, 29 Mar 2026 00:00:30 GMT", 90.0),
        ("2026-03-28T00:00:00Z", 0.0),
        ("soon", None),
    ],
)
def test_retry_after_forms(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


@pytest.mark.parametrize(
    ("ref", "encoded"),
    [
        ("85746065432", "85746065432"),
        ("4444AAAiAAAAAiAiAiiAii==", "4444AAAiAAAAAiAiAiiAii%3D%3D"),
        ("ab/cd+ef==", "ab%2Fcd%2Bef%3D%3D"),
        ("/ab+cd==", "%252Fab%252Bcd%253D%253D"),
        ("ab//cd==", "ab%252F%252Fcd%253D%253D"),
    ],
)
def test_uuid_path_encoding(ref: str, encoded: str) -> None:
    assert report_path_ref(ref) == encoded


def test_report_rows_become_sessions() -> None:
    detail = {"uuid": "Ab+c/==", "start_time": "2026-04-01T09:00:00Z", "end_time": "2026-04-01T09:30:00Z"}
    rows = [
        {
            "id": "",
            "user_id": "16778241",
            "name": "Dial-in",
            "user_email": "",
            "join_time": "2026-04-01T09:05:00Z",
            "leave_time": "2026-04-01T09:06:00Z",
        },
        {
            "id": "u1",
            "user_id": "16778240",
            "name": "Al",
            "user_email": "Al@Acme.example",
            "join_time": "2026-04-01T09:00:00Z",
            "leave_time": "2026-04-01T09:30:00Z",
        },
        {"id": "u2", "user_id": "16778242", "name": "No times", "user_email": "x@y.example", "join_time": ""},
    ]
    report = attendance_report(detail, rows)
    assert report.actual_start == datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    assert [(s.email, s.provider_participant_id) for s in report.sessions] == [
        ("al@acme.example", "u1"),
        (None, "Ab+c/==#16778241"),  # a guest's per-meeting id only names them within the instance
    ]
    with pytest.raises(ValueError, match="no meeting instance"):
        attendance_report({k: v for k, v in detail.items() if k != "uuid"}, rows)


DETAIL = {"uuid": "Ab+c/==", "start_time": "2026-04-01T09:00:00Z", "end_time": "2026-04-01T09:30:00Z"}


def _row(**changes: str) -> dict[str, str]:
    row = {
        "id": "u1",
        "user_id": "16778240",
        "name": "Al",
        "user_email": "Al@Acme.example",
        "join_time": "2026-04-01T09:00:00Z",
        "leave_time": "2026-04-01T09:30:00Z",
    }
    return {**row, **changes}


def test_report_values_are_made_storable_as_the_webhooks_make_them() -> None:
    rows = [
        _row(name="A\x00l " + "x" * 400),
        _row(id="u2", user_email="e" * 320 + "@x.example"),  # too long: identified by its id
        _row(id="u3", user_email="İ" * 300 + "@x.example"),  # too long once lower-cased
    ]
    sessions = {s.provider_participant_id: s for s in attendance_report(DETAIL, rows).sessions}
    assert {key: s.email for key, s in sessions.items()} == {"u1": "al@acme.example", "u2": None, "u3": None}
    name = sessions["u1"].name
    assert name is not None and "\x00" not in name and len(name) == 300


@pytest.mark.parametrize(
    "changes",
    [
        {"join_time": "0001-01-01T00:00:00+14:00"},
        {"leave_time": "9999-12-31T23:59:30Z"},
        {"id": "7" * 201},
    ],
)
def test_a_report_row_no_database_could_store_makes_the_report_invalid(changes: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        attendance_report(DETAIL, [_row(**changes)])


def test_a_report_dated_out_of_range_is_invalid() -> None:
    with pytest.raises(ValueError):
        attendance_report({**DETAIL, "end_time": "9999-12-31T23:59:30Z"}, [_row()])
