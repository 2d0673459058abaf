"""Schemathesis against the live ``/openapi.json``: no 5xx, no response outside the schema.

Every generated request is sent three times: without a key, with the admin key and with a
funded user's key (so both auth failures and the use cases behind them are explored).
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.command_api.conftest import ADMIN

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def auth_variants(command_api_url: str) -> list[dict[str, str]]:
    """No key, the admin key, and a funded user's key (with a listed FUZZ instrument)."""
    with httpx.Client(base_url=command_api_url, timeout=10) as api:
        name = f"fuzz{uuid.uuid4().hex[:10]}"
        user = api.post("/v1/users", json={"username": name}, headers=ADMIN).json()
        headers = {"Authorization": f"Bearer {user['api_key']}"}
        api.post("/v1/instruments", json={"symbol": "FUZZ"}, headers=ADMIN)
        api.post("/v1/deposits", json={"asset": "USD", "amount": "100000.00"}, headers=headers)
        api.post("/v1/deposits", json={"asset": "FUZZ", "amount": 1000}, headers=headers)
    return [{}, ADMIN, headers]


def test_no_request_gets_a_server_error_or_an_undocumented_response(
    command_api_url: str, auth_variants: list[dict[str, str]]
) -> None:
    schema = schemathesis.openapi.from_url(f"{command_api_url}/openapi.json")
    labels = []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        _fuzz(operation.as_strategy(generation_mode=GenerationMode.POSITIVE), auth_variants)
        with contextlib.suppress(Unsatisfiable):  # operations without inputs have no negatives
            _fuzz(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE), auth_variants)
    assert "POST /v1/orders" in labels and "PATCH /v1/orders/{order_id}" in labels


def _fuzz(strategy: Any, auth_variants: list[dict[str, str]]) -> None:
    @given(case=strategy)
    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        for headers in auth_variants:
            case.call_and_validate(
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance, status_code_conformance],
            )

    run()
