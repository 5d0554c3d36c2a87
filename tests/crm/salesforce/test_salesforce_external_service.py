"""The shipped External Service definition is the app's own schema, in the OpenAPI 3.0 Salesforce reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from integrations.crm.salesforce.external_service import (
    OPERATIONS,
    UnsupportedSchema,
    external_service_document,
    render,
)
from service.api.app import create_app
from service.bootstrap import build_runtime
from service.config.loader import parse_config
from service.config.secrets import Settings
from tests.helpers_signing import SANDBOX_SECRET
from tests.support import sandbox_config

SHIPPED = Path(__file__).parents[3] / "config" / "salesforce" / "external_service.yaml"


@pytest.fixture(scope="module")
def app_schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    db = tmp_path_factory.mktemp("schema") / "schema.db"
    settings = Settings(database_url=f"sqlite:///{db}").with_secrets(
        {"zoom_webhook_secret_token": SANDBOX_SECRET}
    )
    runtime = build_runtime(parse_config(sandbox_config()), settings)
    try:
        return create_app(runtime).openapi()
    finally:
        runtime.close()


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_the_shipped_file_is_what_the_app_schema_generates(app_schema: dict[str, Any]) -> None:
    generated = render(external_service_document(app_schema))
    assert yaml.safe_load(SHIPPED.read_text()) == yaml.safe_load(generated), (
        "config/salesforce/external_service.yaml is stale; regenerate it with\n"
        "curl -s http://127.0.0.1:8080/openapi.json | python -m integrations.crm.salesforce.external_service"
        " > config/salesforce/external_service.yaml"
    )


def test_it_is_openapi_30_with_nothing_from_31_left(app_schema: dict[str, Any]) -> None:
    document = yaml.safe_load(SHIPPED.read_text())
    assert document["openapi"].startswith("3.0.")
    schemas = document["components"]["schemas"]
    for node in _walk(document):
        assert not isinstance(node.get("type"), list), node
        assert node.get("type") != "null", node
        assert "const" not in node and "examples" not in node, node
        ref = node.get("$ref")
        if isinstance(ref, str):
            assert ref.removeprefix("#/components/schemas/") in schemas, ref
            assert len(node) == 1, f"siblings of $ref are ignored in 3.0: {node}"
    assert "securitySchemes" not in document["components"]


def test_each_operation_is_a_flow_action_with_a_short_name_and_the_create_retry_documented() -> None:
    document = yaml.safe_load(SHIPPED.read_text())
    ids = [op["operationId"] for methods in document["paths"].values() for op in methods.values()]
    assert sorted(ids) == sorted(OPERATIONS.values())
    create = document["paths"]["/v1/meetings"]["post"]
    assert {"200", "201"} <= set(create["responses"])
    for methods in document["paths"].values():
        for method, operation in methods.items():
            assert "tags" not in operation
            assert method != "get" or "requestBody" not in operation
            assert all(parameter.get("name") for parameter in operation.get("parameters", []))
    nullable_title = document["components"]["schemas"]["MeetingPatch"]["properties"]["title"]
    assert nullable_title["type"] == "string" and nullable_title["nullable"] is True


def test_a_construct_it_cannot_express_fails_loudly(app_schema: dict[str, Any]) -> None:
    broken = {**app_schema, "components": {"schemas": {**app_schema["components"]["schemas"]}}}
    broken["components"]["schemas"]["MeetingCreate"] = {
        "type": "object",
        "properties": {"start": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}},
    }
    with pytest.raises(UnsupportedSchema, match=r"MeetingCreate\.start"):
        external_service_document(broken)
