"""The query API application factory: reads Redis only."""

from __future__ import annotations

from fastapi import FastAPI

from common.settings import QueryApiSettings
from common.webapp import infra_lifespan, new_api


def create_app(settings: QueryApiSettings | None = None) -> FastAPI:
    """Build the query API with its real adapters."""
    settings = settings or QueryApiSettings()
    return new_api("query_api", "Exchange query API", settings, lifespan=infra_lifespan(settings))
