"""With Redis unreachable the query API answers 503 problem+json, never 500."""

from __future__ import annotations

from fastapi.testclient import TestClient

from common.settings import QueryApiSettings
from query_api.app import create_app


def test_every_read_is_a_503_with_retry_after_while_redis_is_down() -> None:
    settings = QueryApiSettings(redis_url="redis://127.0.0.1:1/0", dependency_timeout_s=0.5)
    with TestClient(create_app(settings)) as client:
        responses = [
            client.get("/v1/books/ACME"),
            client.get("/v1/instruments"),
            client.get("/v1/account", headers={"Authorization": "Bearer xk_someone"}),
        ]
        ready = client.get("/ready")

    for resp in responses:
        assert resp.status_code == 503, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["code"] == "SERVICE_UNAVAILABLE"
        assert resp.headers["retry-after"] == "2"
    assert ready.status_code == 503
    assert set(ready.json()["dependencies"]) == {"redis"}
