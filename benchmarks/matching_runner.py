"""One timed replay of a workload file through one engine; prints one JSON line of results.

Run by ``benchmarks/matching.py`` in a fresh subprocess per measurement, so every engine starts
with a clean heap and its memory can be read from the process. Both engines are timed the same
way: the file is parsed to dicts before the clock starts; inside the timed loop each dict becomes
the engine's own command object (the ``owner`` map that cancels need is kept there too), GC stays
on unless ``--gc-off`` is given (then commands are also prebuilt before the clock).

Modes: ``each`` calls ``process(command)`` once per command (both engines); ``many`` builds
chunks of 100 commands and hands each chunk to our ``process_many`` (as the engine worker does
with a batch of messages); ``latency`` is ``each`` with a ``perf_counter_ns`` pair around every
call (command building excluded). The events of every call are produced in full and then dropped;
the trade count is read from the engine's own counter after the clock stops (both engines).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Row = dict[str, Any]
CHUNK = 100


def load(path: str) -> tuple[str, list[Row]]:
    """Parse a workload file: (symbol, command dicts)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    return header["symbol"], [json.loads(line) for line in lines[1:]]


def rss_mb() -> float:
    """Resident set size of this process now, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def ours(symbol: str) -> tuple[Any, Callable[[Row, dict[int, int]], Any], Callable[[Any], int]]:
    """Our engine, its command builder and its trade counter."""
    import domain.commands as commands
    from domain.instrument import Instrument
    from domain.matching import MatchingEngine

    engine = MatchingEngine([Instrument.create(symbol)])
    # Each build with its cheapest public constructor: the classes in pure Python; in the mypyc
    # build the compiled factory functions (vectorcall), which return the very same objects.
    compiled = not str(commands.__file__).endswith(".py")
    new_order = commands.new_order if compiled else commands.NewOrder
    cancel_order = commands.cancel_order if compiled else commands.CancelOrder

    def build(r: Row, owner: dict[int, int]) -> Any:
        if r["op"] == "new":
            owner[r["id"]] = r["user"]
            return new_order(
                symbol, r["id"], r["user"], r["side"], r["type"], r.get("price"), r["qty"], r["tif"]
            )
        return cancel_order(symbol, r["id"], owner[r["id"]])

    def trades(engine: Any) -> int:
        return int(engine.book(symbol).trade_seq)

    return engine, build, trades


def peer(symbol: str) -> tuple[Any, Callable[[Row, dict[int, int]], Any], Callable[[Any], int]]:
    """The ``matching-engine`` package (0.1.1): engine, command builder, trade counter."""
    from matching_engine.domain import (
        CancelOrder,
        NewOrder,
        OrderType,
        SequencedCommand,
        Side,
        TimeInForce,
    )
    from matching_engine.engine import MatchingEngine

    engine = MatchingEngine()
    sides = {"buy": Side.BUY, "sell": Side.SELL}
    types = {"limit": OrderType.LIMIT, "market": OrderType.MARKET}
    tifs = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}
    seq = iter(range(1, 1 << 62))

    def build(r: Row, owner: dict[int, int]) -> Any:
        if r["op"] == "new":
            owner[r["id"]] = r["user"]
            command: Any = NewOrder(
                r["id"],
                r["user"],
                sides[r["side"]],
                r.get("price", 0),
                r["qty"],
                types[r["type"]],
                tifs[r["tif"]],
            )
        else:
            command = CancelOrder(r["id"], owner[r["id"]])
        return SequencedCommand(next(seq), 0, command)

    def trades(engine: Any) -> int:
        return int(engine.next_trade_id) - 1

    return engine, build, trades


class _Adapter:
    """A ``process(command)`` face for the books whose API is one method per kind of order."""

    def __init__(self, process: Callable[[Any], Any]) -> None:
        self.process = process


def orderly(symbol: str) -> tuple[Any, Callable[[Row, dict[int, int]], Any], Callable[[Any], int]]:
    """``orderly-chaos`` 0.2.0 (a C++ book behind ctypes): IOC = limit, then cancel the rest."""
    from orderly_chaos import LimitOrderBook, Side

    fills = [0]

    def count(_trade: Any) -> None:
        fills[0] += 1

    book = LimitOrderBook(on_trade=count)
    sides = {"buy": Side.BUY, "sell": Side.SELL}
    limit, market, cancel, has = book.limit, book.market, book.cancel, book.has

    def build(r: Row, owner: dict[int, int]) -> Any:
        if r["op"] == "new":
            owner[r["id"]] = r["user"]
            return r["type"], sides[r["side"]], r["id"], r["qty"], r.get("price"), r["tif"]
        return "cancel", None, r["id"], 0, None, None

    def process(command: Any) -> None:
        kind, side, order_id, quantity, price, tif = command
        if kind == "limit":
            limit(side, order_id, quantity, price)
            if tif == "IOC" and has(order_id):
                cancel(order_id)
        elif kind == "market":
            market(side, order_id, quantity)
        elif has(order_id):
            cancel(order_id)

    return _Adapter(process), build, lambda _engine: fills[0]


def pyorderbook(
    symbol: str,
) -> tuple[Any, Callable[[Row, dict[int, int]], Any], Callable[[Any], int]]:
    """``pyorderbook`` 0.4.9 (pure Python, ``Decimal`` prices): a market order is a limit at
    the far end of the book, IOC/market remainders are cancelled after matching."""
    from pyorderbook import Book, Order, Side

    book = Book()
    sides = {"buy": Side.BID, "sell": Side.ASK}
    far = {"buy": 1 << 40, "sell": 0}
    orders: dict[int, Any] = {}
    fills = [0]

    def build(r: Row, owner: dict[int, int]) -> Any:
        if r["op"] == "new":
            owner[r["id"]] = r["user"]
            price = r["price"] if r["type"] == "limit" else far[r["side"]]
            order = Order(sides[r["side"]], symbol, price, r["qty"])
            return r["id"], order, r["tif"] == "IOC"
        return r["id"], None, False

    def process(command: Any) -> None:
        order_id, order, immediate = command
        if order is None:
            standing = orders.pop(order_id, None)
            if standing is not None and standing.id in book.order_map:
                book.cancel(standing)
            return
        fills[0] += len(book.match(order).trades)
        if order.id in book.order_map:
            if immediate:
                book.cancel(order)
            else:
                orders[order_id] = order

    return _Adapter(process), build, lambda _engine: fills[0]


def run(engine_name: str, mode: str, path: str, gc_off: bool) -> dict[str, Any]:
    """Replay ``path`` once and return the measured figures."""
    symbol, rows = load(path)
    factories = {"ours": ours, "peer": peer, "orderly": orderly, "pyorderbook": pyorderbook}
    engine, build, count_trades = factories[engine_name](symbol)
    process = engine.process
    rss_before = rss_mb()
    owner: dict[int, int] = {}
    latencies: list[int] = []
    prebuilt = [build(r, owner) for r in rows] if gc_off else None
    if gc_off:
        gc.collect()
        gc.disable()
    start = time.perf_counter()
    cpu_start = time.process_time()
    if mode == "many":
        process_many = engine.process_many
        for first in range(0, len(rows), CHUNK):
            chunk = rows[first : first + CHUNK]
            if prebuilt is not None:
                process_many(prebuilt[first : first + CHUNK])
            else:
                process_many([build(r, owner) for r in chunk])
    elif mode == "each":
        if prebuilt is not None:
            for command in prebuilt:
                process(command)
        else:
            for r in rows:
                process(build(r, owner))
    else:
        clock = time.perf_counter_ns
        for r in rows:
            command = build(r, owner)
            t0 = clock()
            process(command)
            latencies.append(clock() - t0)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    trades = count_trades(engine)
    gc.enable()
    result: dict[str, Any] = {
        "engine": engine_name,
        "mode": mode,
        "gc_off": gc_off,
        "commands": len(rows),
        "seconds": elapsed,
        "commands_per_s": len(rows) / elapsed,
        "commands_per_cpu_s": len(rows) / cpu,
        "trades": trades,
        "rss_engine_mb": round(rss_mb() - rss_before, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if latencies:
        latencies.sort()
        result["p50_us"] = latencies[len(latencies) // 2] / 1000
        result["p99_us"] = latencies[len(latencies) * 99 // 100] / 1000
    return result


def main() -> None:
    """Entry point: ``python benchmarks/matching_runner.py ENGINE MODE FILE [--gc-off]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("engine", choices=["ours", "peer", "orderly", "pyorderbook"])
    parser.add_argument("mode", choices=["each", "many", "latency"])
    parser.add_argument("workload")
    parser.add_argument("--gc-off", action="store_true")
    args = parser.parse_args()
    sys.stdout.write(json.dumps(run(args.engine, args.mode, args.workload, args.gc_off)) + "\n")


if __name__ == "__main__":
    main()
