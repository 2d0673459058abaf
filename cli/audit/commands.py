"""The work behind ``exchange audit``'s commands (imported only when one runs)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from cli.audit.chain import ChainWriter, Format
from cli.audit.export import export_lifecycle
from cli.audit.state import (
    AccountState,
    BookState,
    OrderState,
    account_as_of,
    book_as_of,
    order_as_of,
)
from cli.audit.verify import verify_file
from event_store.audit import AuditReader, UnknownLifecycle, Window
from event_store.errors import EventStoreUnavailable

err = Console(stderr=True)


def window_of(start: str | None, end: str | None) -> Window:
    """``--from``/``--to`` as a :class:`Window`: integers are positions, the rest ISO 8601."""
    from_position, from_time = _bound(start, "--from")
    to_position, to_time = _bound(end, "--to")
    return Window(from_position, to_position, from_time, to_time)


def _bound(text: str | None, name: str) -> tuple[int | None, datetime | None]:
    if text is None:
        return None, None
    if text.isdigit():
        return int(text), None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{name} is a position or an ISO 8601 time: {text!r}") from exc
    return None, moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def export(url: str, scope: dict[str, Any], window: Window, fmt: str, output: Path | None) -> None:
    """Export the lifecycle to ``output`` (stdout if ``None``) with a progress bar on stderr."""
    chosen: Format = "csv" if fmt == "csv" else "jsonl"

    async def run(out: TextIO) -> ChainWriter:
        reader = AuditReader.from_url(url)
        try:
            with Progress(console=err, transient=True) as bar:
                task = bar.add_task("exporting", total=None)
                return await export_lifecycle(
                    reader, scope, window, out, chosen,
                    lambda done, total: bar.update(task, completed=done, total=total),
                )  # fmt: skip
        finally:
            await reader.close()

    if output is None:
        writer = _run(run(sys.stdout))
    else:  # written aside and renamed: a failed export leaves no file behind
        partial = output.with_name(output.name + ".partial")
        try:
            with partial.open("w", newline="", encoding="utf-8") as out:
                writer = _run(run(out))
            partial.replace(output)
        finally:
            partial.unlink(missing_ok=True)
    err.print(f"[green]{writer.lines} lines[/], head [bold]{writer.head}[/]", soft_wrap=True)


def verify(file: Path, fmt: str | None, expect_head: str | None) -> None:
    """Verify an export; ``typer.Exit(1)`` naming the first bad line."""
    chosen: Format | None = None if fmt is None else ("csv" if fmt == "csv" else "jsonl")
    verdict = verify_file(file, chosen, expect_head)
    if not verdict.ok:
        err.print(f"[red]✗ {file}: line {verdict.line}: {verdict.reason}[/]", soft_wrap=True)
        raise typer.Exit(1)
    summary = f"{verdict.records} events, chain intact[/], head {verdict.head}"
    err.print(f"[green]✓ {file}: {summary}", soft_wrap=True)


def state(url: str, scope: dict[str, Any], position: int, as_json: bool) -> None:
    """Print the order, account or book ``scope`` names as it stood at ``position``."""

    async def run() -> OrderState | AccountState | BookState:
        reader = AuditReader.from_url(url)
        try:
            if "order" in scope:
                return await order_as_of(reader, int(scope["order"]), position)
            if "user" in scope:
                return await account_as_of(reader, int(scope["user"]), position)
            with Progress(console=err, transient=True) as bar:
                task = bar.add_task("replaying", total=None)
                return await book_as_of(
                    reader, str(scope["symbol"]), position,
                    lambda done, total: bar.update(task, completed=done, total=total),
                )  # fmt: skip
        finally:
            await reader.close()

    found = _run(run())
    if as_json:
        sys.stdout.write(orjson.dumps(found.to_dict(), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
    else:
        Console().print(_table(found))


def _run[T](coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coroutine)
    except UnknownLifecycle as exc:
        err.print(f"[red]✗ {exc}[/]", soft_wrap=True)
        raise typer.Exit(2) from exc
    except EventStoreUnavailable as exc:
        err.print(f"[red]✗ the store is unavailable: {exc}[/]", soft_wrap=True)
        raise typer.Exit(3) from exc


def _table(found: OrderState | AccountState | BookState) -> Table:
    if isinstance(found, BookState):
        table = Table("bid qty", "bid", "ask", "ask qty", title=f"{found.symbol} book")
        for i in range(max(len(found.bids), len(found.asks))):
            bid = found.bids[i] if i < len(found.bids) else ("", "")
            ask = found.asks[i] if i < len(found.asks) else ("", "")
            table.add_row(str(bid[1]), bid[0], ask[0], str(ask[1]))
        table.caption = f"as of position {found.as_of_position}, {found.open_orders} open orders"
        return table
    if isinstance(found, AccountState):
        table = Table("asset", "total", "available", "held", title=f"account {found.user_id}")
        for asset, balance in found.balances.items():
            table.add_row(asset, balance.total, balance.available, balance.held)
        table.caption = f"as of position {found.as_of_position}, {found.open_holds} open holds"
        return table
    table = Table("field", "value", title=f"order {found.order_id}")
    for key, value in found.to_dict().items():
        table.add_row(key, "" if value is None else str(value))
    return table
