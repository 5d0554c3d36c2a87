"""Graph change and lifecycle notifications as they arrive: pure parsing, no I/O.

A POST carries `{"value": [...]}`, each item either a change notification (`subscriptionId`,
`changeType`, `resource`, `resourceData`, `clientState`, ...) or a lifecycle notification
(`lifecycleEvent`, `subscriptionId`, `clientState`). Items may be batched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_CALL_RECORD_RESOURCE = re.compile(r"^/?communications/callRecords/(?P<id>[^/?]+)$", re.IGNORECASE)


class NotificationError(ValueError):
    """A body that is not a Graph notification batch."""


def parse_notifications(body: bytes) -> list[Mapping[str, Any]]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotificationError("the body is not JSON") from exc
    items = document.get("value") if isinstance(document, dict) else None
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise NotificationError('the body has no "value" list of notifications')
    return items


def lifecycle_event(item: Mapping[str, Any]) -> str | None:
    event = item.get("lifecycleEvent")
    return event if isinstance(event, str) and event else None


def call_record_id(item: Mapping[str, Any]) -> str | None:
    """The call record a change notification is about (its `resourceData.id`, else its `resource`)."""
    data = item.get("resourceData")
    if isinstance(data, Mapping) and isinstance(data.get("id"), str) and data["id"]:
        resource = item.get("resource")
        if not isinstance(resource, str) or _CALL_RECORD_RESOURCE.match(resource):
            return str(data["id"])
    resource = item.get("resource")
    match = _CALL_RECORD_RESOURCE.match(resource) if isinstance(resource, str) else None
    return match.group("id") if match else None
