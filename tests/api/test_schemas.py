"""The API's input shapes: values are normalised before they are checked."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.api.schemas import MeetingCreate, MeetingPatch

# 310 characters as sent, 610 once lower-cased: "İ".lower() is "i" + a combining dot.
GROWS_WHEN_LOWER_CASED = "İ" * 300 + "@x.example"


def test_an_email_that_outgrows_its_limit_when_lower_cased_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        MeetingPatch.model_validate({"attendees": [{"email": GROWS_WHEN_LOWER_CASED}]})
    [error] = caught.value.errors()
    assert error["loc"] == ("attendees", 0, "email")
    assert error["type"] == "string_too_long"


def test_an_organizer_email_is_checked_in_its_stored_form_too() -> None:
    with pytest.raises(ValidationError) as caught:
        MeetingCreate.model_validate(
            {
                "title": "Demo",
                "start": "2026-12-02T10:00:00Z",
                "duration_minutes": 30,
                "timezone": "UTC",
                "organizer": {"email": GROWS_WHEN_LOWER_CASED},
            }
        )
    assert [e["loc"] for e in caught.value.errors()] == [("organizer", "email")]


def test_emails_are_given_in_their_stored_form() -> None:
    patch = MeetingPatch.model_validate({"attendees": [{"email": "  Dana.Mueller@ACME.example "}]})
    assert patch.attendees is not None
    assert patch.attendees[0].email == "dana.mueller@acme.example"
