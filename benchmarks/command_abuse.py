"""The command API under contention and abuse (issue 13): counts per scenario, before/after.

    .venv/bin/python -m benchmarks.command_abuse                 # the test stack's command API
    .venv/bin/python -m benchmarks.command_abuse --url http://127.0.0.1:8001   # the dev stack

Scenarios: ``amends`` (100 concurrent amends over 5 orders of one user), ``cid`` (50 concurrent
sends of one ``client_order_id``), ``users`` (50 concurrent ``POST /v1/users`` with one
``Idempotency-Key``), ``chunked`` (a 200 MB chunked body without auth: bytes the API took before
answering, and its RSS growth), ``stall`` (sockets with unfinished headers / bodies: seconds
until the API closes them) and ``overload`` (``/health`` probes while the in-flight slots are
held by stalled bodies). Loopback only. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import socket
import time
import uuid
from typing import Any

import httpx
import orjson
import psutil
from rich.console import Console

from benchmarks.http_load import Connection, encode, loopback_target

console = Console(stderr=True)
ADMIN = {"Authorization": f"Bearer {os.environ.get('EXCHANGE_ADMIN_KEY', 'dev-admin-key')}"}


async def storm(url: str, requests: list[tuple[str, str, dict[str, str], Any]]) -> list[Any]:
    """Send ``(method, path, headers, json body)`` requests at once: every connection is opened
    first, then each writes its request, so they reach the API together. Returns
    ``(status, parsed body)`` per request."""
    host, port, prefix = loopback_target(url)
    conns = await asyncio.gather(*(Connection.open(host, port) for _ in requests))
    encoded = [
        encode(m, prefix + path, host, h, b"" if body is None else orjson.dumps(body))
        for m, path, h, body in requests
    ]
    try:
        answers = await asyncio.gather(*(c.send(r) for c, r in zip(conns, encoded, strict=True)))
    finally:
        for conn in conns:
            conn.close()
    return [(status, orjson.loads(body) if body else {}) for status, body in answers]


def _counts(responses: list[Any]) -> dict[str, int]:
    tally = collections.Counter(f"{s} {b.get('code', '')}".strip() for s, b in responses)
    return dict(sorted(tally.items()))


async def _trader(api: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    symbol = "A" + uuid.uuid4().hex[:8].upper()
    (await api.post("/v1/instruments", json={"symbol": symbol}, headers=ADMIN)).raise_for_status()
    user = await api.post(
        "/v1/users", json={"username": f"ab{uuid.uuid4().hex[:12]}"}, headers=ADMIN
    )
    headers = {"Authorization": f"Bearer {user.raise_for_status().json()['api_key']}"}
    deposit = {"asset": "USD", "amount": "1000000.00"}
    (await api.post("/v1/deposits", json=deposit, headers=headers)).raise_for_status()
    return symbol, headers


async def amends(api: httpx.AsyncClient, requests: int = 100, orders: int = 5) -> dict[str, int]:
    """``requests`` concurrent amends spread over ``orders`` resting orders of one user."""
    symbol, headers = await _trader(api)
    order = {"symbol": symbol, "side": "buy", "price": "1.00", "quantity": 1}
    ids = [
        (await api.post("/v1/orders", json=order, headers=headers)).json()["order_id"]
        for _ in range(orders)
    ]
    return _counts(
        await storm(
            str(api.base_url),
            [
                ("PATCH", f"/v1/orders/{ids[i % orders]}", headers, {"quantity": 2 + i})
                for i in range(requests)
            ],
        )
    )


async def cid(api: httpx.AsyncClient, requests: int = 50) -> dict[str, int]:
    """``requests`` concurrent sends of one order with one ``client_order_id``."""
    symbol, headers = await _trader(api)
    order = {
        "symbol": symbol,
        "side": "buy",
        "price": "1.00",
        "quantity": 1,
        "client_order_id": "c1",
    }
    responses = await storm(str(api.base_url), [("POST", "/v1/orders", headers, order)] * requests)
    ids = {b.get("order_id") for s, b in responses if s < 300}
    return {**_counts(responses), "distinct_order_ids": len(ids)}


async def users(api: httpx.AsyncClient, requests: int = 50) -> dict[str, int]:
    """``requests`` concurrent ``POST /v1/users`` with one ``Idempotency-Key`` and body."""
    headers = {**ADMIN, "Idempotency-Key": uuid.uuid4().hex}
    body = {"username": f"ab{uuid.uuid4().hex[:12]}"}
    return _counts(
        await storm(str(api.base_url), [("POST", "/v1/users", headers, body)] * requests)
    )


def _api_process(port: int) -> psutil.Process | None:
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    return None


def chunked(url: str, total_mb: int = 200) -> dict[str, Any]:
    """A chunked body of ``total_mb`` MB without auth: what the API read before answering."""
    host, port, prefix = loopback_target(url)
    process = _api_process(port)
    rss_before = process.memory_info().rss if process else 0
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall(
        f"POST {prefix}/v1/orders HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        "transfer-encoding: chunked\r\n\r\n".encode()
    )
    chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
    sent, answer, peak, pending = 0, b"", rss_before, memoryview(chunk)
    sock.setblocking(False)
    started = time.monotonic()
    try:
        while sent < total_mb * 2**20 and time.monotonic() - started < 120:
            try:
                answer = sock.recv(4096)
                break
            except BlockingIOError:
                pass
            try:
                done = sock.send(pending)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            sent, pending = sent + done, pending[done:] or memoryview(chunk)
            if process and sent % (16 * 2**20) < len(chunk):
                peak = max(peak, process.memory_info().rss)
        if not answer:
            sock.setblocking(True)
            sock.sendall(b"0\r\n\r\n")
            answer = sock.recv(4096)
    except (BrokenPipeError, ConnectionResetError):
        answer = answer or b"(connection closed)"
    finally:
        sock.close()
    peak = max(peak, process.memory_info().rss if process else 0)
    return {
        "sent_mb": round(sent / 2**20, 1),
        "answer": answer.split(b"\r\n", 1)[0].decode("latin-1"),
        "rss_growth_mb": round((peak - rss_before) / 2**20, 1),
    }


async def _until_closed(host: str, port: int, head: bytes, limit_s: float) -> float:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(head)
    started = time.monotonic()
    try:
        async with asyncio.timeout(limit_s):
            while await reader.read(4096):
                pass
    except TimeoutError:
        pass
    finally:
        writer.close()
    return round(time.monotonic() - started, 1)


async def stall(
    url: str, key: dict[str, str], sockets: int = 10, limit_s: float = 60
) -> dict[str, Any]:
    """Seconds until the API closes sockets with unfinished headers, and unfinished bodies."""
    host, port, prefix = loopback_target(url)
    headers = f"POST {prefix}/v1/deposits HTTP/1.1\r\nhost: {host}\r\n".encode()
    body = (
        headers
        + (
            f"authorization: {key['Authorization']}\r\ncontent-type: application/json\r\n"
            "content-length: 100\r\n\r\n{"
        ).encode()
    )
    partial_headers = await asyncio.gather(
        *(_until_closed(host, port, headers, limit_s) for _ in range(sockets))
    )
    partial_bodies = await asyncio.gather(
        *(_until_closed(host, port, body, limit_s) for _ in range(sockets))
    )
    return {
        "limit_s": limit_s,
        "headers_closed_after_s": sorted(partial_headers)[sockets // 2],
        "body_closed_after_s": sorted(partial_bodies)[sockets // 2],
    }


async def overload(
    url: str, key: dict[str, str], connections: int = 2100, probes: int = 18
) -> dict[str, Any]:
    """``/health`` and ``/ready`` while ``connections`` stalled bodies hold the in-flight slots."""
    host, port, prefix = loopback_target(url)
    head = (
        f"POST {prefix}/v1/deposits HTTP/1.1\r\nhost: {host}\r\n"
        f"authorization: {key['Authorization']}\r\ncontent-type: application/json\r\n"
        "content-length: 100\r\n\r\n{"
    ).encode()
    writers = []
    for _ in range(connections):
        _, writer = await asyncio.open_connection(host, port)
        writer.write(head)
        writers.append(writer)
    await asyncio.sleep(1)
    async with httpx.AsyncClient(base_url=url, timeout=10) as api:
        answers = [
            (await api.get(path)).status_code for path in ("/health", "/ready") * (probes // 2)
        ]
    for writer in writers:
        writer.close()
    tally = collections.Counter(str(a) for a in answers)
    return {"connections": connections, "probe_statuses": dict(tally)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    """Run the chosen scenarios; their figures by name."""
    results: dict[str, Any] = {"load": os.getloadavg()[0]}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=args.url, timeout=60, limits=limits) as api:
        for name, scenario in (("amends", amends), ("cid", cid), ("users", users)):
            if name in args.scenarios:
                results[name] = await scenario(api)
                console.print(name, results[name])
        _, key = await _trader(api)
    if "chunked" in args.scenarios:
        results["chunked"] = await asyncio.to_thread(chunked, args.url)
        console.print("chunked", results["chunked"])
    if "stall" in args.scenarios:
        results["stall"] = await stall(args.url, key, limit_s=args.stall_limit)
        console.print("stall", results["stall"])
    if "overload" in args.scenarios:
        results["overload"] = await overload(args.url, key, args.overload_connections)
        console.print("overload", results["overload"])
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url", default=os.environ.get("EXCHANGE_COMMAND_API_URL", "http://127.0.0.1:8011")
    )
    parser.add_argument(
        "--scenarios",
        nargs="+",
        default=["amends", "cid", "users", "chunked", "stall", "overload"],
    )
    parser.add_argument("--stall-limit", type=float, default=60.0)
    parser.add_argument("--overload-connections", type=int, default=2100)
    print(orjson.dumps(asyncio.run(main(parser.parse_args()))).decode())
