"""Every error an API can produce is problem+json with a stable code, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from command_api.app import create_app as command_app
from common.health import Readiness
from common.problems import Problem
from common.settings import ApiSettings
from common.webapp import new_api
from query_api.app import create_app as query_app


class Order(BaseModel):
    quantity: int


def _app() -> FastAPI:
    app = new_api("unit", "unit", ApiSettings(max_in_flight=64))

    async def down() -> None:
        raise ConnectionRefusedError("nothing listens")

    async def up() -> None:
        return None

    app.state.readiness = Readiness({"mariadb": up, "kafka": down}, timeout_s=0.5)

    @app.post("/orders", status_code=201)
    async def place(order: Order) -> dict[str, int]:
        if order.quantity > 100:
            raise Problem(422, "INSUFFICIENT_FUNDS", "not enough cash")
        return {"quantity": order.quantity}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def _assert_problem(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["status"] == status
    assert body["code"] == code
    assert {"type", "title", "detail"} <= body.keys()


async def test_unknown_route_is_a_not_found_problem(client: httpx.AsyncClient) -> None:
    _assert_problem(await client.get("/nope"), 404, "NOT_FOUND")


async def test_wrong_method_is_a_method_not_allowed_problem(client: httpx.AsyncClient) -> None:
    _assert_problem(await client.delete("/orders"), 405, "METHOD_NOT_ALLOWED")


async def test_malformed_json_is_a_bad_request_problem(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/orders", content=b"{not json", headers={"content-type": "application/json"}
    )
    _assert_problem(resp, 400, "MALFORMED_JSON")


async def test_wrong_field_type_is_a_validation_problem(client: httpx.AsyncClient) -> None:
    resp = await client.post("/orders", json={"quantity": "many"})
    _assert_problem(resp, 422, "VALIDATION_ERROR")


async def test_domain_problem_keeps_its_code(client: httpx.AsyncClient) -> None:
    _assert_problem(await client.post("/orders", json={"quantity": 101}), 422, "INSUFFICIENT_FUNDS")


async def test_oversized_body_is_refused_before_parsing(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/orders", content=b"x" * 2_000_000, headers={"content-type": "application/json"}
    )
    _assert_problem(resp, 413, "PAYLOAD_TOO_LARGE")


async def test_ready_names_the_dependency_that_is_down(client: httpx.AsyncClient) -> None:
    resp = await client.get("/ready")
    assert resp.status_code == 503
    assert resp.headers["retry-after"]
    body = resp.json()
    assert body["dependencies"]["kafka"]["status"] == "down"
    assert body["dependencies"]["mariadb"]["status"] == "up"
    assert "kafka" in body["detail"]


async def test_every_response_carries_a_correlation_id(client: httpx.AsyncClient) -> None:
    resp = await client.get("/health", headers={"x-correlation-id": "abc123"})
    assert resp.status_code == 200
    assert resp.headers["x-correlation-id"] == "abc123"


async def test_metrics_count_requests_in_prometheus_text(client: httpx.AsyncClient) -> None:
    await client.get("/health")
    resp = await client.get("/metrics")
    assert resp.status_code == 200
    assert 'http_requests_total{method="GET",route="/health"' in resp.text.replace(
        'service="unit",', ""
    )


@pytest.mark.parametrize("api", ["command", "query"])
def test_every_error_the_apis_document_is_problem_json(api: str) -> None:
    spec = (command_app if api == "command" else query_app)().openapi()
    undocumented, not_problems = [], []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation.get("responses", {})
            if (operation.get("parameters") or operation.get("requestBody")) and (
                "422" not in responses
            ):
                undocumented.append(f"{method} {path}")
            not_problems += [
                f"{method} {path} {status}"
                for status, response in responses.items()
                if status[0] in "45"
                and path != "/ready"  # (readiness answers its own JSON, 503 included)
                and "application/problem+json" not in response.get("content", {})
            ]

    assert (undocumented, not_problems) == ([], [])
