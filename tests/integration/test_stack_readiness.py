"""The native test stack: every service answers, readiness tracks Kafka, `up` is idempotent."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
import pytest

from cli import stack
from cli.profiles import PROFILES, ROOT
from cli.supervisor import Supervisor

pytestmark = pytest.mark.integration

PROFILE = PROFILES["test"]


def _ready(url: str) -> httpx.Response:
    return httpx.get(f"{url}/ready", timeout=10)


@pytest.mark.parametrize(
    ("which", "dependencies"),
    [
        ("command_api_url", {"mariadb", "kafka", "redis"}),
        ("query_api_url", {"redis"}),  # the query API reads Redis only
    ],
)
def test_each_api_is_ready_with_every_dependency_up(
    which: str, dependencies: set[str], request: pytest.FixtureRequest
) -> None:
    resp = _ready(request.getfixturevalue(which))
    assert resp.status_code == 200, resp.text
    deps = resp.json()["dependencies"]
    assert {name: d["status"] for name, d in deps.items()} == dict.fromkeys(dependencies, "up")


@pytest.mark.parametrize("worker", ["matching", "settlement", "scheduler", "projector"])
def test_every_worker_serves_health_readiness_and_metrics(worker: str) -> None:
    base = f"http://127.0.0.1:{PROFILE.ops_port(worker)}"
    assert httpx.get(f"{base}/health", timeout=10).json()["status"] == "ok"
    ready = _wait_for(base, 200, 20)
    assert ready.status_code == 200, ready.text
    assert ready.json()["dependencies"]
    assert httpx.get(f"{base}/metrics", timeout=10).status_code == 200


def test_nginx_routes_both_apis_and_their_docs(nginx_url: str) -> None:
    for prefix, title in (("/api/command", "command"), ("/api/query", "query")):
        assert httpx.get(f"{nginx_url}{prefix}/health", timeout=10).status_code == 200
        spec = httpx.get(f"{nginx_url}{prefix}/openapi.json", timeout=10)
        assert title in spec.json()["info"]["title"].lower()
        docs = httpx.get(f"{nginx_url}{prefix}/docs", timeout=10)
        assert f"{prefix}/openapi.json" in docs.text
    assert httpx.get(f"{nginx_url}/", timeout=10).status_code == 200


def test_metrics_are_served_in_prometheus_text(command_api_url: str) -> None:
    httpx.get(f"{command_api_url}/health", timeout=10)
    resp = httpx.get(f"{command_api_url}/metrics", timeout=10)
    assert resp.status_code == 200
    assert "http_requests_total" in resp.text


def _wait_for(url: str, status: int, timeout_s: float) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        resp = _ready(url)
        if resp.status_code == status or time.monotonic() > deadline:
            return resp
        time.sleep(0.5)


def test_stopping_kafka_makes_ready_503_naming_kafka_and_it_recovers(
    command_api_url: str,
) -> None:
    sup = Supervisor(PROFILE)
    sup.stop("kafka")
    try:
        down = _wait_for(command_api_url, 503, 20)
        assert down.status_code == 503
        body = down.json()
        assert body["code"] == "SERVICE_UNAVAILABLE"
        assert body["dependencies"]["kafka"]["status"] == "down"
        assert body["dependencies"]["mariadb"]["status"] == "up"
        assert "kafka" in body["detail"]
    finally:
        sup.start("kafka")
    assert _wait_for(command_api_url, 200, 90).status_code == 200


def test_running_up_again_keeps_one_copy_of_each_service() -> None:
    sup = Supervisor(PROFILE)
    before = sup.pids()
    stack.up(PROFILE)
    after = sup.pids()
    assert before == after
    assert {"mariadb", "redis", "kafka", "command_api", "query_api", "nginx"} <= after.keys()


def test_status_shows_each_running_process_with_its_live_pid() -> None:
    done = subprocess.run(
        [str(ROOT / ".venv/bin/exchange"), "status", "--profile", "test"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "120"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line.strip("│ ").split() for line in done.stdout.splitlines() if "RUNNING" in line]
    shown = {row[0]: int(row[-1].strip("│")) for row in rows}

    assert shown == Supervisor(PROFILE).pids()
    assert {"matching", "settlement", "projector", "command_api"} <= shown.keys()
    for pid in shown.values():
        os.kill(pid, 0)  # alive (raises if not)
