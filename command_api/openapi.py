"""The OpenAPI document as the server enforces it.

FastAPI 0.163 writes numeric bounds as floats (``"minimum": 1.0``). JSON Schema counts ``1.0`` as
an integer, so clients and fuzzers built from the document send ``1.0`` where this API's strict
integers refuse it: integral bounds are written back as integers, which keeps generated values
integers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


def integral_bounds(node: Any) -> Any:
    """``node`` with every integral float bound turned into an ``int`` (in place)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _BOUNDS and isinstance(value, float) and value.is_integer():
                node[key] = int(value)
            else:
                integral_bounds(value)
    elif isinstance(node, list):
        for item in node:
            integral_bounds(item)
    return node


def install(app: FastAPI) -> None:
    """Serve the document with integral bounds (built once, like FastAPI's own)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = integral_bounds(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
