"""The External Service definition a Salesforce admin imports for Flow HTTP Callouts.

It is the meetings part of salesmeet's own OpenAPI document, rewritten for what External
Services reads: OpenAPI 3.0 (FastAPI writes 3.1), short operation ids (they become the Flow
action names), no security schemes, tags or response headers (ignored there; the API key comes
from the Named Credential). Nothing is hand-written: the file shipped in
`config/salesforce/external_service.yaml` is this function's output, and a test regenerates it
from the running app's schema, so the two cannot drift apart:

    curl -s http://127.0.0.1:8080/openapi.json | python -m integrations.crm.salesforce.external_service \\
        > config/salesforce/external_service.yaml
"""

from __future__ import annotations

import json
import sys
from typing import Any

import yaml

OPENAPI_VERSION = "3.0.3"
SERVER_PLACEHOLDER = "https://salesmeet.example.com"
# (path, method) in salesmeet's schema -> the operation id the Flow action is named after.
OPERATIONS: dict[tuple[str, str], str] = {
    ("/v1/meetings", "post"): "createMeeting",
    ("/v1/meetings", "get"): "findMeetings",
    ("/v1/meetings/{meeting_id}", "get"): "getMeeting",
    ("/v1/meetings/{meeting_id}", "patch"): "updateMeeting",
    ("/v1/meetings/{meeting_id}", "delete"): "cancelMeeting",
    ("/v1/meetings/{meeting_id}/attendance", "get"): "getAttendance",
}
_DROPPED_OPERATION_KEYS = frozenset({"tags", "security", "externalDocs", "callbacks"})
_REF_PREFIX = "#/components/schemas/"


class UnsupportedSchema(ValueError):
    """The app's schema uses a construct this converter does not know how to say in OpenAPI 3.0."""


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null" and len(schema) == 1


def _schema_30(schema: Any, where: str) -> Any:
    """One JSON Schema (OpenAPI 3.1 dialect) as an OpenAPI 3.0 schema object."""
    if isinstance(schema, list):
        return [_schema_30(item, where) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key in {"anyOf", "oneOf"} and any(_is_null(option) for option in value):
            others = [option for option in value if not _is_null(option)]
            if len(others) != 1:
                raise UnsupportedSchema(f"{where}: a nullable union of {len(others)} schemas")
            # External Services accepts null in any field whatever the schema says; for a $ref,
            # 3.0 ignores siblings, so the reference alone says it.
            inner = _schema_30(others[0], where)
            converted.update(inner)
            if "$ref" not in inner:
                converted["nullable"] = True
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            if len(types) != 1:
                raise UnsupportedSchema(f"{where}: type {value}")
            converted["type"] = types[0]
            if "null" in value:
                converted["nullable"] = True
        elif key == "const":
            converted["enum"] = [value]
        elif key == "examples":
            if isinstance(value, list) and value:
                converted["example"] = value[0]
        elif key in {"exclusiveMinimum", "exclusiveMaximum"} and not isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            converted[bound] = value
            converted[key] = True
        elif key in {"$schema", "contentMediaType", "contentEncoding", "$defs"}:
            continue
        elif key in {"properties", "patternProperties"} and isinstance(value, dict):
            converted[key] = {name: _schema_30(sub, f"{where}.{name}") for name, sub in value.items()}
        else:
            converted[key] = _schema_30(value, where)
    if "$ref" in converted and len(converted) > 1:
        # 3.0 ignores a reference's siblings: keep only the reference.
        return {"$ref": converted["$ref"]}
    return converted


def _operation(operation: dict[str, Any], operation_id: str) -> dict[str, Any]:
    converted = {k: v for k, v in operation.items() if k not in _DROPPED_OPERATION_KEYS}
    converted["operationId"] = operation_id
    responses = {}
    for status, response in sorted(operation.get("responses", {}).items()):
        # Response headers are not read by External Services.
        responses[status] = {k: v for k, v in response.items() if k != "headers"}
    converted["responses"] = responses
    return _schema_30(converted, operation_id)  # type: ignore[no-any-return]


def _referenced(document: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(document, dict):
        ref = document.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            found.add(ref.removeprefix(_REF_PREFIX))
        for value in document.values():
            found |= _referenced(value)
    elif isinstance(document, list):
        for value in document:
            found |= _referenced(value)
    return found


def external_service_document(openapi: dict[str, Any]) -> dict[str, Any]:
    """The External Service definition for the meetings operations of `openapi` (the app's schema)."""
    paths: dict[str, dict[str, Any]] = {}
    for (path, method), operation_id in OPERATIONS.items():
        operation = openapi.get("paths", {}).get(path, {}).get(method)
        if operation is None:
            raise UnsupportedSchema(f"the app has no {method.upper()} {path}")
        paths.setdefault(path, {})[method] = _operation(operation, operation_id)
    available = openapi.get("components", {}).get("schemas", {})
    wanted: set[str] = set()
    pending = _referenced(paths)
    while pending:
        name = pending.pop()
        if name in wanted:
            continue
        if name not in available:
            raise UnsupportedSchema(f"schema {name} is referenced but not defined")
        wanted.add(name)
        pending |= _referenced(available[name])
    schemas = {name: _schema_30(available[name], name) for name in sorted(wanted)}
    info = openapi.get("info", {})
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "salesmeet meetings",
            "version": str(info.get("version", "1")),
            "description": (
                "Create, reschedule and cancel sales meetings in salesmeet, and read their attendance. "
                "Import as a Salesforce External Service with a Named Credential that sends "
                "'Authorization: Bearer <salesmeet API key with the crm scope>'."
            ),
        },
        "servers": [{"url": SERVER_PLACEHOLDER}],
        "paths": paths,
        "components": {"schemas": schemas},
    }


def render(document: dict[str, Any]) -> str:
    header = (
        "# Generated from salesmeet's OpenAPI schema by integrations/crm/salesforce/external_service.py;\n"
        "# do not edit (a test regenerates it). Import it in Salesforce as an External Service.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def main() -> None:
    sys.stdout.write(render(external_service_document(json.load(sys.stdin))))


if __name__ == "__main__":
    main()
