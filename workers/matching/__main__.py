"""``python -m workers.matching``: the matching worker under the shared consumer loop.

Its Kafka fetches: ``EXCHANGE_MATCHING_FETCH_MIN_BYTES`` / ``EXCHANGE_MATCHING_FETCH_WAIT_MS``.
"""

from __future__ import annotations

import logging

log = logging.getLogger("matching")

GC_THRESHOLDS = (50_000, 50, 100)
"""A batch allocates ~10^5 short-lived containers (decoded messages, rows) beside the engine's
long-lived books; with the default thresholds the collector walked those books again and again:
``python -m benchmarks.workers --n 100000``, worker CPU 4.46 s with the defaults, 3.03 s with
these (startup frozen, see :func:`common.gc_tuning.tune_gc`)."""


async def _main() -> None:
    # Imported here, after the engine build was chosen: these modules import ``domain``.
    from common.gc_tuning import tune_gc
    from common.settings import MatchingSettings
    from event_store.mariadb import MariaDbEventStore
    from workers.matching.worker import APPENDS_TO, MatchingWorker
    from workers.service import Operations, run_store_consumer

    settings = MatchingSettings()
    tune_gc(GC_THRESHOLDS)

    def make(store: MariaDbEventStore, ops: Operations) -> MatchingWorker:
        worker = MatchingWorker(
            store,
            group=settings.matching_group,
            topic=settings.orders_topic,
            partitions=settings.orders_partitions,
            snapshot_every_inputs=settings.snapshot_every_inputs,
            snapshot_every_s=settings.snapshot_every_s,
        )
        ops.state = worker.state
        return worker

    fetch = (settings.matching_fetch_min_bytes, settings.matching_fetch_wait_ms)
    await run_store_consumer("matching", settings, make, APPENDS_TO, fetch)


def main() -> None:
    """Pick the engine build, then run the worker until SIGTERM."""
    from common.settings import WorkerSettings
    from workers.compiled import run_on_build

    run_on_build(log, WorkerSettings().log_level, _main)


if __name__ == "__main__":
    main()
