"""How a Zoom participant without an e-mail is identified, the same in webhooks and in reports."""

from __future__ import annotations


def participant_id(zoom_user_id: object, per_meeting_id: object, instance: str | None) -> str | None:
    """The participant's id: their Zoom account id, else the per-meeting id within its instance.

    The account id (`id`) is stable across rejoins and instances; guests and phone users have
    none. Their per-meeting `user_id` is what both webhooks and the participants report carry, but
    Zoom numbers it afresh in every instance of a meeting, so it is scoped by the instance's uuid:
    two dial-ins in two instances of a restarted meeting stay two people.
    """
    account = str(zoom_user_id).strip() if zoom_user_id is not None else ""
    if account:
        return account
    per_meeting = str(per_meeting_id).strip() if per_meeting_id is not None else ""
    if not per_meeting:
        return None
    return f"{instance}#{per_meeting}" if instance else per_meeting
