"""schemathesis over the OpenAPI document, with valid keys, against the running service: no 5xx, and
every response matches the schema (status code documented, body of the documented shape)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import ADMIN_KEY, RunningService, auth, running_service

# What the issue asks: no 5xx, and responses as documented. (Whether the document states every
# constraint the API enforces, such as IANA zone names, is not checked: it cannot list them all.)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    database = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    with running_service(f"sqlite:///{database}") as svc:
        yield svc


def test_no_5xx_and_responses_match_the_schema(service: RunningService) -> None:
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=auth(ADMIN_KEY), checks=CHECKS)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.label}: {exc}"[:3000])
    assert failures == [], "\n\n".join(failures)
