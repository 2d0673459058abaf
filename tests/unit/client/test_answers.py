"""The client waits for the engine's answer to its own request, told by ``causation_id``."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from client import ExchangeClient
from client.transport import Transport

MINE, EARLIER = "amend-event", "placement-event"


def _order(position: int, caused_by: str | None) -> dict[str, Any]:
    return {"order_id": 7, "status": "accepted", "position": position, "caused_by": caused_by}


def _event(position: int, kind: str, cause: str | None) -> dict[str, Any]:
    return {"position": position, "type": kind, "at": "t", "data": {}, "causation_id": cause}


class Query:
    """The query API of one order: successive documents and lifecycles."""

    def __init__(self, docs: list[dict[str, Any]], lifecycles: list[list[dict[str, Any]]]) -> None:
        self.docs, self.lifecycles = iter(docs), iter(lifecycles)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = next(self.lifecycles if request.url.path.endswith("/events") else self.docs)
        return httpx.Response(200, content=orjson.dumps(body))


def _client(query: Query) -> ExchangeClient:
    transport = Transport("http://cmd", "http://qry", http_transport=httpx.MockTransport(query))
    return ExchangeClient("", "", "key", transport=transport)


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    async def sleep(_: float) -> None:
        return None

    monkeypatch.setattr("client.api.asyncio.sleep", sleep)


async def test_an_earlier_requests_answer_after_the_position_is_not_taken_for_mine() -> None:
    late_accept = _event(12, "OrderAccepted", EARLIER)  # (landed after the amend's position 10)
    query = Query(
        [_order(12, EARLIER), _order(13, MINE)],
        [[_event(5, "OrderPlaced", None), _event(10, "AmendRequested", None), late_accept]],
    )

    shown = await _client(query).order_after(7, 10, caused_by=MINE)

    assert shown["position"] == 13 and shown.get("caused_by") == MINE


async def test_my_answer_hidden_by_a_later_event_is_found_in_the_lifecycle() -> None:
    query = Query(
        [_order(14, "another-orders-placement")],  # (a maker fill after the answer)
        [[_event(12, "OrderReduced", MINE), _event(14, "OrderFilled", "another-orders-placement")]],
    )

    shown = await _client(query).order_after(7, 10, caused_by=MINE)

    assert shown["position"] == 14


async def test_processed_order_waits_for_the_event_caused_by_the_request() -> None:
    early = [_event(10, "AmendRequested", None), _event(12, "OrderAccepted", EARLIER)]
    query = Query([], [early, [*early, _event(13, "OrderReduced", MINE)]])

    events = await _client(query).processed_order(7, 10, caused_by=MINE)

    assert [e["type"] for e in events][-1] == "OrderReduced"
