"""Write-back onto HubSpot: the meeting engagement (CRM Meetings v3), associated to the deal and
the contacts, with the outcome salesmeet measured.

Idempotent: with the id of an earlier write it PATCHes that engagement; without one it first
searches for an engagement whose `meeting_link_property` is the meeting's salesmeet URL (an
earlier write whose id was never recorded), and creates one only when there is none.

HubSpot's answers become the CRM error tree (`integrations.crm.base`): 401/403 auth, 429 rate
limited (waiting `Retry-After`, else by `policyName`: DAILY waits `daily_limit_wait_seconds`,
TEN_SECONDLY_ROLLING 10 s, anything else 1 s), 5xx and transport failures unavailable, other 4xx
rejected. Nothing here logs the token.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import httpx

from integrations.crm.base import (
    CrmAuthFailed,
    CrmError,
    CrmRateLimited,
    CrmRejected,
    CrmUnavailable,
    MeetingOutcome,
    Outcome,
)
from integrations.crm.hubspot.config import HubSpotConfig

CRM = "hubspot"
MEETINGS = "/crm/v3/objects/meetings"


def _ids(value: object) -> list[str]:
    if isinstance(value, (int, str)):
        return [part.strip() for part in str(value).replace(",", ";").split(";") if part.strip()]
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return []


def _ms(moment: Any) -> str:
    return str(int(moment.timestamp() * 1000))


def meeting_body(outcome: MeetingOutcome) -> str:
    """Who attended and for how long, as HubSpot shows it (HTML)."""
    lines = [f"<p>{outcome.outcome.value.replace('_', ' ').capitalize()} (measured by salesmeet).</p>"]
    if outcome.outcome is not Outcome.CANCELLED:
        lines.append(f"<p>Ran {outcome.attended_minutes} minutes.</p><ul>")
        for person in outcome.participants:
            who = html.escape(person.email or person.name or "an unidentified participant")
            side = "internal" if person.internal else "customer"
            minutes = round(person.attended_seconds / 60)
            attended = "attended" if person.attended else "did not attend"
            lines.append(f"<li>{who} ({side}): {attended}, {minutes} min</li>")
        lines.append("</ul>")
    lines.append(f'<p><a href="{outcome.meeting_url}">Attendance in salesmeet</a></p>')
    return "".join(lines)


class HubSpotWriter:
    def __init__(
        self, section: HubSpotConfig, access_token: str, *, transport: httpx.BaseTransport | None = None
    ):
        self._section = section
        self._http = httpx.Client(
            base_url=section.api_base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {access_token}", "Content-Type": "application/json"},
            timeout=section.timeout_seconds,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def properties(self, outcome: MeetingOutcome) -> dict[str, str]:
        values = self._section.outcome_values
        hs_outcome = {
            Outcome.COMPLETED: values.completed,
            Outcome.CUSTOMER_NO_SHOW: values.no_show,
            Outcome.HOST_NO_SHOW: values.no_show,
            Outcome.CANCELLED: values.canceled,
        }[outcome.outcome]
        start = outcome.actual_start or outcome.scheduled_start
        end = outcome.actual_end or outcome.scheduled_end
        props = {
            "hs_timestamp": _ms(outcome.scheduled_start),
            "hs_meeting_title": outcome.title,
            "hs_meeting_outcome": hs_outcome,
            "hs_meeting_start_time": _ms(start),
            "hs_meeting_end_time": _ms(end),
            "hs_meeting_body": meeting_body(outcome),
            self._section.meeting_link_property: outcome.meeting_url,
        }
        if outcome.join_url:
            props["hs_meeting_location"] = outcome.join_url
        owner = outcome.context.get("owner_id")
        if isinstance(owner, (str, int)) and str(owner).strip():
            props["hubspot_owner_id"] = str(owner).strip()
        if self._section.attended_minutes_property:
            props[self._section.attended_minutes_property] = str(outcome.attended_minutes)
        if self._section.attendance_property:
            props[self._section.attendance_property] = outcome.outcome.value
        return props

    def associations(self, outcome: MeetingOutcome) -> list[dict[str, Any]]:
        section, found = self._section, []
        for key, type_id in (
            ("deal_id", section.deal_association_type_id),
            ("contact_ids", section.contact_association_type_id),
            ("company_id", section.company_association_type_id),
        ):
            for object_id in _ids(outcome.context.get(key)):
                found.append(
                    {
                        "to": {"id": object_id},
                        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
                    }
                )
        return found

    def write_outcome(self, outcome: MeetingOutcome, remote_id: str | None) -> str:
        props = self.properties(outcome)
        if remote_id is None:
            remote_id = self._find(outcome.meeting_url)
        if remote_id is not None:
            response = self._send("PATCH", f"{MEETINGS}/{remote_id}", {"properties": props})
            if response.status_code != 404:
                return remote_id
            # Deleted in HubSpot since: write it again rather than lose the outcome.
        created = self._send(
            "POST", MEETINGS, {"properties": props, "associations": self.associations(outcome)}
        )
        return str(created.json()["id"])

    def _find(self, meeting_url: str) -> str | None:
        query = {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": self._section.meeting_link_property,
                            "operator": "EQ",
                            "value": meeting_url,
                        }
                    ]
                }
            ],
            "properties": [self._section.meeting_link_property],
            "limit": 1,
        }
        results = self._send("POST", f"{MEETINGS}/search", query).json().get("results") or []
        return str(results[0]["id"]) if results else None

    def _send(self, method: str, path: str, body: Mapping[str, Any]) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise CrmUnavailable(CRM, f"{method} {path}: {type(exc).__name__}") from None
        if response.status_code < 400 or (response.status_code == 404 and method == "PATCH"):
            return response
        raise self._error(response, f"{method} {path}")

    def _error(self, response: httpx.Response, what: str) -> CrmError:
        status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        detail = f"{what}: {status} {_hubspot_message(payload)}"[:500]
        if status in (401, 403):
            return CrmAuthFailed(CRM, detail)
        if status == 429:
            return CrmRateLimited(CRM, detail, retry_after_seconds=self._retry_after(response, payload))
        if status >= 500:
            return CrmUnavailable(CRM, detail)
        return CrmRejected(CRM, detail)

    def _retry_after(self, response: httpx.Response, payload: object) -> float:
        header = response.headers.get("retry-after")
        if header and header.strip().isdigit():
            return float(header)
        policy = payload.get("policyName") if isinstance(payload, dict) else None
        if policy == "DAILY":
            return self._section.daily_limit_wait_seconds
        if policy == "TEN_SECONDLY_ROLLING":
            return 10.0
        return 1.0


def _hubspot_message(payload: object) -> str:
    """HubSpot's message, with its first per-field error: "Property values were not valid" alone
    does not tell the admin which property to fix."""
    if not isinstance(payload, dict):
        return ""
    message = str(payload.get("message", ""))
    errors = payload.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else None
    if isinstance(first, dict) and first.get("message"):
        message = f"{message} ({first['message']})"
    return message
