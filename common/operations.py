"""``/health``, ``/ready`` and ``/metrics``: the operations endpoints every process serves.

Apart from ``common.webapp`` (the APIs' edge, which imports SQLAlchemy and Redis) so that a
worker serving them imports only FastAPI.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from common.health import Readiness


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
