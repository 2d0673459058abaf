"""Where the workers' time goes: each stage of a batch timed alone, on a kept benchmark database.

    .venv/bin/python -m benchmarks.workers --keep          # prints the database's name
    .venv/bin/python -m benchmarks.workers_stages --database exchange_test_bench_<pid>

Replays, in this process and with the same code the workers run (the compiled engine build
loaded first, as ``workers/compiled.py`` does), what the relay published to the two topics (the
message values come from the same ``SELECT`` the relay runs, up to the relay's checkpoint, so
the settlement worker's own outputs are left out) and times every stage of a batch separately:

* matching, per input, in batches of ``--batch`` (the worker's ``batch_max``): decoding the
  message into an engine command (``workers.matching.codec.input_from_message``),
  ``engine.process``, routing the outputs (``OutputRows.add``: one encoded row per output
  event), building the append (``OutputRows.append``) and planning it (``plan_batch``), and the
  stream-version look-up of the batch's order streams that the writer's careful path makes (the
  order streams are appended with ``ANY``; the worker notes its inputs' versions so the writer
  usually plans from its cache instead);
* settlement: decoding every message of the events topic (all of them, not only the inputs),
  loading an account the first time (``Accounts.refresh`` of users never seen), refreshing the
  accounts of a batch that are already cached (the round trip every batch makes), the decisions
  (``SettlementWorker._book`` on the accounts as they stood before settlement, rows encoded
  as they are decided).

CPU stages are timed with ``time.perf_counter`` on one core (nothing else of ours runs); the
database stages are wall time against the test stack's MariaDB. The last line of output is one
JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import orjson
import uvloop

from event_store.outbox import OutboxRow

log = logging.getLogger("stages")

PARTITIONS: Final = 4


class Clock:
    """Seconds per named stage, summed over the batches: CPU time of this process for the
    stages that only compute (steady on a shared machine), wall time for the database's."""

    def __init__(self, *names: str, wall: tuple[str, ...] = ()) -> None:
        self.totals = dict.fromkeys(names, 0.0)
        self._wall = wall

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        clock = time.perf_counter if name in self._wall else time.process_time
        started = clock()
        try:
            yield
        finally:
            self.totals[name] = self.totals.get(name, 0.0) + clock() - started


JSON_TABLE_READ: Final = (
    "SELECT e.position, e.stream_id, e.stream_version, e.event_id, e.type, e.schema_version,"
    " e.data, e.metadata, e.recorded_at FROM JSON_TABLE(%s, '$[*]' COLUMNS ("
    " sid VARCHAR(200) PATH '$[0]', v INT PATH '$[1]')) AS w"
    " JOIN events AS e ON e.stream_id = w.sid AND e.stream_version >= w.v ORDER BY e.position"
)
"""``read_streams`` as one statement (a candidate; not what the store runs today)."""


def _mariadb_pid() -> int:
    from cli.profiles import PROFILES

    try:
        return int((PROFILES["test"].run_dir / "mariadb.pid").read_text().strip())
    except (OSError, ValueError):
        return 0


def _cpu_seconds(pid: int) -> float:
    """CPU seconds of a process so far (the test stack's MariaDB: shared, so approximate)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def relayed(url: str) -> list[OutboxRow]:
    """The relay's rows (position, stream key, symbol, user key, value) up to its checkpoint."""
    from event_store.connection import connect_raw
    from event_store.outbox import fetch_outbox

    conn = await connect_raw(url, autocommit=True, connect_timeout_s=5)
    try:
        async with conn.cursor() as cur:
            await cur.execute("SELECT MAX(position) FROM checkpoints WHERE consumer LIKE 'bench-%'")
            (end,) = await cur.fetchone()
            rows: list[OutboxRow] = []
            after = 0
            while after < end:
                batch = await fetch_outbox(cur, after, min(50_000, end - after))
                if not batch:
                    break
                rows += batch
                after = batch[-1][0]
    finally:
        conn.close()
    return rows


async def matching_stages(url: str, rows: list[OutboxRow], batch: int) -> dict[str, Any]:
    """Each stage of the matching worker's batches, per input."""
    from domain.matching import MatchingEngine
    from event_store.connection import connect_raw
    from event_store.planning import encoded_event, plan_batch
    from event_store.sql import stream_versions
    from workers.instruments import Instruments
    from workers.matching.codec import (
        ACTOR,
        OutputRows,
        input_from_message,
        metadata_of,
    )
    from workers.matching.shard import INPUT_CONSUMED, admit

    values = [value for _, _, symbol, _, value in rows if symbol is not None]
    engine = MatchingEngine()
    from event_store.mariadb import MariaDbEventStore

    store = MariaDbEventStore.from_url(url)
    instruments = Instruments(store)
    conn = await connect_raw(url, autocommit=True, connect_timeout_s=5)
    clock = Clock(
        "decode", "engine", "route", "encode", "plan", "versions_db", wall=("versions_db",)
    )
    outputs_total = streams_total = 0
    mariadb = _mariadb_pid()
    versions_mariadb_s = 0.0
    try:
        for first in range(0, len(values), batch):
            chunk = values[first : first + batch]
            with clock("decode"):
                inputs = [input_from_message(v) for v in chunk]
            commands = [i.command for i in inputs if i.command is not None]
            for command in commands:
                await admit(engine, instruments, command)
            process = engine.process
            with clock("engine"):
                results = [process(c) for c in commands]
            output_rows = OutputRows()
            with clock("route"):
                for item, outputs in zip(inputs, results, strict=True):
                    if outputs:
                        output_rows.add(outputs, metadata_of(item.correlation_id, item.event_id))
            consumed = {"partition": 0, "last_position": 0, "kafka_offset": 0, "inputs": 0}
            with clock("encode"):
                checkpoint = encoded_event(INPUT_CONSUMED, consumed, {"actor": ACTOR})
                encoded = output_rows.append("matching-x", 0, checkpoint)
            outputs_total += len(encoded.event_ids) - 1
            streams_total += len(encoded.streams) - 1
            ids = {s.stream_id for s in encoded.streams}
            cpu_before = _cpu_seconds(mariadb)
            with clock("versions_db"):
                async with conn.cursor() as cur:
                    versions = await stream_versions(cur, ids)
            versions_mariadb_s += _cpu_seconds(mariadb) - cpu_before
            with clock("plan"):
                plan_batch([encoded], versions, 10**9)
        # What a snapshot costs at the end (the worker takes one every 50,000 inputs).
        with clock("snapshot"):
            state = engine.snapshot()
            snapshot = orjson.dumps({"engine": json.loads(state)})
    finally:
        conn.close()
        await store.close()
    n = len(values)
    totals = clock.totals
    snapshot_s = totals.pop("snapshot")
    figures = {f"matching_{k}_us": round(v / n * 1e6, 2) for k, v in totals.items()}
    figures["matching_snapshot_s"] = round(snapshot_s, 3)
    figures["matching_versions_db_mariadb_cpu_us"] = round(versions_mariadb_s / n * 1e6, 2)
    figures["matching_snapshot_mb"] = round(len(snapshot) / 2**20, 1)
    figures |= {
        "matching_inputs": n,
        "matching_outputs_per_input": round(outputs_total / n, 2),
        "matching_streams_per_batch": round(streams_total / max(1, -(-n // batch))),
        "matching_cpu_stages_us": round(
            sum(v for k, v in totals.items() if k != "versions_db") / n * 1e6, 1
        ),
    }
    return figures


async def settlement_stages(url: str, rows: list[OutboxRow], batch: int) -> dict[str, Any]:
    """Each stage of the settlement worker's batches."""
    from domain.account import Account
    from domain.events import event_from_dict
    from event_store.connection import connect_raw
    from event_store.mariadb import MariaDbEventStore
    from event_store.model import RecordedEvent
    from event_store.outbox import event_from_message, partition_of
    from workers.accounts import Accounts, Cached
    from workers.settlement_worker import _ORDER_PREFIX, _SETTLED, SettlementWorker, _batch_of

    values = [(key, value) for _, key, _, _, value in rows]
    clock = Clock(
        wall=("cold", "warm", "warm_json_table", "snapshots_sequential", "snapshots_concurrent")
    )
    with clock("decode"):
        decoded = [event_from_message(v) for _, v in values]
    gc.freeze()  # (what this process holds is not the worker's: keep it out of collections)
    with clock("loads_only"):
        for _, v in values:
            orjson.loads(v)
    per_partition: dict[int, list[RecordedEvent]] = {}
    for (key, _), event in zip(values, decoded, strict=True):
        per_partition.setdefault(partition_of(key, PARTITIONS), []).append(event)

    def is_input(e: RecordedEvent) -> bool:
        return e.type in _SETTLED and e.stream_id.startswith(_ORDER_PREFIX)

    batches = [
        [e for e in events[i : i + batch] if is_input(e)]
        for events in per_partition.values()
        for i in range(0, len(events), batch)
    ]
    batches = [b for b in batches if b]
    inputs = sum(len(b) for b in batches)
    trades = sum(1 for e in decoded if e.type == "OrderFilled") // 2

    # The accounts as they stood before settlement: deposits and reservations only.
    before: dict[int, Cached] = {}
    for e in decoded:
        if e.stream_id.startswith("account-"):
            user = int(e.stream_id.removeprefix("account-"))
            cached = before.setdefault(user, Cached(Account(user)))
            cached.account.apply(event_from_dict(e.type, dict(e.data)))
            cached.version = e.stream_version

    store = MariaDbEventStore.from_url(url)
    try:
        worker = SettlementWorker(store, group="stages", topic="stages", partitions=PARTITIONS)
        users_per_batch = [{int(e.data["user_id"]) for e in b} for b in batches]
        cold_accounts = Accounts(store)
        seen: set[int] = set()
        for users in users_per_batch:
            new = users - seen
            seen |= new
            with clock("cold"):
                await cold_accounts.refresh(new)
        mariadb = _mariadb_pid()
        cpu_before = _cpu_seconds(mariadb)
        for users in users_per_batch:
            with clock("warm"):
                await cold_accounts.refresh(users)
        warm_mariadb_s = _cpu_seconds(mariadb) - cpu_before
        # The same refreshes as one statement each: the (stream, from version) pairs as a
        # JSON_TABLE joined to the events (instead of a UNION ALL of a SELECT per stream).
        conn = await connect_raw(url, autocommit=True, connect_timeout_s=5)
        cpu_before = _cpu_seconds(mariadb)
        try:
            for users in users_per_batch:
                pairs = [[f"account-{u}", cold_accounts[u].version + 1] for u in sorted(users)]
                with clock("warm_json_table"):
                    async with conn.cursor() as cur:
                        await cur.execute(JSON_TABLE_READ, (orjson.dumps(pairs).decode(),))
                        await cur.fetchall()
        finally:
            conn.close()
        json_table_mariadb_s = _cpu_seconds(mariadb) - cpu_before
        # The cold path's first round trip (one snapshot look-up per new user), one at a time
        # as ``Accounts._start`` does it, then 16 at a time.
        sample = [f"account-{u}" for u in sorted(seen)[:2000]]
        with clock("snapshots_sequential"):
            for stream_id in sample:
                await store.load_snapshot(stream_id)
        limit = asyncio.Semaphore(16)

        async def look_up(stream_id: str) -> None:
            async with limit:
                await store.load_snapshot(stream_id)

        with clock("snapshots_concurrent"):
            await asyncio.gather(*(look_up(stream_id) for stream_id in sample))
        worker._accounts._cached = before
        worker._fences = dict.fromkeys(range(PARTITIONS), 0)
        instruments = {
            s: i
            for s in {e.data["symbol"] for b in batches for e in b if e.type == "OrderFilled"}
            if (i := await worker._instruments.get(s)) is not None
        }
        outputs = 0
        for b in batches:
            decided = _batch_of(0, b, 0)
            assert decided is not None
            with clock("decide"):  # (the rows encoded as they are decided: no encode stage)
                append = await worker._book(decided, instruments)
            outputs += sum(len(s.events) for s in append.streams) - 1
    finally:
        await store.close()
    t_decode, t_cold, t_warm = clock.totals["decode"], clock.totals["cold"], clock.totals["warm"]
    t_decide = clock.totals["decide"]
    return {
        "settlement_topic_events": len(values),
        "settlement_inputs": inputs,
        "settlement_trades": trades,
        "settlement_batches": len(batches),
        "settlement_users": len(seen),
        "settlement_decode_us_per_event": round(t_decode / len(values) * 1e6, 2),
        "settlement_decode_s": round(t_decode, 2),
        "settlement_orjson_loads_us_per_event": round(
            clock.totals["loads_only"] / len(values) * 1e6, 2
        ),
        "settlement_snapshot_lookup_ms_sequential": round(
            clock.totals["snapshots_sequential"] / len(sample) * 1e3, 3
        ),
        "settlement_snapshot_lookup_ms_16_concurrent": round(
            clock.totals["snapshots_concurrent"] / len(sample) * 1e3, 3
        ),
        "settlement_cold_account_ms": round(t_cold / max(1, len(seen)) * 1e3, 3),
        "settlement_cold_accounts_s": round(t_cold, 2),
        "settlement_warm_refresh_ms_per_batch": round(t_warm / len(batches) * 1e3, 1),
        "settlement_warm_refresh_us_per_input": round(t_warm / inputs * 1e6, 1),
        "settlement_warm_refresh_s": round(t_warm, 2),
        "settlement_warm_refresh_mariadb_cpu_s": round(warm_mariadb_s, 2),
        "settlement_json_table_refresh_ms_per_batch": round(
            clock.totals["warm_json_table"] / len(batches) * 1e3, 1
        ),
        "settlement_json_table_refresh_mariadb_cpu_s": round(json_table_mariadb_s, 2),
        "settlement_users_per_batch": round(sum(map(len, users_per_batch)) / len(batches)),
        "settlement_decide_us_per_input": round(t_decide / inputs * 1e6, 2),
        "settlement_decide_s": round(t_decide, 2),
        "settlement_outputs": outputs,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

    from cli.profiles import PROFILES

    url = (
        make_url(PROFILES["test"].database_url)
        .set(database=args.database)
        .render_as_string(hide_password=False)
    )
    rows = await relayed(url)
    gc.freeze()
    figures: dict[str, Any] = {"benchmark": "workers_stages", "relayed_events": len(rows)}
    figures["domain_build"] = "pure-python" if args.pure else "mypyc"
    if args.only != "settlement":
        figures |= await matching_stages(url, rows, args.batch)
    if args.only != "matching":
        figures |= await settlement_stages(url, rows, args.settlement_batch)
    figures["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return figures


def main() -> None:
    """Load the compiled engine, time the stages, print one JSON line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", required=True, help="a database kept by --keep")
    parser.add_argument("--batch", type=int, default=5000, help="matching inputs per batch")
    parser.add_argument(
        "--settlement-batch",
        type=int,
        default=1250,
        help="events topic messages per settlement batch (per partition)",
    )
    parser.add_argument("--pure", action="store_true", help="the pure-Python domain build")
    parser.add_argument(
        "--only", choices=["matching", "settlement"], help="time one worker's stages only"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    from workers.compiled import use_compiled_engine

    if args.pure:
        log.warning("timing the pure-Python build (as the settlement worker loads it today)")
    elif use_compiled_engine(log) is None:
        log.warning("timing the pure-Python build")
    figures = uvloop.run(run(args))
    sys.stdout.write(orjson.dumps(figures).decode() + "\n")


if __name__ == "__main__":
    main()
