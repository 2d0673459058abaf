"""With Redis unreachable the query API answers 503 problem+json, never 500."""

from __future__ import annotations

import httpx

from common.settings import QueryApiSettings
from query_api.app import create_app


async def test_every_read_is_a_503_with_retry_after_while_redis_is_down() -> None:
    settings = QueryApiSettings(redis_url="redis://127.0.0.1:1/0", dependency_timeout_s=0.5)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        responses = [
            await client.get("/v1/books/ACME"),
            await client.get("/v1/instruments"),
            await client.get("/v1/account", headers={"Authorization": "Bearer xk_someone"}),
        ]
        ready = await client.get("/ready")

    for resp in responses:
        assert resp.status_code == 503, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["code"] == "SERVICE_UNAVAILABLE"
        assert resp.headers["retry-after"] == "2"
    assert ready.status_code == 503
    assert set(ready.json()["dependencies"]) == {"redis"}
