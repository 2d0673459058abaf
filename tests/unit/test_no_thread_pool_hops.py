"""Every route's endpoint and dependencies are coroutines: FastAPI runs a plain function in its
thread pool, a thread hop and a queue on every request (the query API's ``models`` dependency
was ~8 % of its busy samples under the single-POST benchmark's reads)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from command_api.app import create_app as command_app
from query_api.app import create_app as query_app


def _calls(dependant: Dependant) -> Iterator[Any]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # (FastAPI's included routers)
        if included is not None:
            yield from _api_routes(included.routes)


def _runs_in_thread_pool(call: Any) -> bool:
    if inspect.iscoroutinefunction(call):
        return False
    # (a security scheme is an instance whose class defines an async ``__call__``)
    return not inspect.iscoroutinefunction(type(call).__call__)


@pytest.mark.parametrize("build", [command_app, query_app], ids=["command_api", "query_api"])
def test_no_route_runs_a_plain_function(build: Any) -> None:
    app: FastAPI = build()
    routes = list(_api_routes(app.routes))
    plain = sorted(
        f"{route.path}: {getattr(call, '__qualname__', call)!r}"
        for route in routes
        for call in _calls(route.dependant)
        if _runs_in_thread_pool(call)
    )

    assert len(routes) > 5
    assert plain == []
