"""nginx, the front door of the running test stack: public routes only, problem+json errors,
write limits, security headers, gzip, WebSocket upgrade and many keep-alive clients."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from benchmarks.front_door import hold_crowd, raise_open_files
from benchmarks.http_load import Connection, encode, loopback_target
from cli import nginx
from cli.profiles import ROOT
from common.webapp import DOCS_ASSETS
from tests.integration.command_api.conftest import assert_problem
from tests.integration.query_api.helpers import listed_symbol

pytestmark = pytest.mark.integration

CROWD = 1000
"""Clients held open together here; benchmarks/front_door.py holds 10,000 (docs/benchmarks.md)."""


@pytest.fixture
async def front(nginx_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=nginx_url, timeout=30) as client:
        yield client


@pytest.mark.parametrize("api", ["command", "query"])
@pytest.mark.parametrize("internal", ["metrics", "ready", "state", "v2/anything"])
async def test_internal_routes_are_404_through_nginx(
    front: httpx.AsyncClient, api: str, internal: str
) -> None:
    assert_problem(await front.get(f"/api/{api}/{internal}"), 404, "NOT_FOUND")


@pytest.mark.parametrize("which", ["command_api_url", "query_api_url"])
def test_each_service_still_serves_metrics_on_its_own_port(
    which: str, request: pytest.FixtureRequest
) -> None:
    resp = httpx.get(f"{request.getfixturevalue(which)}/metrics", timeout=30)
    assert resp.status_code == 200 and "http_requests_total" in resp.text


@pytest.mark.parametrize("api", ["command", "query"])
async def test_public_routes_and_docs_answer_through_nginx(
    front: httpx.AsyncClient, api: str
) -> None:
    for path in nginx.PUBLIC_API_PATHS:
        if path != "docs/oauth2-redirect":
            assert (await front.get(f"/api/{api}/{path}")).status_code == 200, path
    assert (await front.get(f"/api/{api}/docs")).headers["content-security-policy"] == (
        nginx.API_DOCS_CSP
    )


@pytest.mark.parametrize("page", ["docs", "redoc"])
@pytest.mark.parametrize("api", ["command", "query"])
async def test_api_docs_pages_load_their_assets_from_the_front_door_not_a_cdn(
    front: httpx.AsyncClient, api: str, page: str
) -> None:
    html = (await front.get(f"/api/{api}/{page}")).text
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
    assert assets and "http" not in html.replace("http-equiv", "")
    for asset in assets:
        assert asset.startswith(f"/api/{api}{DOCS_ASSETS}/"), asset
        resp = await front.get(asset)
        assert resp.status_code == 200 and len(resp.content) > 10_000, asset


async def test_docs_page_links_both_apis_docs(front: httpx.AsyncClient) -> None:
    page = await front.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for api in ("command", "query"):
        for target in ("docs", "redoc", "openapi.json"):
            assert f'href="/api/{api}/{target}"' in page.text
    assert (await front.get("/docs/", follow_redirects=True)).url.path == "/docs"


async def test_a_body_over_the_limit_is_413_problem_json(front: httpx.AsyncClient) -> None:
    big = b'{"pad":"' + b"x" * (3 * 1024 * 1024) + b'"}'
    resp = await front.post(
        "/api/command/v1/orders", content=big, headers={"content-type": "application/json"}
    )
    assert_problem(resp, 413, "PAYLOAD_TOO_LARGE")


async def test_a_request_nginx_refuses_as_malformed_is_400_problem_json(
    front: httpx.AsyncClient,
) -> None:
    resp = await front.get("/api/query/v1/books/%00")  # a NUL in the path

    assert_problem(resp, 400, "BAD_REQUEST")


@pytest.mark.parametrize(
    ("head", "status", "code"),
    [
        (b"GET /api/query/v1/instruments HTTP/2.0\r\n", 400, "BAD_REQUEST"),  # nginx: 505
        (  # nginx: 501
            b"POST /api/command/v1/orders HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\n",
            400,
            "BAD_REQUEST",
        ),
        (
            b"GET /api/query/v1/instruments?x=" + b"a" * 20_000 + b" HTTP/1.1\r\n",
            414,
            "URI_TOO_LONG",
        ),
        (  # nginx: 494
            b"GET /api/query/v1/instruments HTTP/1.1\r\nx-big: " + b"a" * 20_000 + b"\r\n",
            431,
            "HEADERS_TOO_LARGE",
        ),
    ],
)
async def test_what_nginx_cannot_read_is_a_4xx_problem_json(
    nginx_url: str, head: bytes, status: int, code: str
) -> None:
    host, port, _ = loopback_target(nginx_url)
    conn = await Connection.open(host, port)
    try:
        answered, headers, body = await _answer(conn, head + f"host: {host}\r\n\r\n".encode())
    finally:
        conn.writer.close()

    assert (answered, headers["content-type"]) == (status, "application/problem+json")
    assert orjson.loads(body)["code"] == code


async def _answer(conn: Connection, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request``; its status, headers (lower-cased names) and body."""
    conn.writer.write(request)
    status = int((await conn.reader.readline()).split(b" ", 2)[1])
    headers = {}
    while (line := await conn.reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, await conn.reader.readexactly(int(headers["content-length"]))


async def test_writes_beyond_a_clients_burst_are_429_problem_json_with_retry_after(
    nginx_url: str,
) -> None:
    """All requests arrive at once (one connection each), so the burst is spent whatever the
    API's speed; the other requests are refused by nginx without reaching the API."""
    host, port, _ = loopback_target(nginx_url)
    key = {"authorization": f"Bearer rate-{uuid.uuid4().hex}"}  # (a bucket of its own)
    request = encode("POST", "/api/command/v1/deposits", f"{host}:{port}", key, b"{}")
    count = nginx.WRITE_BURST * 3
    raise_open_files(count + 1024)
    connections = await asyncio.gather(*(Connection.open(host, port) for _ in range(count)))
    try:
        answers = await asyncio.gather(*(_answer(c, request) for c in connections))
    finally:
        for c in connections:
            c.close()
    statuses = Counter(status for status, _, _ in answers)
    assert statuses[429] >= count - nginx.WRITE_BURST * 2, statuses
    assert set(statuses) == {401, 429}, statuses  # (the rest reached the API: an unknown key)
    _, headers, body = next(answer for answer in answers if answer[0] == 429)
    assert headers["content-type"] == "application/problem+json"
    assert headers["retry-after"] == str(nginx.RETRY_AFTER_S)
    problem = orjson.loads(body)
    assert (problem["status"], problem["code"]) == (429, "TOO_MANY_REQUESTS")
    assert {"type", "title", "detail"} <= problem.keys()


async def test_reads_and_other_clients_are_not_limited_by_one_clients_writes(
    front: httpx.AsyncClient,
) -> None:
    key = {"authorization": f"Bearer rate-{uuid.uuid4().hex}"}
    statuses: Counter[int] = Counter()
    for _ in range(20):
        statuses[
            (await front.post("/api/command/v1/deposits", headers=key, json={})).status_code
        ] += 1
    assert statuses == {401: 20}  # (well inside the burst: reaching the API, refused there)
    assert (await front.get("/api/query/v1/instruments")).status_code == 200


@pytest.mark.parametrize("path", ["/", "/docs", "/api/query/health", "/api/command/nope"])
async def test_every_answer_carries_the_security_headers(
    front: httpx.AsyncClient, nginx_url: str, path: str
) -> None:
    headers = (await front.get(path)).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    csp = headers["content-security-policy"]
    host = nginx_url.removeprefix("http://")
    assert "default-src 'self'; script-src 'self'; style-src 'self'" in csp
    assert f"connect-src 'self' ws://{host} wss://{host};" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


async def test_json_answers_are_gzipped_when_asked(front: httpx.AsyncClient) -> None:
    resp = await front.get("/api/query/openapi.json", headers={"accept-encoding": "gzip"})
    assert resp.headers["content-encoding"] == "gzip"
    assert resp.json()["info"]["title"]  # (httpx inflated it)


async def test_the_market_websocket_upgrades_through_nginx(
    command_api_url: str, query_api_url: str, nginx_url: str
) -> None:
    async with (
        httpx.AsyncClient(base_url=command_api_url, timeout=30) as command,
        httpx.AsyncClient(base_url=query_api_url, timeout=30) as query,
    ):
        symbol = await listed_symbol(command, query)
    url = nginx_url.replace("http://", "ws://") + f"/api/query/v1/ws/market/{symbol}"
    async with connect(url) as socket:
        snapshot = orjson.loads(await asyncio.wait_for(socket.recv(), 30))
    assert (snapshot["type"], snapshot["bids"], snapshot["asks"]) == ("snapshot", [], [])


async def test_a_thousand_keep_alive_clients_are_held_together_without_a_reset(
    nginx_url: str,
) -> None:
    raise_open_files(CROWD + 1024)
    crowd = await hold_crowd(nginx_url, CROWD, "/api/query/health")
    assert crowd.errors == Counter(), crowd.summary()
    assert crowd.held_together == CROWD
    assert crowd.statuses == {200: 2 * CROWD}, crowd.summary()


@pytest.fixture
def nginx_without_apis(tmp_path: Path) -> Iterator[str]:
    """The same front door, started on a free port in front of two ports nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    site = nginx.Site(
        listen=f"127.0.0.1:{port}",
        command_api="127.0.0.1:1",
        query_api="127.0.0.1:1",
        web_root=str(ROOT / "web"),
        docs_page=str(nginx.DOCS_PAGE),
        pid=str(tmp_path / "nginx.pid"),
        error_log=str(tmp_path / "error.log"),
        temp_dir=str(tmp_path),
        user="root" if os.geteuid() == 0 else None,
        max_open_files=nginx.open_files_limit(),
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text("daemon off;\n" + nginx.render(site))
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    process = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)


def test_an_unreachable_api_is_503_problem_json_with_retry_after(nginx_without_apis: str) -> None:
    for path in ("/api/command/v1/orders", "/api/query/v1/instruments"):
        resp = httpx.get(f"{nginx_without_apis}{path}", timeout=30)
        assert_problem(resp, 503, "SERVICE_UNAVAILABLE")
        assert resp.headers["retry-after"] == "2"
