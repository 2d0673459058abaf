"""The projector's pure path on a dump of the pipeline's messages: CPU per order, no I/O.

    .venv/bin/python -m benchmarks.projector_pure .cache/bench/pipeline50k.bin [--pure]

The dump is ``benchmarks.projector_replay --dump``'s. Per events partition (keyed like the
relay), in batches of ``--batch`` messages as the consumer loop fetches them, it runs what the
live projector runs between Kafka and the socket: the decode, the
:class:`~projections.writer.ProjectionWriter`'s chunks (fetch plan, folds, op stream) and the
RESP packing of each script call - with no Redis (every document a fold asks for is absent, as
in a fresh projection, and a chunk's script "returns" at once). ``process_time`` per stage,
per order (placements in the dump). It loads the mypyc build of the folds as the projector
does (``workers/compiled.py``; ``--pure``: the interpreted ones) and prints which ran. Far less
noisy than the replay on a shared machine: it is one process's own CPU, no hand-offs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

from cli.engine_build import PROJECTOR_MODULE_NAMES
from workers.compiled import use_compiled_engine

if "--pure" not in sys.argv:  # (before anything imports ``projections``)
    use_compiled_engine(logging.getLogger("projector_pure"), modules=PROJECTOR_MODULE_NAMES)

from benchmarks.projector_replay import PLACEMENTS, load, on_events_topic
from event_store.outbox import FoldInput, fold_input_from_message, partition_of
from projections import orders as orders_module
from projections.changes import Arg
from projections.keys import Control
from projections.resp import pack
from projections.writer import APPLY_SHA, CHUNK, ProjectionWriter, tune_gc

PARTITIONS = 4


class NoRedis:
    """Just what the writer calls on its client, answered at once (nothing stored): a fresh
    projection. The replay here and the collector's unit test use it."""

    def register_script(self, _script: str) -> object:
        return object()

    async def incr(self, _key: str) -> int:
        return 1

    async def mget(self, keys: list[str]) -> list[None]:
        return [None] * len(keys)


class _PackOnly(ProjectionWriter):
    """Packs each chunk's script call as the live writer does, and sends nothing."""

    pack_s = 0.0
    sent_bytes = 0

    async def _send(self, body: list[Arg]) -> None:
        started = time.process_time()
        packed = pack(["EVALSHA", APPLY_SHA, "0", *body])
        _PackOnly.pack_s += time.process_time() - started
        _PackOnly.sent_bytes += len(packed)


async def _run(
    messages: list[tuple[bytes, bytes]], batch: int, chunk: int
) -> tuple[dict[str, float], dict[str, int]]:
    """Seconds of CPU per stage; Redis commands and bytes the script calls carried."""
    writer = _PackOnly(NoRedis(), Control("pure"), chunk=chunk)  # type: ignore[arg-type]
    by_partition: dict[int, list[bytes]] = defaultdict(list)
    for key, value in messages:
        by_partition[partition_of(key, PARTITIONS)].append(value)
    for partition in by_partition:
        await writer.claim(partition)
    decode_s = apply_s = 0.0
    _PackOnly.pack_s, _PackOnly.sent_bytes = 0.0, 0
    ops = 0
    for partition, values in by_partition.items():
        for start in range(0, len(values), batch):
            fetched = values[start : start + batch]
            began = time.process_time()
            events: list[FoldInput] = [fold_input_from_message(v) for v in fetched]
            decoded = time.process_time()
            ops += await writer.apply(partition, events, start + len(fetched))
            decode_s += decoded - began
            apply_s += time.process_time() - decoded
    pack_s = _PackOnly.pack_s
    figures = {"decode_s": decode_s, "fold_encode_s": apply_s - pack_s, "pack_s": pack_s}
    return figures, {"ops": ops, "bytes": _PackOnly.sent_bytes}


def main() -> None:
    """Run the pure path ``--repeat`` times; print one JSON line per run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dump", type=Path)
    parser.add_argument("--batch", type=int, default=5000, help="messages per fetch")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="events per script call")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pure", action="store_true", help="the interpreted folds")
    args = parser.parse_args()
    messages = on_events_topic(load(args.dump))
    orders = sum(1 for _, v in messages if any(p in v[:200] for p in PLACEMENTS))
    tune_gc()
    compiled = not str(orders_module.__file__).endswith(".py")
    for _ in range(args.repeat):
        figures, sent = asyncio.run(_run(messages, args.batch, args.chunk))
        result: dict[str, Any] = {
            "build": "mypyc" if compiled else "pure",
            "orders": orders,
            **{k[:-2] + "_us_per_order": round(v / orders * 1e6, 1) for k, v in figures.items()},
            "total_us_per_order": round(sum(figures.values()) / orders * 1e6, 1),
            "redis_ops_per_order": round(sent["ops"] / orders, 2),
            "bytes_per_order": round(sent["bytes"] / orders),
            "load": [round(x, 2) for x in os.getloadavg()],
        }
        print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
