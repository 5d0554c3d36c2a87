"""Who a Teams participant is, the same in call records (live events) and attendance reports.

The rule: the lower-cased e-mail when Graph gives one; else the Entra object id of a user (of
this tenant or another: an identity with a `tenantId`); else the display name, which identifies
someone only within one meeting (`name:<display name>`; guests get a new id on every join and
phones have only their number). Whenever Graph gives both an e-mail and an object id, both are
kept, so the attendance engine learns that the id stands for the e-mail and never splits one
person in two. A participant with neither e-mail nor id nor name cannot be identified (None).

E-mail in call records: a user's `userPrincipalName` (Graph shows it for users of this tenant,
not for another tenant's users); the UPN is taken as the e-mail, as it is in most tenants.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.domain.events import ParticipantIdentity


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def participant(
    *, email: object, object_id: object, tenant_id: object, display_name: object
) -> ParticipantIdentity | None:
    mail = _text(email)
    name = _text(display_name)
    user_id = _text(object_id) if _text(tenant_id) else None
    if mail is None and user_id is None:
        if name is None:
            return None
        return ParticipantIdentity(None, f"name:{name}", name)
    return ParticipantIdentity(mail.lower() if mail else None, user_id, name)


def from_attendance_record(record: Mapping[str, Any]) -> ParticipantIdentity | None:
    """An `attendanceRecord`: `emailAddress`, and `identity{id, displayName, tenantId}`."""
    identity = record.get("identity")
    identity = identity if isinstance(identity, Mapping) else {}
    return participant(
        email=record.get("emailAddress"),
        object_id=identity.get("id"),
        tenant_id=identity.get("tenantId"),
        display_name=identity.get("displayName"),
    )


def from_endpoint(endpoint: Mapping[str, Any]) -> ParticipantIdentity | None:
    """A call record session's `participantEndpoint`: `identity` is an identitySet (`user`,
    `guest`, `phone`, ...), `associatedIdentity` adds the user's UPN when Graph shows it."""
    identity_set = endpoint.get("identity")
    identity_set = identity_set if isinstance(identity_set, Mapping) else {}
    associated = endpoint.get("associatedIdentity")
    associated = associated if isinstance(associated, Mapping) else {}
    user = identity_set.get("user")
    if isinstance(user, Mapping) and _text(user.get("id")):
        same_user = associated.get("id") == user.get("id")
        upn = user.get("userPrincipalName") or (associated.get("userPrincipalName") if same_user else None)
        return participant(
            email=upn,
            object_id=user.get("id"),
            tenant_id=user.get("tenantId") or (associated.get("tenantId") if same_user else None),
            display_name=user.get("displayName") or associated.get("displayName"),
        )
    # Guests, phones and anything else Graph may add: known by the name shown in the meeting.
    for kind in (
        "guest",
        "phone",
        "acsUser",
        "spoolUser",
        "encrypted",
        "onPremises",
        "application",
        "device",
    ):
        member = identity_set.get(kind)
        if isinstance(member, Mapping):
            name = _text(member.get("displayName")) or (_text(member.get("id")) if kind == "phone" else None)
            return participant(email=None, object_id=None, tenant_id=None, display_name=name)
    return participant(email=None, object_id=None, tenant_id=None, display_name=associated.get("displayName"))
