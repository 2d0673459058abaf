"""The command API application factory: the only write door of the exchange."""

from __future__ import annotations

from fastapi import FastAPI

from common.settings import CommandApiSettings
from common.webapp import infra_lifespan, new_api


def create_app(settings: CommandApiSettings | None = None) -> FastAPI:
    """Build the command API with its real adapters."""
    settings = settings or CommandApiSettings()
    return new_api(
        "command_api", "Exchange command API", settings, lifespan=infra_lifespan(settings)
    )
