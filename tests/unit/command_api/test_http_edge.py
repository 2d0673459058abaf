"""The HTTP edge without a reachable MariaDB: a clear 503, never a 500."""

from __future__ import annotations

import httpx

from command_api.app import create_app
from common.settings import CommandApiSettings


async def test_an_unreachable_database_is_a_503_with_retry_after() -> None:
    settings = CommandApiSettings(
        database_url="mysql+asyncmy://nobody:nothing@127.0.0.1:1/none",
        redis_url="redis://127.0.0.1:1/0",
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as api,
    ):
        resp = await api.post(
            "/v1/deposits",
            json={"asset": "USD", "amount": "1.00"},
            headers={"Authorization": "Bearer some-user-key"},
        )

    assert resp.status_code == 503
    assert resp.headers["retry-after"]
    assert resp.json()["code"] == "SERVICE_UNAVAILABLE"
