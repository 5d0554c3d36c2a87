"""The video-conferencing extension: HubSpot's own meeting scheduler asks salesmeet for a link.

HubSpot calls these URLs (set in the app's `ExternalSettings`) and waits for the answer:

    create       {portalId, userId, userEmail, topic, source, startTime, endTime}
                 -> {conferenceId, conferenceUrl, conferenceDetails}
    update       {conferenceId, userId, userEmail, portalId, topic, startTime, endTime} -> the same
    delete       {conferenceId} -> 204
    verify-user  {portalId, userEmail} -> {"id": ...}, or 404 when salesmeet cannot host for them

`conferenceId` is salesmeet's meeting id. These meetings carry `external_ref`
{system: "hubspot_vc", id: <portal>-<user>-<start>-<topic hash>}: HubSpot's scheduler writes its own
meeting engagement, so salesmeet writes none back for them, and a retried create finds the first one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime

from integrations.crm.base import CrmRecord, UnreadableRecord
from integrations.crm.hubspot.config import HubSpotConfig
from integrations.crm.hubspot.inbound import signature_check, signed_url_of
from integrations.crm.hubspot.signature import SIGNATURE_HEADERS
from integrations.crm.mapping import parse_instant
from integrations.crm.plugin import (
    ActionMeeting,
    ActionRefused,
    ActionReply,
    CrmActionEndpoint,
    MeetingActions,
)

VC_SYSTEM = "hubspot_vc"
PATHS = {
    "create": "/crm/hubspot/video/create",
    "update": "/crm/hubspot/video/update",
    "delete": "/crm/hubspot/video/delete",
    "verify": "/crm/hubspot/video/verify-user",
}


def _payload(body: bytes) -> dict[str, object]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ActionRefused(400, "invalid_json", "the body is not JSON") from None
    if not isinstance(document, dict):
        raise ActionRefused(400, "invalid_json", "the body is not a JSON object")
    return document


def _record(payload: dict[str, object], object_id: str, timezone: str) -> CrmRecord:
    email = payload.get("userEmail")
    if not isinstance(email, str) or "@" not in email:
        raise ActionRefused(422, "invalid_input", "userEmail is missing")
    try:
        start = parse_instant(payload.get("startTime"), "startTime")
        end = parse_instant(payload.get("endTime"), "endTime")
    except UnreadableRecord as exc:
        raise ActionRefused(422, "invalid_input", str(exc)) from exc
    topic = payload.get("topic")
    return CrmRecord(
        object_id=object_id,
        title=(topic if isinstance(topic, str) and topic.strip() else "Meeting")[:300],
        start=start,
        duration_minutes=max(1, round((end - start).total_seconds() / 60)),
        timezone=timezone,
        organizer_email=email.strip().lower(),
        attendee_emails=(),
    )


def _reply(made: ActionMeeting) -> ActionReply:
    return ActionReply(
        200,
        {
            "conferenceId": made.meeting_id,
            "conferenceUrl": made.join_url,
            "conferenceDetails": f"Join the meeting: {made.join_url}",
        },
    )


def handlers(timezone: str) -> dict[str, Callable[[bytes, MeetingActions], ActionReply]]:
    def create(body: bytes, actions: MeetingActions) -> ActionReply:
        payload = _payload(body)
        fingerprint = hashlib.sha256(str(payload.get("topic")).encode()).hexdigest()[:12]
        key = f"{payload.get('portalId')}-{payload.get('userId')}-{payload.get('startTime')}-{fingerprint}"
        return _reply(actions.create(_record(payload, key[:200], timezone), VC_SYSTEM))

    def update(body: bytes, actions: MeetingActions) -> ActionReply:
        payload = _payload(body)
        conference_id = payload.get("conferenceId")
        if not isinstance(conference_id, str):
            raise ActionRefused(422, "invalid_input", "conferenceId is missing")
        return _reply(actions.update(conference_id, _record(payload, conference_id, timezone)))

    def delete(body: bytes, actions: MeetingActions) -> ActionReply:
        conference_id = _payload(body).get("conferenceId")
        if not isinstance(conference_id, str):
            raise ActionRefused(422, "invalid_input", "conferenceId is missing")
        actions.cancel(conference_id)
        return ActionReply(204)

    def verify(body: bytes, actions: MeetingActions) -> ActionReply:
        email = _payload(body).get("userEmail")
        if isinstance(email, str) and actions.is_licensed(email):
            return ActionReply(200, {"id": email.strip().lower()})
        return ActionReply(404, {"message": "salesmeet does not host meetings for this user"})

    return {"create": create, "update": update, "delete": delete, "verify": verify}


def video_endpoints(
    section: HubSpotConfig, app_secret: str, public_url: str, clock: Callable[[], datetime]
) -> tuple[CrmActionEndpoint, ...]:
    """HubSpot signs every extension call with the app's client secret, whatever the workflow uses."""
    return tuple(
        CrmActionEndpoint(
            PATHS[name],
            signature_check(section, app_secret, signed_url_of(section, public_url, PATHS[name]), clock),
            handle,
            kept_headers=SIGNATURE_HEADERS,
            reads_query=True,
        )
        for name, handle in handlers(section.mapping.default_timezone).items()
    )
