"""The YAML mapping every CRM shares: which record property means what in the common model.

A CRM plugin turns a delivery into flat `properties` (name -> value, its own wire shapes
flattened); `map_record` then reads them through the admin's `CrmMapping`:

    mapping:
      object_id: hs_object_id          # the record's id: the meeting's external_ref id
      title: dealname
      start: meeting_start             # epoch ms (number or digits) or ISO 8601 with an offset
      duration_minutes: meeting_minutes   # or `end:` (same forms as start)
      timezone: meeting_timezone       # an IANA name; default_timezone when absent
      organizer: owner_email           # the owner's e-mail
      attendees: contact_emails        # a list (of e-mails or {email, name}), or one string of e-mails
                                       # and `Name <e-mail>` entries, separated by commas or semicolons
      kind: meeting_kind               # internal | customer; derived from attendees when absent
      cancelled: {property: dealstage, values: [closedlost]}
      version: hs_lastmodifieddate     # orders deliveries of one record (ms or ISO)
      context: {deal_id: hs_object_id, contact_ids: contact_ids}   # kept for the write-back

Pure: no I/O. Raises `UnreadableRecord` naming the property that is missing or malformed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from integrations.crm.base import CrmRecord, UnreadableRecord

# An attendee in a string: `Display Name <e-mail>` (the name holds no @, comma or semicolon), or a
# bare e-mail; entries are separated by commas or semicolons (bare e-mails by spaces too).
_ATTENDEE = re.compile(r"(?P<name>[^<>;,@]*?)\s*<\s*(?P<named>[^<>\s;,]+)\s*>|(?P<bare>[^,;\s<>]+)")


class CancelledWhen(BaseModel):
    """The record is cancelled when `property` holds one of `values` (compared case-insensitively)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    property: str
    values: tuple[str, ...] = ("true",)


class CrmMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    object_id: str = "hs_object_id"
    title: str = "title"
    default_title: str = "Meeting"
    start: str = "start"
    duration_minutes: str | None = "duration_minutes"
    end: str | None = None
    default_duration_minutes: int = Field(30, ge=1, le=1440)
    timezone: str | None = "timezone"
    default_timezone: str = "UTC"
    organizer: str = "owner_email"
    attendees: str = "contact_emails"
    kind: str | None = None
    cancelled: CancelledWhen | None = None
    version: str | None = None
    context: dict[str, str] = Field(default_factory=dict)


def map_record(properties: Mapping[str, object], mapping: CrmMapping) -> CrmRecord:
    object_id = _text(properties, mapping.object_id)
    if not object_id:
        raise UnreadableRecord(f"the record has no {mapping.object_id!r} (its id)")
    cancelled = False
    if mapping.cancelled is not None:
        value = _text(properties, mapping.cancelled.property)
        wanted = {v.strip().lower() for v in mapping.cancelled.values}
        cancelled = value is not None and value.strip().lower() in wanted
    attendees = _attendees(properties.get(mapping.attendees))
    start = _instant(properties, mapping.start)
    if start is None and not cancelled:
        raise UnreadableRecord(f"the record has no {mapping.start!r} (the meeting's start)")
    return CrmRecord(
        object_id=object_id,
        title=(_text(properties, mapping.title) or mapping.default_title)[:300],
        start=start,
        duration_minutes=_duration(properties, mapping, start),
        timezone=(_text(properties, mapping.timezone) if mapping.timezone else None)
        or mapping.default_timezone,
        organizer_email=_text(properties, mapping.organizer),
        attendee_emails=tuple(attendees),
        attendee_names={email: name for email, name in attendees.items() if name},
        kind=(_text(properties, mapping.kind) or None) if mapping.kind else None,
        cancelled=cancelled,
        version=_version(properties, mapping.version),
        context={key: properties[prop] for key, prop in mapping.context.items() if prop in properties},
    )


def _text(properties: Mapping[str, object], name: str) -> str | None:
    value = properties.get(name)
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def parse_instant(value: object, what: str) -> datetime:
    """Epoch milliseconds (a number or digits) or ISO 8601 with an offset (a trailing Z too)."""
    if isinstance(value, bool):
        raise UnreadableRecord(f"{what}: not a time: {value!r}")
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
        try:
            return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise UnreadableRecord(f"{what}: epoch milliseconds out of range") from exc
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise UnreadableRecord(f"{what}: not epoch ms or ISO 8601: {value!r}") from exc
        if parsed.tzinfo is None:
            raise UnreadableRecord(f"{what}: an ISO time needs an offset: {value!r}")
        return parsed.astimezone(UTC)
    raise UnreadableRecord(f"{what}: not a time: {value!r}")


def _instant(properties: Mapping[str, object], name: str | None) -> datetime | None:
    if name is None or properties.get(name) in (None, ""):
        return None
    return parse_instant(properties[name], name)


def _duration(properties: Mapping[str, object], mapping: CrmMapping, start: datetime | None) -> int | None:
    if mapping.duration_minutes and _text(properties, mapping.duration_minutes):
        raw = _text(properties, mapping.duration_minutes) or ""
        try:
            return int(float(raw))
        except ValueError as exc:
            raise UnreadableRecord(f"{mapping.duration_minutes}: not a number of minutes: {raw!r}") from exc
    end = _instant(properties, mapping.end)
    if end is not None and start is not None:
        return round((end - start).total_seconds() / 60)
    return mapping.default_duration_minutes if start is not None else None


def _attendees(value: object) -> dict[str, str | None]:
    """E-mail (lower-case, in order, once) -> display name when given: from a list of e-mails or
    `{email, name}` objects, or from a string of e-mails and `Name <e-mail>` entries."""
    items: list[tuple[str, str | None]] = []
    texts = [value] if isinstance(value, str) else []
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                texts.append(item)
            elif isinstance(item, dict) and isinstance(item.get("email"), str):
                name = item.get("name")
                items.append((item["email"], name if isinstance(name, str) else None))
    for text in texts:
        for match in _ATTENDEE.finditer(text):
            if match["named"]:
                items.append((match["named"], match["name"].strip().strip('"').strip()))
            else:
                items.append((match["bare"], None))
    found: dict[str, str | None] = {}
    for email, name in items:
        key = email.strip().lower()
        if "@" in key and found.get(key) is None:
            found[key] = (name or "").strip() or None
    return found


def _version(properties: Mapping[str, object], name: str | None) -> int | None:
    if name is None or properties.get(name) in (None, ""):
        return None
    return int(parse_instant(properties[name], name).timestamp() * 1000)
