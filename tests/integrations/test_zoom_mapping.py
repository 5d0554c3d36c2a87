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
