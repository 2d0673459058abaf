"""The load generators' aiohttp sender maps what the retry loop needs as httpx's does (a refused
connection: ``test_senders.py``)."""

from __future__ import annotations

from client.aiohttp_sender import _text


def test_query_values_are_written_as_httpx_writes_them() -> None:
    assert [_text(v) for v in (True, False, 7, "AAPL")] == ["true", "false", "7", "AAPL"]
