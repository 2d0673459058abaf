"""How fast the host runs right now: a fixed piece of interpreter work, timed in CPU time.

    .venv/bin/python -m benchmarks.host_canary --seconds 30

This machine is a 2-vCPU KVM guest without performance counters, and its speed changes by
tens of percent between minutes (the same code's CPU per order moved ~40 % within a run in
the tenth session). A pipeline run's CPU per order rising through the run is then either the
code's costs growing with the data or the host slowing down, and the two look alike. The canary
separates them: the same work every time (dict inserts and look-ups, tuples, strings, a sort,
about what a Python service does per message, over a working set of a few MiB), so its CPU time
only moves with the host (frequency, caches shared with neighbours). Steal time (the hypervisor
running someone else) is not charged to processes on this kernel, so it is reported beside it,
from ``/proc/stat``.

Run alone it prints one sample per line; ``benchmarks.pipeline`` runs it as a child process
beside the stack (``--every`` 2 s, ~1 % of a core) and shows each window's mean next to the
processes' CPU per order.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Final

KEYS: Final = 10_000


def work() -> int:
    """The fixed work: the same operations, in the same order, every call."""
    table: dict[str, tuple[int, str]] = {}
    for i in range(KEYS):
        table[f"order-{i}"] = (i, str(i * 7))
    total = 0
    for i in range(KEYS):
        hit = table[f"order-{(i * 7919) % KEYS}"]
        total += hit[0] + len(hit[1])
    ranked = sorted(table.values(), key=lambda item: item[1])
    return total + ranked[0][0]


def sample() -> float:
    """CPU µs of one call of :func:`work`."""
    began = time.process_time()
    work()
    return (time.process_time() - began) * 1e6


def steal_ticks() -> int:
    """The hypervisor's steal time so far, in clock ticks (all CPUs), 0 where unknown."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return 0
    return int(fields[8]) if len(fields) > 8 else 0


TICKS_PER_S: Final = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def main() -> None:
    """Print one sample (CPU µs) per line every ``--every`` seconds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=1.0, help="seconds between samples")
    parser.add_argument("--seconds", type=float, default=0.0, help="stop after (0: never)")
    args = parser.parse_args()
    work()  # (warm: the first call allocates the arenas)
    ends = time.monotonic() + args.seconds if args.seconds else float("inf")
    while time.monotonic() < ends:
        print(f"{sample():.0f}", flush=True)
        time.sleep(args.every)


if __name__ == "__main__":
    main()
