"""Collector settings for the long-running processes that allocate in bursts."""

from __future__ import annotations

import gc


def tune_gc(thresholds: tuple[int, int, int]) -> None:
    """Move what startup allocated out of the collector's sight and collect less often.

    Everything loaded so far (modules, settings, clients) lives as long as the process:
    ``gc.freeze()`` keeps it out of every later full pass. The default thresholds (700, 10, 10)
    make a process that allocates tens of thousands of short-lived containers per batch beside
    a large long-lived heap traverse that heap again and again.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
