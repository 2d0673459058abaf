"""The ceiling for the command API benchmark: the same server setup, an endpoint without I/O.

``create_app`` builds the app with the exchange's conventions (``common.webapp.new_api``: the
edge middleware, problem+json) and a ``POST /v1/orders`` that validates the same body model and
answers a constant, so the difference to the real API is the work behind the endpoint.
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI
from fastapi.responses import Response

from command_api.schemas import NewOrderRequest
from common.settings import ApiSettings
from common.webapp import new_api

_ACCEPTED = orjson.dumps(
    {"order_id": 1, "client_order_id": None, "status": "accepted", "position": 1}
)


def create_app() -> FastAPI:
    """The no-I/O app."""
    app = new_api("ceiling", "ceiling", ApiSettings())

    @app.post("/v1/orders", status_code=201)
    async def place(_: NewOrderRequest) -> Response:
        return Response(_ACCEPTED, 201, media_type="application/json")

    return app
