"""What both HTTP APIs share: health, readiness, metrics, problem+json, the edge middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import orjson
import redis.asyncio as aioredis
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from common.db import make_engine
from common.health import Readiness, default_probes
from common.middleware import EdgeMiddleware, HttpMetrics
from common.problems import install_problem_handlers
from common.settings import ApiSettings


def operations_router(service: str) -> APIRouter:
    """``/health``, ``/ready`` and ``/metrics``."""
    router = APIRouter(tags=["operations"])

    @router.get("/health", summary="The process is alive")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get(
        "/ready",
        summary="Every dependency answers",
        responses={503: {"description": "A dependency is down; the body names it"}},
    )
    async def ready(request: Request) -> Response:
        readiness: Readiness = request.app.state.readiness
        states = await readiness.check()
        ok = all(s.ok for s in states)
        body = {
            "status": "ready" if ok else "unavailable",
            "service": service,
            "dependencies": {s.name: s.as_dict() for s in states},
        }
        if not ok:
            down = ", ".join(s.name for s in states if not s.ok)
            body["code"] = "SERVICE_UNAVAILABLE"
            body["detail"] = f"dependency down: {down}"
        return Response(
            orjson.dumps(body),
            status_code=200 if ok else 503,
            headers=None if ok else {"Retry-After": "2"},
            media_type="application/json",
        )

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        registry = request.app.state.metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


DOCS_ASSETS = "/docs-assets"
"""Where each API serves the Swagger UI and ReDoc files its docs pages load."""


def new_api(service: str, title: str, settings: ApiSettings, **kwargs: object) -> FastAPI:
    """A FastAPI app with the exchange's conventions installed."""
    # Swagger UI and ReDoc from files shipped in a pinned package, not a CDN: the docs must
    # work on a machine without internet, and the front door's CSP then names no other origin.
    app = FastAPIOffline(
        title=title,
        version="1.0.0",
        static_url=DOCS_ASSETS,
        **kwargs,  # type: ignore[arg-type]
    )
    metrics = HttpMetrics(service)
    app.state.metrics = metrics
    install_problem_handlers(app)
    app.include_router(operations_router(service))
    app.add_middleware(
        EdgeMiddleware,
        metrics=metrics,
        max_in_flight=settings.max_in_flight,
    )
    return app


def infra_lifespan(
    settings: ApiSettings,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Open the MariaDB engine and Redis client on startup, with readiness probes over them.

    The app's own startup can find them on ``app.state.engine`` and ``app.state.redis``.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        redis_client = aioredis.from_url(settings.redis_url, socket_connect_timeout=1)
        app.state.engine = engine
        app.state.redis = redis_client
        app.state.readiness = Readiness(
            default_probes(settings, engine, redis_client), settings.dependency_timeout_s
        )
        try:
            yield
        finally:
            await redis_client.aclose()
            await engine.dispose()

    return lifespan
