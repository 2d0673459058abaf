"""One pure-ASGI middleware: correlation ids, bounded in-flight work, body limit, metrics.

The body limit is enforced on the bytes as they arrive (a chunked body has no
``Content-Length``): past the limit, reading stops and the answer is ``413`` with
``Connection: close``, so the rest of the body is never read. ``/health``, ``/ready`` and
``/metrics`` are never shed: a supervisor or load balancer must see a busy process alive.
"""

from __future__ import annotations

import random
import time
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.logging import correlation_id
from common.problems import problem_response

OPERATIONS_PATHS = frozenset({"/health", "/ready", "/metrics"})
"""Answered even at capacity (they are cheap, and shedding them gets a healthy process killed)."""
CLOSE = {"Connection": "close"}


class BodyTooLarge(HTTPException):
    """The body grew past the limit while being read (FastAPI renders it as ``413``)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The body exceeds {limit} bytes.", headers=CLOSE)


_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class HttpMetrics:
    """The Prometheus metrics of one API process.

    Requests are counted and timed in plain Python (:class:`RequestTallies`), given to
    Prometheus as the ``Counter`` and ``Histogram`` they replace would at each scrape: their
    locked values cost ~3 µs per request (a counter and a histogram's sum and bucket), and the
    in-flight gauge reads the edge's own count (``set_function``) instead of two locked changes
    per request."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.tallies = RequestTallies(service, _BUCKETS)
        self.registry.register(self.tallies)
        self.in_flight = Gauge(
            "http_requests_in_flight", "Requests being served", ["service"], registry=self.registry
        )
        self.shed = Counter(
            "http_requests_shed_total",
            "Requests refused with 503 because the process was at capacity",
            ["service"],
            registry=self.registry,
        )
        self.service = service
        self.observe = self.tallies.observe


class RequestTallies(Collector):
    """``http_requests_total`` by service, method, route and status and
    ``http_request_duration_seconds`` by service and route, tallied in plain Python and
    exposed exactly as ``prometheus_client``'s ``Counter`` and ``Histogram`` of those names
    and labels expose them (a test compares the two texts)."""

    def __init__(self, service: str, buckets: tuple[float, ...]) -> None:
        self.service = service
        self.bounds = buckets
        self._counts: dict[tuple[str, str, str], list[float]] = {}
        """(method, route, status) → [requests, created]."""
        self._latency: dict[str, list[float]] = {}
        """route → [count in each bucket (+Inf last), sum of seconds, created]."""

    def observe(self, method: str, route: str, status: str, seconds: float) -> None:
        """Count one request and record its latency."""
        key = (method, route, status)
        counted = self._counts.get(key)
        if counted is None:
            counted = self._counts[key] = [0.0, time.time()]
        counted[0] += 1.0
        latency = self._latency.get(route)
        if latency is None:
            latency = self._latency[route] = [0.0] * (len(self.bounds) + 1) + [0.0, time.time()]
        latency[bisect_left(self.bounds, seconds)] += 1.0
        latency[-2] += seconds

    def collect(self) -> Iterator[Metric]:
        """The two metric families, as ``Counter`` and ``Histogram`` would give them."""
        service = self.service
        requests = Metric("http_requests", "HTTP requests by route and status", "counter")
        for (method, route, status), (count, created) in list(self._counts.items()):
            labels = {"service": service, "method": method, "route": route, "status": status}
            requests.add_sample("http_requests_total", labels, count)
            requests.add_sample("http_requests_created", labels, created)
        yield requests
        name = "http_request_duration_seconds"
        latency = Metric(name, "HTTP request latency", "histogram")
        edges = [*map(floatToGoString, self.bounds), "+Inf"]
        for route, tally in list(self._latency.items()):
            labels = {"service": service, "route": route}
            total = 0.0
            for edge, count in zip(edges, tally, strict=False):
                total += count
                latency.add_sample(f"{name}_bucket", {**labels, "le": edge}, total)
            latency.add_sample(f"{name}_count", labels, total)
            latency.add_sample(f"{name}_sum", labels, tally[-2])
            latency.add_sample(f"{name}_created", labels, tally[-1])
        yield latency


class EdgeMiddleware:
    """Sets the correlation id, sheds load past ``max_in_flight``, caps bodies, records metrics."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: HttpMetrics,
        max_in_flight: int = 2048,
        max_body_bytes: int = 1_048_576,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_in_flight = max_in_flight
        self.max_body_bytes = max_body_bytes
        self.in_flight = 0
        metrics.in_flight.labels(metrics.service).set_function(lambda: self.in_flight)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        cid = (headers.get(b"x-correlation-id") or b"").decode("latin-1")[:64] or _new_cid()
        token = correlation_id.set(cid)
        prefix = headers.get(b"x-forwarded-prefix")
        if prefix:
            # nginx strips /api/command or /api/query; root_path keeps /docs links right.
            scope["root_path"] = prefix.decode("latin-1").rstrip("/")
        status_holder = [500]
        responded = False
        started = time.perf_counter()
        try:
            early = self._refusal(scope.get("path"), headers)
            if early is not None:
                status_holder[0] = early.status_code
                early.headers["x-correlation-id"] = cid
                await early(scope, receive, send)
                return
            self.in_flight += 1

            async def send_wrapper(message: Message) -> None:
                nonlocal responded
                if message["type"] == "http.response.start":
                    responded = True
                    status_holder[0] = message["status"]
                    message.setdefault("headers", [])
                    message["headers"] = [
                        *message["headers"],
                        (b"x-correlation-id", cid.encode("latin-1")),
                    ]
                await send(message)

            try:
                await self.app(scope, self._limited(receive), send_wrapper)
            except BodyTooLarge as exc:  # (raised past FastAPI, by a pure-ASGI layer reading)
                if responded:  # (too late for a 413: the response has started)
                    raise
                await self._too_large(exc)(scope, receive, send_wrapper)
            finally:
                self.in_flight -= 1
        finally:
            correlation_id.reset(token)
            self.metrics.observe(
                scope.get("method", ""),
                _route_of(scope),
                str(status_holder[0]),
                time.perf_counter() - started,
            )

    def _limited(self, receive: Receive) -> Receive:
        """``receive`` that raises ``BodyTooLarge`` once the body read passes the limit."""
        size = 0
        limit = self.max_body_bytes

        async def limited() -> Message:
            nonlocal size
            message = await receive()
            size += len(message.get("body", b""))
            if size > limit:
                raise BodyTooLarge(limit)
            return message

        return limited

    def _too_large(self, exc: BodyTooLarge) -> Any:
        return problem_response(413, "PAYLOAD_TOO_LARGE", str(exc.detail), headers=CLOSE)

    def _refusal(self, path: str | None, headers: dict[bytes, bytes]) -> Any:
        if self.in_flight >= self.max_in_flight and path not in OPERATIONS_PATHS:
            self.metrics.shed.labels(self.metrics.service).inc()
            return problem_response(
                503,
                "OVERLOADED",
                "The service is at capacity; retry shortly.",
                headers={"Retry-After": "1"},
            )
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return problem_response(
                    400, "BAD_REQUEST", "Invalid Content-Length header.", headers=CLOSE
                )
            if int(length) > self.max_body_bytes:
                return self._too_large(BodyTooLarge(self.max_body_bytes))
        return None


def _new_cid() -> str:
    """A fresh correlation id: 32 hex digits, as ``uuid4().hex`` looks. Not ``uuid4``: its
    ``os.urandom`` is a system call per request, ~3 % of the command API's CPU under single
    POSTs; an id only has to be unique, not unguessable (``random`` reseeds in a forked child)."""
    return f"{random.getrandbits(128):032x}"


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
