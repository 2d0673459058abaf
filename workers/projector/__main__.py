"""``python -m workers.projector``: pick the build of the folds, then run the projector."""

from __future__ import annotations

import logging

import uvloop

log = logging.getLogger("projector")


def main() -> None:
    """Load the compiled folds (or warn and keep the pure ones), then run until SIGTERM."""
    from cli.engine_build import PROJECTOR_MODULE_NAMES
    from common.logging import configure_logging
    from common.settings import ProjectorSettings
    from workers.compiled import use_compiled_engine

    configure_logging("projector", ProjectorSettings().log_level)
    use_compiled_engine(log, modules=PROJECTOR_MODULE_NAMES)
    from workers.projector.worker import main as run

    uvloop.run(run())


if __name__ == "__main__":
    main()
