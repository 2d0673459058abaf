"""The client's retry loop and problem mapping, against a scripted HTTP transport."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from client import Conflict, Rejected, RetryPolicy, TooManyRequests, TransportFailed, Unavailable
from client.errors import error_for
from client.transport import POOL_CONNECTIONS, HttpxSender, Transport


def _problem(status: int, code: str, retry_after: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/problem+json"}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    body = {"type": "t", "title": "x", "status": status, "detail": "why", "code": code}
    return httpx.Response(status, headers=headers, content=orjson.dumps(body))


class Script:
    """Answers the requests in order and remembers them."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers: Iterator[httpx.Response | Exception] = iter(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = next(self.answers)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("client.transport.asyncio.sleep", sleep)
    return slept


def _transport(script: Script, policy: RetryPolicy | None = None) -> Transport:
    return Transport(
        "http://cmd", "http://qry", retry=policy, http_transport=httpx.MockTransport(script)
    )


async def test_a_command_is_resent_with_the_same_key_after_429_and_503(
    pauses: list[float],
) -> None:
    script = Script(
        _problem(429, "TOO_MANY_REQUESTS", "0.5"),
        _problem(503, "OVERLOADED", "1"),
        httpx.Response(201, json={"position": 9}),
    )
    transport = _transport(script)

    answer = await transport.command("POST", "/v1/orders", "k", {"symbol": "A"})

    keys = {r.headers["idempotency-key"] for r in script.requests}
    assert (answer.status, answer.body) == (201, {"position": 9})
    assert len(script.requests) == 3 and len(keys) == 1
    assert pauses == [0.5, 1.0] and transport.retries == 2


async def test_a_caller_key_is_sent_as_given(pauses: list[float]) -> None:
    script = Script(httpx.Response(201, json={"position": 1}))

    await _transport(script).command("POST", "/v1/deposits", "k", {}, idempotency_key="mine")

    assert script.requests[0].headers["idempotency-key"] == "mine"
    assert script.requests[0].headers["authorization"] == "Bearer k"


async def test_a_lost_connection_is_retried_with_backoff(pauses: list[float]) -> None:
    script = Script(httpx.ConnectError("refused"), httpx.Response(200, json=[]))

    answer = await _transport(script).query("/v1/instruments", None)

    assert answer.body == [] and len(pauses) == 1 and 0 <= pauses[0] <= 0.1


async def test_retries_stop_after_the_attempts_and_raise_the_last_problem(
    pauses: list[float],
) -> None:
    script = Script(*[_problem(503, "SERVICE_UNAVAILABLE", "2")] * 3)

    with pytest.raises(Unavailable) as down:
        await _transport(script, RetryPolicy(attempts=3)).query("/v1/account", "k")

    assert (down.value.code, down.value.retry_after_s, len(script.requests)) == (
        "SERVICE_UNAVAILABLE", 2.0, 3,
    )  # fmt: skip


async def test_a_refusal_is_raised_at_once(pauses: list[float]) -> None:
    script = Script(_problem(422, "INSUFFICIENT_FUNDS"))

    with pytest.raises(Rejected) as refused:
        await _transport(script).command("POST", "/v1/orders", "k", {})

    assert (refused.value.status, refused.value.code, refused.value.detail) == (
        422, "INSUFFICIENT_FUNDS", "why",
    )  # fmt: skip
    assert pauses == []


async def test_without_transport_retries_a_dead_server_raises_transport_failed(
    pauses: list[float],
) -> None:
    script = Script(httpx.ConnectError("refused"))
    policy = RetryPolicy(attempts=5, retry_transport_errors=False)

    with pytest.raises(TransportFailed):
        await _transport(script, policy).query("/v1/instruments", None)


def test_each_status_maps_to_its_family() -> None:
    assert isinstance(error_for(409, {"code": "ORDER_NOT_OPEN"}, None), Conflict)
    assert isinstance(error_for(429, None, 1.0), TooManyRequests)
    assert isinstance(error_for(502, None, None), Unavailable)
    assert error_for(502, None, None).code == "HTTP_502"


async def test_keys_can_be_switched_off_to_measure_their_cost(pauses: list[float]) -> None:
    script = Script(httpx.Response(201, json={"position": 1}))
    transport = Transport(
        "http://cmd", "http://qry", http_transport=httpx.MockTransport(script),
        idempotency_keys=False,
    )  # fmt: skip

    await transport.command("POST", "/v1/orders", "k", {})

    assert "idempotency-key" not in script.requests[0].headers


async def test_many_connections_are_split_into_small_pools() -> None:
    transport = Transport("http://cmd", "http://qry", max_connections=64)
    try:
        assert isinstance(transport.sender, HttpxSender)
        assert len(transport.sender._pools) == 64 // POOL_CONNECTIONS
    finally:
        await transport.aclose()
