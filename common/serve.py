"""Run an ASGI app with uvicorn on uvloop + httptools (read deadlines), as JSON-line logs."""

from __future__ import annotations

import uvicorn

from common.deployment import require_safe_secrets
from common.logging import configure_logging
from common.settings import ApiSettings

KEEP_ALIVE_S = 75


def serve(app_path: str, service: str, settings: ApiSettings) -> None:
    """Serve ``module:factory`` (an app factory) on the settings' host and port (after
    refusing well-known secrets outside the local stacks)."""
    require_safe_secrets(service, settings)
    configure_logging(service, settings.log_level)
    uvicorn.run(
        app_path,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="common.http_protocol:TimedHttpToolsProtocol",  # httptools + read deadlines
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        # Longer than nginx keeps an idle upstream connection (60 s): the proxy, not the API,
        # closes it, so nginx never sends a request on a connection the API is closing.
        timeout_keep_alive=KEEP_ALIVE_S,
    )
