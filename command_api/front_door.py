"""The ASGI app uvicorn serves: the fast path's requests enter at the edge middleware.

Every request to FastAPI passes ``FastAPI.__call__``, Starlette's ``__call__``, its
``ServerErrorMiddleware`` (which wraps ``send``) and FastAPI's exception-telemetry layer before
it reaches the edge middleware (``common.middleware.EdgeMiddleware``), and each answer passes
their ``send`` wrappers back. For the order routes ``fastpath.OrderFastPath`` answers itself,
those outer layers were ~10 % of the command API's CPU under single POSTs (py-spy, 256 in
flight). This app hands exactly those requests (``fastpath.fast_route``) to the app's own edge
middleware instance, so correlation id, load shedding, body limit, metrics, ``AuthFirst`` and
the fast path (with its fallback to FastAPI's router) apply unchanged and share their counters
with every other request; everything else, the lifespan included, goes to FastAPI as before.
An exception that escapes the edge reaches uvicorn, which answers ``500`` as
``ServerErrorMiddleware`` would.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from command_api.fastpath import fast_route
from common.middleware import EdgeMiddleware


class FrontDoor:
    """``api`` with its order routes entered at its edge middleware (see the module)."""

    def __init__(self, api: FastAPI) -> None:
        self.api = api
        self._edge: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and fast_route(scope) is not None:
            edge = self._edge or self._find_edge()
            if edge is not None:
                scope["app"] = self.api  # (as Starlette sets it: ``Request.app``)
                await edge(scope, receive, send)
                return
        await self.api(scope, receive, send)

    def _find_edge(self) -> ASGIApp | None:
        """The edge middleware inside the app's middleware stack (built as Starlette would)."""
        api = self.api
        if api.root_path:  # (FastAPI would set the scope's root_path: keep one road)
            return None
        if api.middleware_stack is None:
            api.middleware_stack = api.build_middleware_stack()
        layer: object = api.middleware_stack
        while layer is not None and not isinstance(layer, EdgeMiddleware):
            layer = getattr(layer, "app", None)
        self._edge = layer
        return layer
