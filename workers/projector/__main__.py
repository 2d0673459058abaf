"""``python -m workers.projector``: pick the build of the folds, then run the projector."""

from __future__ import annotations

import logging

log = logging.getLogger("projector")


def main() -> None:
    """Load the compiled folds (or warn and keep the pure ones), then run until SIGTERM."""
    from cli.engine_build import PROJECTOR_MODULE_NAMES
    from common.settings import ProjectorSettings
    from workers.compiled import run_on_build

    async def run() -> None:
        from workers.projector.worker import main as projector  # (after the build was chosen)

        await projector()

    run_on_build(log, ProjectorSettings().log_level, run, PROJECTOR_MODULE_NAMES)


if __name__ == "__main__":
    main()
