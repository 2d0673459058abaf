"""``python -m workers.settlement``: the settlement worker under the shared consumer loop.

The worker itself is :mod:`workers.settlement_worker`; this entry point picks the domain build
first (:func:`workers.compiled.use_compiled_engine`: the mypyc build compiles the account
effects and ``fold_account_data`` the worker spends its time in), then imports it. Its Kafka
fetches: ``EXCHANGE_SETTLEMENT_FETCH_MIN_BYTES`` / ``EXCHANGE_SETTLEMENT_FETCH_WAIT_MS``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from event_store.protocol import EventStore
    from workers.service import Operations
    from workers.settlement_worker import SettlementWorker

log = logging.getLogger("settlement")

GC_THRESHOLDS: Final = (500_000, 50, 100)
"""A batch allocates ~10^5 short-lived containers (decoded messages, account events, rows)
beside the long-lived cache of every account met (holds and balances): with the default
thresholds the collector walked that cache again and again (see ``common.gc_tuning``). At
50,000 it still ran 9 young collections of 30-60 ms each over the workers benchmark (0.3 s of
5.4 CPU-s, ``gc.callbacks``): each found the batch in hand and the accounts loaded since alive,
all of it reference-counted garbage soon after; at 500,000 none ran, peak RSS unchanged."""


async def _main() -> None:
    # Imported here, after the domain build was chosen: these modules import ``domain``.
    from common.gc_tuning import tune_gc
    from common.settings import SettlementSettings
    from workers.service import run_store_consumer
    from workers.settlement_worker import APPENDS_TO, SettlementWorker

    settings = SettlementSettings()
    tune_gc(GC_THRESHOLDS)

    def make(store: EventStore, _ops: Operations) -> SettlementWorker:
        return SettlementWorker(
            store,
            group=settings.settlement_group,
            topic=settings.settlement_topic,
            partitions=settings.settlement_partitions,
        )

    fetch = (settings.settlement_fetch_min_bytes, settings.settlement_fetch_wait_ms)
    await run_store_consumer("settlement", settings, make, APPENDS_TO, fetch)


def main() -> None:
    """Pick the domain build, then run the worker until SIGTERM."""
    from common.settings import WorkerSettings
    from workers.compiled import run_on_build

    run_on_build(log, WorkerSettings().log_level, _main)


if __name__ == "__main__":
    main()
