"""A worker's operations endpoints (``/health``, ``/ready``, ``/metrics``, ``/state``) on uvicorn.

Apart from :mod:`workers.service` so a worker imports FastAPI and uvicorn (~0.2 CPU-s) off its
critical path: :func:`workers.service.run_worker` imports this module in a thread while the
worker joins its group and reads its first batch, then serves it on the worker's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from common.health import Readiness
from common.operations import operations_router


def operations_app(service: str, ops: Any, timeout_s: float) -> FastAPI:
    """``/health``, ``/ready``, ``/metrics`` and ``/state`` of a worker (``ops``: its
    :class:`workers.service.Operations`)."""
    app = FastAPI(title=f"{service} operations", docs_url=None, redoc_url=None)
    app.state.metrics = ops
    app.state.readiness = Readiness(ops.probes, timeout_s)
    app.include_router(operations_router(service))

    @app.get("/state", summary="The worker's in-memory state, for operators and verifiers")
    async def state() -> dict[str, Any]:
        return ops.state() if ops.state is not None else {}

    return app


class _OpsServer(uvicorn.Server):
    """uvicorn without its own signal handling: the worker's handlers stop both."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(
    service: str, ops: Any, host: str, port: int, timeout_s: float, stop: asyncio.Event
) -> None:
    """Serve the endpoints until ``stop`` is set."""
    config = uvicorn.Config(
        operations_app(service, ops, timeout_s),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = _OpsServer(config)
    served = asyncio.ensure_future(server.serve())
    try:
        await stop.wait()
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await served
