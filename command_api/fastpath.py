"""The hot path of ``POST /v1/orders``, ``POST /v1/orders/batch``, ``DELETE /v1/orders/{id}`` and
``POST /v1/orders/batch/cancel``, beside FastAPI.

FastAPI, pydantic and the dependency system cost about 200 µs per request on this machine, as
much as the order's use case and the store together. This pure-ASGI layer (inside the edge
middleware: correlation id, load shedding, body limit and metrics still apply) answers the
common, well-formed request itself: a JSON object body that passes exactly the checks of
``schemas.NewOrderRequest`` / ``BatchRequest`` / ``CancelBatchRequest`` (a cancel: an order id
of plain digits in the route's range, any body ignored as the route does), a bearer key this
process already knows (in the single-POST flow a quarter of the requests are cancels; in the
batch flow a batch cancel follows most batches). It calls the same use case and renders the
same bytes. An ``Idempotency-Key`` (the Python client sends one with every command) is
fingerprinted exactly as the route does it, from the pydantic model's dump, so a resend taking
the other path still matches. Anything else (bad JSON, a field pydantic would refuse, an unknown
key, a key header FastAPI would refuse, another route) goes to FastAPI
unchanged with the body replayed, so every error, the OpenAPI schema and the validation messages
stay FastAPI's. Errors raised by the use case are rendered by the app's own exception handlers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from command_api import idempotency
from command_api.errors import render_error
from command_api.idempotency import IdempotencyClaim, Written
from command_api.routes.common import STATUS_OF
from command_api.schemas import CancelBatchRequest
from command_api.services import order_changes, orders
from command_api.services.base import Context
from command_api.services.order_rules import OrderTerms
from domain.values import MAX_DECIMAL_LENGTH

MAX_FAST_BODY = 256 * 1024
MAX_IDEMPOTENCY_KEY = 200
"""The route's ``Idempotency-Key`` header limit (``routes.common.IdempotencyKey``)."""
_ORDER_KEYS = frozenset(
    {"symbol", "side", "type", "price", "quantity", "time_in_force", "post_only", "client_order_id"}
)
_BATCH_KEYS = frozenset({"orders", "all_or_nothing"})
# Tuples, not sets: ``in`` compares with ``==``, so an unhashable JSON value is just "not in".
_SIDES = ("buy", "sell")
_TYPES = ("limit", "market")
_TIFS = ("GTC", "IOC", "FOK", "DAY")
_CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_MAX_SHARES = 2**62
_MAX_LEGS = 1000
_JSON_HEADERS = [(b"content-type", b"application/json")]
_POST_KINDS = {
    "/v1/orders": "single",
    "/v1/orders/batch": "batch",
    "/v1/orders/batch/cancel": "cancel_batch",
}
_MAX_CANCELS = 1000
_CANCEL_PATH = re.compile(r"/v1/orders/([1-9][0-9]{0,18})")
_MAX_ORDER_ID = 2**63 - 1
"""The route's ``OrderId`` range."""


def order_terms(body: object) -> OrderTerms | None:
    """The terms of a ``NewOrderRequest`` body, or ``None`` if pydantic might not accept it."""
    if type(body) is not dict or not body.keys() <= _ORDER_KEYS:
        return None
    symbol, side = body.get("symbol"), body.get("side")
    order_type = body.get("type", "limit")
    price, quantity = body.get("price"), body.get("quantity")
    tif, post_only = body.get("time_in_force"), body.get("post_only", False)
    cid = body.get("client_order_id")
    if (
        type(symbol) is not str
        or not 1 <= len(symbol) <= 16
        or side not in _SIDES
        or order_type not in _TYPES
        or not (price is None or (type(price) is str and len(price) <= MAX_DECIMAL_LENGTH))
        or type(quantity) is not int
        or not -_MAX_SHARES <= quantity <= _MAX_SHARES
        or not (tif is None or tif in _TIFS)
        or type(post_only) is not bool
        or not (cid is None or (type(cid) is str and _CLIENT_ORDER_ID.fullmatch(cid)))
    ):
        return None
    return OrderTerms(symbol, side, order_type, price, quantity, tif, post_only, cid)


def batch_terms(body: object) -> tuple[list[OrderTerms], bool] | None:
    """The legs and ``all_or_nothing`` of a ``BatchRequest`` body, or ``None`` (see above)."""
    if type(body) is not dict or not body.keys() <= _BATCH_KEYS:
        return None
    legs, all_or_nothing = body.get("orders"), body.get("all_or_nothing", True)
    if type(legs) is not list or len(legs) > _MAX_LEGS or type(all_or_nothing) is not bool:
        return None
    terms = []
    for leg in legs:
        parsed = order_terms(leg)
        if parsed is None:
            return None
        terms.append(parsed)
    return terms, all_or_nothing


def order_dump(terms: OrderTerms) -> dict[str, Any]:
    """``NewOrderRequest.model_dump(mode="json")`` of the body ``terms`` came from, without
    pydantic: the fast checks pass only what the model keeps as it is (strict types, decimal
    strings unchanged), and the dump is what a keyed request's fingerprint is made of. Validating
    and dumping a batch of 100 legs with pydantic cost ~600 µs here (about 4 % of the command
    API's samples in the pipeline flow); a Hypothesis test holds the two dumps equal."""
    return {
        "symbol": terms.symbol,
        "side": terms.side,
        "type": terms.order_type,
        "price": terms.price,
        "quantity": terms.quantity,
        "time_in_force": terms.time_in_force,
        "post_only": terms.post_only,
        "client_order_id": terms.client_order_id,
    }


def batch_dump(legs: list[OrderTerms], all_or_nothing: bool) -> dict[str, Any]:
    """``BatchRequest.model_dump(mode="json")`` of the body ``batch_terms`` parsed."""
    return {"orders": [order_dump(leg) for leg in legs], "all_or_nothing": all_or_nothing}


def cancel_ids(body: object) -> list[int] | None:
    """The ids of a ``CancelBatchRequest`` body, or ``None`` if pydantic might not accept it
    (a trader pulling its stale quotes: ~0.6 cancelled orders per order in the pipeline)."""
    if type(body) is not dict or body.keys() != {"order_ids"}:
        return None
    ids = body["order_ids"]
    if type(ids) is not list or not 1 <= len(ids) <= _MAX_CANCELS:
        return None
    for order_id in ids:
        if type(order_id) is not int or not 1 <= order_id <= _MAX_ORDER_ID:
            return None
    return ids


class OrderFastPath:
    """ASGI layer serving the well-formed order requests itself (see the module docstring)."""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.api = api
        self._routes: dict[tuple[str, str], Any] | None = None

    def _route(self, method: str, path: str) -> Any:
        """FastAPI's route object for ``method`` and the route's ``path`` (the metrics label it
        by its path)."""
        if self._routes is None:
            self._routes = {
                (m, r.path): r
                for r in self.api.routes
                if isinstance(r, APIRoute)
                for m in r.methods or ()
            }
        return self._routes.get((method, path))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = fast_route(scope) if scope["type"] == "http" else None
        caller = None if route is None else self._caller(scope["headers"], route[2] == "cancel")
        if route is None or caller is None:
            await self.app(scope, receive, send)
            return
        body, complete = await _read_body(receive)
        method, route_path, kind = route
        if complete:
            scope["route"] = self._route(method, route_path)
        if complete and await self._serve(scope, send, caller, kind, body):
            return
        await self.app(scope, _replay(body, complete, receive), send)

    def _caller(
        self, headers: list[tuple[bytes, bytes]], bodiless: bool
    ) -> tuple[int, str | None] | None:
        """The user of a known bearer key and the ``Idempotency-Key``, if the request is
        eligible for the fast path (a JSON body unless ``bodiless``)."""
        key = json = idempotency_key = None
        for name, value in headers:
            if name == b"authorization":
                key = value
            elif name == b"content-type":
                json = value
            elif name == b"idempotency-key":
                if idempotency_key is not None or not 0 < len(value) <= MAX_IDEMPOTENCY_KEY:
                    return None  # (FastAPI answers that one)
                idempotency_key = value.decode("latin-1")
        if key is None or not key.startswith(b"Bearer "):
            return None
        if not bodiless:
            json = None if json is None else json.lower()
            if json is None or (
                json != b"application/json" and not json.startswith(b"application/json;")
            ):
                return None
        raw = key[7:]
        if not 0 < len(raw) <= 256:
            return None
        repo = getattr(self.api.state, "repo", None)
        user_id = None if repo is None else repo.cached_user_of_api_key(raw.decode("latin-1"))
        return None if user_id is None else (user_id, idempotency_key)

    async def _serve(
        self, scope: Scope, send: Send, caller: tuple[int, str | None], kind: str, raw: bytes
    ) -> bool:
        """Answer the request; ``False`` if it must go to FastAPI instead."""
        try:
            written = await self._written(scope, caller, kind, raw)
        except Exception as exc:  # noqa: BLE001 - re-raised unless the app has a handler for it
            await render_error(self.api, scope, send, exc)
            return True
        if written is None:
            return False
        await _send_json(send, written)
        return True

    async def _written(
        self, scope: Scope, caller: tuple[int, str | None], kind: str, raw: bytes
    ) -> Written | None:
        """The use case's result; ``None`` for a body the route should judge."""
        ctx: Context = self.api.state.ctx
        user_id, key = caller
        if kind == "cancel":  # (the route ignores any body)
            order_id = int(scope["path"].rpartition("/")[2])
            claim = _claim(scope, user_id, key, None)
            return await order_changes.cancel_order(ctx, user_id, order_id, claim)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if kind == "single":
            terms = order_terms(body)
            if terms is None:
                return None
            claim = _claim(scope, user_id, key, order_dump, terms)
            return await orders.place_order(ctx, user_id, terms, claim)
        if kind == "cancel_batch":
            ids = cancel_ids(body)
            if ids is None:
                return None
            claim = _claim(scope, user_id, key, _cancel_batch_dump, body)
            return await order_changes.cancel_orders(ctx, user_id, ids, claim)
        batch = batch_terms(body)
        if batch is None:
            return None
        claim = _claim(scope, user_id, key, batch_dump, *batch)
        return await orders.place_batch(ctx, user_id, batch[0], batch[1], claim)


def fast_route(scope: Scope) -> tuple[str, str, str] | None:
    """The method, route path and kind (``single``, ``batch``, ``cancel``) of a request the
    fast path may answer; ``None`` for any other request."""
    method, path = scope["method"], scope.get("path", "")
    if method == "POST" and path in _POST_KINDS:
        return method, path, _POST_KINDS[path]
    if method == "DELETE":
        found = _CANCEL_PATH.fullmatch(path)
        if found is not None and int(found[1]) <= _MAX_ORDER_ID:
            return method, "/v1/orders/{order_id}", "cancel"
    return None


def _claim(
    scope: Scope,
    user_id: int,
    key: str | None,
    dump: Callable[..., dict[str, Any]] | None,
    *parsed: Any,
) -> IdempotencyClaim | None:
    """The claim the route would make (``routes.common.claim_of``): the same scope, method, path
    and model dump, ``dump(*parsed)`` (built only for a keyed request; ``None``: no body)."""
    if key is None:
        return None
    dumped = None if dump is None else dump(*parsed)
    return idempotency.claim(
        str(user_id), key, scope["method"], _url_path(scope), dumped, STATUS_OF
    )


def _cancel_batch_dump(body: Any) -> dict[str, Any]:
    """``CancelBatchRequest``'s dump of a body ``cancel_ids`` accepted (which accepts nothing
    pydantic refuses)."""
    return CancelBatchRequest.model_validate(body).model_dump(mode="json")


def _url_path(scope: Scope) -> str:
    """``Request(scope).url.path``, as the route fingerprints it, without building the URL.

    Starlette joins scheme, the first ``Host`` header and the path into a URL and splits it
    again (~6 % of the command API's CPU under single POSTs). A fast route's path holds only
    letters, digits and ``/``, so the split gives it back unchanged unless that header holds a
    character that ends an authority (then Starlette's own answer is used)."""
    for name, value in scope["headers"]:
        if name == b"host":
            if b"/" in value or b"?" in value or b"#" in value:
                return Request(scope).url.path
            break
    path: str = scope["path"]
    return path


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The body read so far and whether it is complete (reading stops past ``MAX_FAST_BODY``)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > MAX_FAST_BODY:
            return b"".join(chunks), False


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A ``receive`` that first gives back what was read, then the rest of the request."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replay


async def _send_json(send: Send, written: Written) -> None:
    payload = orjson.dumps(written.body)
    headers = [(b"content-length", str(len(payload)).encode()), *_JSON_HEADERS]
    status = STATUS_OF[written.outcome]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
