"""Graph's wire shapes: times, errors, and the JSON of meetings, reports, call records, subscriptions."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from fastapi.responses import JSONResponse

from integrations.sandbox.teams.state import (
    AttendanceRecordData,
    AttendanceReportData,
    CallRecord,
    CallSession,
    OnlineMeeting,
    Subscription,
)


def graph_time(moment: datetime) -> str:
    """Graph's timestamp shape: UTC with seven fractional digits (`2026-04-01T09:00:00.0000000Z`)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


def parse_graph_time(value: object) -> datetime | None:
    """An ISO 8601 time with an offset or `Z`; None for anything else (naive times too)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """Graph's error body, with the innerError every Graph error carries."""
    inner: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": secrets.token_hex(16),
        "client-request-id": secrets.token_hex(16),
    }
    if status == 429:
        inner.update({"code": "429", "status": "429"})
    return JSONResponse(
        {"error": {"code": code, "message": message, "innerError": inner}},
        status_code=status,
        headers=headers,
    )


def meeting_json(meeting: OnlineMeeting, tenant_id: str) -> dict[str, Any]:
    organizer = meeting.organizer
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('"
        + organizer.id
        + "')/onlineMeetings/$entity",
        "id": meeting.id,
        "creationDateTime": graph_time(meeting.created),
        "startDateTime": graph_time(meeting.start),
        "endDateTime": graph_time(meeting.end),
        "joinUrl": meeting.join_web_url,
        "joinWebUrl": meeting.join_web_url,
        "meetingCode": meeting.join_meeting_id,
        "subject": meeting.subject,
        "externalId": meeting.external_id,
        "isBroadcast": False,
        "autoAdmittedUsers": "everyoneInCompany",
        "allowedPresenters": "everyone",
        "videoTeleconferenceId": None,
        "participants": {
            "organizer": {
                "upn": organizer.upn,
                "role": "presenter",
                "identity": {
                    "application": None,
                    "device": None,
                    "user": {
                        "id": organizer.id,
                        "displayName": None,
                        "tenantId": tenant_id,
                        "identityProvider": "AAD",
                    },
                },
            },
            "attendees": meeting.attendees,
        },
        "joinMeetingIdSettings": {
            "joinMeetingId": meeting.join_meeting_id,
            "isPasscodeRequired": meeting.is_passcode_required,
            "passcode": meeting.passcode if meeting.is_passcode_required else None,
        },
        "chatInfo": {"threadId": meeting.chat_thread_id, "messageId": "0", "replyChainMessageId": None},
        "audioConferencing": None,
    }


def interval_json(joined: datetime, left: datetime) -> dict[str, Any]:
    return {
        "joinDateTime": graph_time(joined),
        "leaveDateTime": graph_time(left),
        "durationInSeconds": int((left - joined).total_seconds()),
    }


def attendance_record_json(record: AttendanceRecordData) -> dict[str, Any]:
    total = sum(int((left - joined).total_seconds()) for joined, left in record.intervals)
    return {
        "id": record.identity.get("id"),
        "emailAddress": record.email,
        "totalAttendanceInSeconds": total,
        "role": record.role,
        "identity": record.identity,
        "attendanceIntervals": [interval_json(j, lv) for j, lv in record.intervals],
    }


def attendance_report_json(report: AttendanceReportData) -> dict[str, Any]:
    return {
        "id": report.id,
        "totalParticipantCount": len(report.records),
        "meetingStartDateTime": graph_time(report.start),
        "meetingEndDateTime": graph_time(report.end),
    }


def session_json(session: CallSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "modalities": list(session.modalities),
        "startDateTime": graph_time(session.start),
        "endDateTime": graph_time(session.end),
        "isTest": False,
        "failureInfo": None,
        "caller": session.caller,
        "callee": {
            "@odata.type": "#microsoft.graph.callRecords.serviceEndpoint",
            "userAgent": {
                "@odata.type": "#microsoft.graph.callRecords.serviceUserAgent",
                "role": "conferencing",
            },
        },
        "segments": [
            {
                "id": session.id,
                "startDateTime": graph_time(session.start),
                "endDateTime": graph_time(session.end),
                "caller": session.caller,
            }
        ],
    }


def call_record_json(record: CallRecord, tenant_id: str) -> dict[str, Any]:
    organizer = record.organizer
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#communications/callRecords/$entity",
        "id": record.id,
        "version": record.version,
        "type": "groupCall",
        "modalities": ["audio", "video"],
        "lastModifiedDateTime": graph_time(record.last_modified),
        "startDateTime": graph_time(record.start),
        "endDateTime": graph_time(record.end),
        "joinWebUrl": record.join_web_url,
        "organizer_v2": {
            "id": organizer.id,
            "identity": {
                "user": {
                    "id": organizer.id,
                    "displayName": organizer.display_name,
                    "tenantId": tenant_id,
                    "userPrincipalName": organizer.upn,
                }
            },
        },
    }


def subscription_json(subscription: Subscription, tenant_id: str) -> dict[str, Any]:
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
        "id": subscription.id,
        "resource": subscription.resource,
        "applicationId": subscription.application_id,
        "changeType": subscription.change_type,
        "clientState": subscription.client_state,
        "notificationUrl": subscription.notification_url,
        "lifecycleNotificationUrl": subscription.lifecycle_url,
        "expirationDateTime": graph_time(subscription.expiration),
        "creatorId": subscription.application_id,
        "includeResourceData": False,
        "latestSupportedTlsVersion": "v1_2",
        "notificationUrlAppId": None,
        "tenantId": tenant_id,
    }
