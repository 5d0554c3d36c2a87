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


def _create(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "title": "Demo",
        "start": "2026-12-02T10:00:00Z",
        "duration_minutes": 30,
        "timezone": "Europe/Berlin",
        "organizer": {"email": "rep@ourco.example"},
        "attendees": [{"email": "buyer@acme.example", "required": True}],
    }
    body.update(changes)
    return body


def test_a_well_typed_meeting_is_accepted() -> None:
    meeting = MeetingCreate.model_validate(_create())
    assert meeting.duration_minutes == 30


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"duration_minutes": True}, "duration_minutes", id="a boolean as minutes"),
        pytest.param({"duration_minutes": "30"}, "duration_minutes", id="a string as minutes"),
        pytest.param({"duration_minutes": 30.0}, "duration_minutes", id="a float as minutes"),
        pytest.param({"start": 1796205600}, "start", id="an epoch number as start"),
        pytest.param({"start": 1796205600.5}, "start", id="an epoch float as start"),
        pytest.param({"end": 1796207400, "duration_minutes": None}, "end", id="an epoch number as end"),
        pytest.param({"attendees": [{"email": "b@acme.example", "required": "yes"}]}, "required", id="yes"),
        pytest.param({"attendees": [{"email": "b@acme.example", "required": 1}]}, "required", id="1 as bool"),
        pytest.param({"timezone": "localtime"}, "timezone", id="the machine's zone"),
        pytest.param({"timezone": "Factory"}, "timezone", id="tzdb's placeholder zone"),
    ],
)
def test_a_value_of_the_wrong_json_type_is_refused_not_coerced(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        MeetingCreate.model_validate(_create(**changes))
    assert field in [e["loc"][-1] for e in caught.value.errors()]


def test_a_patch_refuses_coercion_too() -> None:
    with pytest.raises(ValidationError):
        MeetingPatch.model_validate({"duration_minutes": True})
    with pytest.raises(ValidationError):
        MeetingPatch.model_validate({"start": 1796205600})
