"""Every operation of the inbox fuzzed from its own OpenAPI schema (schemathesis, property-based):
whatever arrives, the answer is never a server error. The schema stays unpublished in
production (openapi_url=None); the test builds it from the app."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

EXAMPLES_PER_OPERATION = 50


def test_no_input_makes_a_server_error(app: FastAPI, api_token: str) -> None:
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app
    headers = {"Authorization": f"Bearer {api_token}"}
    fuzzed = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def no_server_error(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        no_server_error()
        fuzzed.append(operation.label)
    assert len(fuzzed) >= 10, fuzzed  # the API and the pages, not an empty schema
