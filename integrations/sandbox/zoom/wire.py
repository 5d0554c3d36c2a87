"""Zoom's wire shapes shared by the emulator's API and its webhooks: times, uuids, JSON bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from integrations.sandbox.zoom.state import EmulatedMeeting, MeetingInstance, ParticipantSession, Visible

DEFAULT_SETTINGS: dict[str, Any] = {
    "host_video": False,
    "participant_video": False,
    "join_before_host": False,
    "mute_upon_entry": False,
    "waiting_room": False,
    "approval_type": 2,
    "audio": "both",
    "auto_recording": "none",
    "meeting_authentication": False,
    "alternative_hosts": "",
    "meeting_invitees": [],
}


def zoom_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def needs_double_encoding(uuid: str) -> bool:
    """Zoom's rule: a uuid starting with '/' or containing '//' is double URL-encoded in paths."""
    return uuid.startswith("/") or "//" in uuid


def encode_uuid_for_path(uuid: str) -> str:
    once = quote(uuid, safe="")
    return quote(once, safe="") if needs_double_encoding(uuid) else once


def meeting_json(meeting: EmulatedMeeting, start_url: str) -> dict[str, Any]:
    return {
        "uuid": meeting.uuid,
        "id": meeting.id,
        "host_id": meeting.host.id,
        "host_email": meeting.host.email,
        "assistant_id": "",
        "topic": meeting.topic,
        "type": meeting.type,
        "status": meeting.status,
        "start_time": zoom_time(meeting.start_time) if meeting.start_time else None,
        "duration": meeting.duration,
        "timezone": meeting.timezone,
        "agenda": meeting.agenda,
        "created_at": zoom_time(meeting.created_at),
        "start_url": start_url,
        "join_url": meeting.join_url,
        "password": meeting.password,
        "h323_password": meeting.password,
        "pstn_password": meeting.password,
        "encrypted_password": meeting.join_url.rpartition("pwd=")[2],
        "settings": {**DEFAULT_SETTINGS, **meeting.settings},
        "pre_schedule": False,
    }


def report_detail_json(meeting: EmulatedMeeting, instance: MeetingInstance) -> dict[str, Any]:
    end = instance.ended_at or instance.started_at
    seconds = int((end - instance.started_at).total_seconds())
    distinct = {s.email or s.participant_user_id for s in instance.sessions}
    return {
        "uuid": instance.uuid,
        "id": meeting.id,
        "host_id": meeting.host.id,
        "type": meeting.type,
        "topic": meeting.topic,
        "user_name": meeting.host.display_name,
        "user_email": meeting.host.email,
        "start_time": zoom_time(instance.started_at),
        "end_time": zoom_time(end),
        "duration": -(-seconds // 60),
        "total_minutes": sum(
            -(-int(((s.left_at or end) - s.joined_at).total_seconds()) // 60) for s in instance.sessions
        ),
        "participants_count": len(distinct),
        "dept": "",
        "source": "Zoom",
        "custom_keys": [],
    }


def report_row_json(
    session: ParticipantSession, meeting_end: datetime, shown: Visible | None = None
) -> dict[str, Any]:
    left_at = session.left_at or meeting_end
    shown = shown or Visible(session.email, session.zoom_user_id, "")
    return {
        "id": shown.zoom_user_id,
        "user_id": session.participant_user_id,
        "name": session.name,
        "user_email": shown.email,
        "join_time": zoom_time(session.joined_at),
        "leave_time": zoom_time(left_at),
        "duration": int((left_at - session.joined_at).total_seconds()),
        "status": "in_waiting_room" if session.in_waiting_room else "in_meeting",
        "participant_user_id": shown.zoom_user_id,
        "registrant_id": shown.registrant_id,
        "customer_key": "",
        "bo_mtg_id": "",
        "failover": False,
    }
