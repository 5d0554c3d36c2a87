"""The CRM mapping keeps the attendees' display names the CRM gives, so a guest whom the provider
shows by name only is still matched to the invitee (SPEC: identity by display name)."""

from __future__ import annotations

from integrations.crm.mapping import CrmMapping, map_record
from service.usecases.crm_sync import meeting_input

MAPPING = CrmMapping(start="start", attendees="people")


def _record(people: object) -> tuple[tuple[str, ...], dict[str, str]]:
    record = map_record(
        {"hs_object_id": "7", "start": 1796119200000, "owner_email": "a@acme.example", "people": people},
        MAPPING,
    )
    return record.attendee_emails, dict(record.attendee_names)


def test_named_entries_keep_their_names_and_bare_addresses_keep_working() -> None:
    emails, names = _record(
        'Hank Scorpio <Hank@Globex.example>; "Lena Park" <lena@globex.example>, sam@acme.example x@y.example'
    )
    assert emails == ("hank@globex.example", "lena@globex.example", "sam@acme.example", "x@y.example")
    assert names == {"hank@globex.example": "Hank Scorpio", "lena@globex.example": "Lena Park"}


def test_a_list_of_objects_or_strings_and_duplicates_once() -> None:
    emails, names = _record(
        [{"email": "q@x.example", "name": "Q Quinn"}, "r@x.example", "Q <q@x.example>", "not-an-email"]
    )
    assert emails == ("q@x.example", "r@x.example")
    assert names == {"q@x.example": "Q Quinn"}


def test_the_meeting_the_record_makes_invites_them_by_name() -> None:
    record = map_record(
        {
            "hs_object_id": "7",
            "start": 1796119200000,
            "owner_email": "a@acme.example",
            "people": "Lena Park <lena@globex.example>;b@globex.example",
        },
        MAPPING,
    )
    attendees = meeting_input(record, "hubspot").attendees
    assert [(a.email, a.name) for a in attendees] == [
        ("lena@globex.example", "Lena Park"),
        ("b@globex.example", None),
    ]
