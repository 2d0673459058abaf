"""The APIs' request metrics: tallied in plain Python, exposed as prometheus_client's own
``Counter`` and ``Histogram`` of the same names and labels would expose them."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from common.middleware import _BUCKETS, EdgeMiddleware, HttpMetrics

_OBSERVED = [
    ("POST", "/v1/orders", "201", 0.0004),
    ("POST", "/v1/orders", "201", 0.0005),  # (on a bucket's bound: that bucket)
    ("POST", "/v1/orders", "409", 0.003),
    ("DELETE", "/v1/orders/{order_id}", "202", 0.02),
    ("GET", "/health", "200", 7.5),  # (past the last bound: +Inf only)
    ("POST", "/v1/orders", "201", 0.25),
]
_CREATED = re.compile(r"^(\S+_created\{.*\}) \S+$", re.MULTILINE)


def _prometheus_text() -> str:
    """What the ``Counter`` and ``Histogram`` the tallies replace expose for ``_OBSERVED``."""
    registry = CollectorRegistry()
    requests = Counter(
        "http_requests_total",
        "HTTP requests by route and status",
        ["service", "method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "http_request_duration_seconds",
        "HTTP request latency",
        ["service", "route"],
        buckets=_BUCKETS,
        registry=registry,
    )
    for method, route, status, seconds in _OBSERVED:
        requests.labels("unit", method, route, status).inc()
        latency.labels("unit", route).observe(seconds)
    return generate_latest(registry).decode()


def test_tallied_requests_are_exposed_as_prometheus_counter_and_histogram_would() -> None:
    metrics = HttpMetrics("unit")
    for observed in _OBSERVED:
        metrics.observe(*observed)

    text = generate_latest(metrics.registry).decode()

    tallied = _CREATED.sub(r"\1 <created>", text)
    expected = _CREATED.sub(r"\1 <created>", _prometheus_text())
    assert expected in tallied
    assert tallied.count("_created{") == expected.count("_created{") > 0


def test_the_in_flight_gauge_reads_the_edges_count() -> None:
    metrics = HttpMetrics("unit")
    edge = EdgeMiddleware(app=None, metrics=metrics)  # type: ignore[arg-type]

    edge.in_flight = 3

    text = generate_latest(metrics.registry).decode()
    assert 'http_requests_in_flight{service="unit"} 3.0' in text
