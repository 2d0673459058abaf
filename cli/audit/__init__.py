"""``exchange audit``: export a lifecycle with a hash chain, verify an export, time-travel.

* ``export --order ID | --user ID | --symbol S [--from X] [--to Y] --format jsonl|csv
  [--output FILE]``: every event of the lifecycle in position order (format: :mod:`.chain`);
  ``--from``/``--to`` are positions (integers) or ISO 8601 times, both inclusive.
* ``verify FILE``: exit 1 and the first bad line if any record was edited, removed, inserted or
  reordered (:mod:`.verify`).
* ``state --order ID | --user ID | --symbol S --as-of-position N``: the order, account or book
  as it stood at position N, rebuilt from the store (:mod:`.state`).

The store is ``EXCHANGE_DATABASE_URL``, else the ``--profile``'s database (like ``migrate``).
The work lives in :mod:`.commands`, imported when a command runs: ``exchange --help`` and the
stack commands do not pay for SQLAlchemy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.profiles import PROFILES

app = typer.Typer(help="Export, verify and time-travel lifecycles.", no_args_is_help=True)

OrderOpt = Annotated[int | None, typer.Option("--order", help="an order id")]
UserOpt = Annotated[int | None, typer.Option("--user", help="a user id")]
SymbolOpt = Annotated[str | None, typer.Option("--symbol", help="a symbol")]
ProfileOpt = Annotated[str, typer.Option("--profile", "-p", help="dev or test")]
FormatOpt = Annotated[str, typer.Option("--format", help="jsonl or csv")]


def database_url(profile: str) -> str:
    """``EXCHANGE_DATABASE_URL``, else the profile's database."""
    if profile not in PROFILES:
        raise typer.BadParameter(f"unknown profile {profile!r}; choose {', '.join(PROFILES)}")
    return os.environ.get("EXCHANGE_DATABASE_URL", PROFILES[profile].database_url)


def scope_of(order: int | None, user: int | None, symbol: str | None) -> dict[str, Any]:
    """The one lifecycle asked for, as ``{"order": id}``, ``{"user": id}`` or ``{"symbol": S}``."""
    named = (("order", order), ("user", user), ("symbol", symbol))
    given = {key: value for key, value in named if value is not None}
    if len(given) != 1:
        raise typer.BadParameter("give exactly one of --order, --user, --symbol")
    return given


def _format(name: str | None) -> str | None:
    if name is not None and name not in ("jsonl", "csv"):
        raise typer.BadParameter("--format is jsonl or csv")
    return name


@app.command()
def export(
    order: OrderOpt = None,
    user: UserOpt = None,
    symbol: SymbolOpt = None,
    start: Annotated[str | None, typer.Option("--from", help="position or ISO time")] = None,
    end: Annotated[str | None, typer.Option("--to", help="position or ISO time")] = None,
    fmt: FormatOpt = "jsonl",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="default stdout")] = None,
    profile: ProfileOpt = "dev",
) -> None:
    """Write every event of a lifecycle, hash-chained, in position order."""
    from cli.audit import commands

    scope = scope_of(order, user, symbol)
    window = commands.window_of(start, end)
    commands.export(database_url(profile), scope, window, _format(fmt) or "jsonl", output)


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="an export")],
    fmt: Annotated[str | None, typer.Option("--format", help="default: by the file")] = None,
    expect_head: Annotated[
        str | None, typer.Option(help="the head hash printed by the export")
    ] = None,
) -> None:
    """Check an export's hash chain; exit 1 naming the first bad line."""
    from cli.audit import commands

    commands.verify(file, _format(fmt), expect_head)


@app.command()
def state(
    as_of_position: Annotated[int, typer.Option("--as-of-position", help="a store position")],
    order: OrderOpt = None,
    user: UserOpt = None,
    symbol: SymbolOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    profile: ProfileOpt = "dev",
) -> None:
    """Print an order, an account or a book as it stood at a store position."""
    from cli.audit import commands

    scope = scope_of(order, user, symbol)
    commands.state(database_url(profile), scope, as_of_position, as_json)
