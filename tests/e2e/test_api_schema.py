"""schemathesis against the running api's /openapi.json: no 5xx, no response off its schema."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.e2e.processes import Service
from tests.integration.stream_health_api.harness import SERVICE_TOKEN

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_every_documented_operation_answers_within_its_schema(api: Service) -> None:
    schema: Any = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/admin/v1/streams/inactive", "/readyz"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
        def conforms(case: Any) -> None:
            case.call_and_validate(headers=headers)

        try:
            conforms()
        except Exception as failure:  # collect every operation's, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {failure}")
    assert failures == []
