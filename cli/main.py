"""``exchange``: the one command-line entry point of the exchange."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli import audit, bench, check, rebuild, stack
from cli.profiles import PROFILES, ROOT, Profile
from cli.supervisor import Supervisor

app = typer.Typer(help="Run, test and operate the exchange.", no_args_is_help=True)
app.add_typer(audit.app, name="audit")
app.add_typer(check.check_app, name="check")
app.add_typer(check.replay_app, name="replay")
app.add_typer(rebuild.app, name="rebuild")
app.command("bench")(bench.bench)
console = Console()

ProfileOpt = Annotated[str, typer.Option("--profile", "-p", help="dev or test")]


def _profile(name: str) -> Profile:
    if name not in PROFILES:
        raise typer.BadParameter(f"unknown profile {name!r}; choose {', '.join(PROFILES)}")
    return PROFILES[name]


@app.command()
def up(
    profile: ProfileOpt = "dev",
    infra_only: Annotated[bool, typer.Option(help="MariaDB, Redis and Kafka only")] = False,
    restart_apps: Annotated[bool, typer.Option(help="restart the apps to load new code")] = False,
) -> None:
    """Start the whole exchange natively (idempotent: safe to run twice)."""
    p = _profile(profile)
    try:
        stack.up(p, infra_only=infra_only, restart_apps=restart_apps)
    except stack.StackError as exc:
        console.print(f"[red]✗ {exc}[/]")
        raise typer.Exit(1) from exc
    if infra_only:
        return
    console.print(f"\n[bold green]The exchange ({p.name}) is up.[/]")
    console.print(f"  web UI       http://127.0.0.1:{p.nginx_port}/")
    console.print(f"  command API  http://127.0.0.1:{p.nginx_port}/api/command/docs")
    console.print(f"  query API    http://127.0.0.1:{p.nginx_port}/api/query/docs")
    console.print(f"  API docs     http://127.0.0.1:{p.nginx_port}/docs")
    console.print(f"  admin key    {p.admin_key}   (the local stacks' only; refused in production)")
    console.print(f"  logs         {p.logs}")
    console.print("  stop with    ./exchange down")


@app.command()
def down(profile: ProfileOpt = "dev") -> None:
    """Stop everything `up` started for the profile."""
    p = _profile(profile)
    clean = stack.down(p)
    console.print("[green]stopped[/]" if clean else "[yellow]supervisord had to be killed[/]")


@app.command()
def status(profile: ProfileOpt = "dev") -> None:
    """Show each process of the stack, its state and its pid (the supervisor restarts one that
    is killed: the pid changes)."""
    sup = Supervisor(_profile(profile))
    if not sup.running():
        console.print("not running")
        raise typer.Exit(1)
    pids = sup.pids()
    table = Table("program", "state", "pid")
    for name, state in sup.states().items():
        table.add_row(name, state, str(pids.get(name, "")))
    console.print(table)


@app.command()
def migrate(profile: ProfileOpt = "dev") -> None:
    """Run the Alembic migrations of the event store to head."""
    url = os.environ.get("EXCHANGE_DATABASE_URL", _profile(profile).database_url)
    stack.migrate(url)


@app.command()
def init() -> None:
    """Migrate the store and create the Kafka topics (compose's one-shot init step)."""
    import asyncio

    from common.deployment import require_safe_secrets
    from common.settings import InfraSettings

    settings = InfraSettings()
    require_safe_secrets("init", settings)
    stack.migrate(settings.database_url)
    asyncio.run(stack.ensure_topics(settings.kafka_bootstrap, settings))
    console.print("[green]store migrated, topics ready[/]")


@app.command("build-engine")
def build_engine() -> None:
    """Build the mypyc-compiled engine for the current sources (if missing); print its folder."""
    from cli import engine_build

    with Console(stderr=True).status("building the compiled engine (mypyc, ~20 s)"):
        built, note = engine_build.build()
    Console(stderr=True).print(note, markup=False, highlight=False)
    if built is None:
        raise typer.Exit(1)
    sys.stdout.write(f"{built}\n")


def _run(step: str, cmd: list[str], env: dict[str, str]) -> int:
    console.rule(f"[bold]{step}")
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def test(ctx: typer.Context) -> None:
    """Start (or reuse) the test stack, then run ruff, mypy and pytest against it.

    Extra arguments go to pytest. The exit code is pytest's (5 = no tests collected).
    """
    p = PROFILES["test"]
    try:
        stack.up(p, restart_apps=True)
    except stack.StackError as exc:
        console.print(f"[red]✗ test stack: {exc}[/]")
        raise typer.Exit(1) from exc
    env = {**os.environ, **p.service_env()}
    bin_dir = ROOT / ".venv" / "bin"
    checks = [
        ("ruff check", [str(bin_dir / "ruff"), "check", "."]),
        ("ruff format --check", [str(bin_dir / "ruff"), "format", "--check", "."]),
        ("mypy", [str(bin_dir / "mypy")]),
    ]
    for step, cmd in checks:
        if _run(step, cmd, env) != 0:
            console.print(f"[red]✗ {step} failed[/]")
            raise typer.Exit(1)
    rc = _run("pytest", [str(bin_dir / "pytest"), *ctx.args], env)
    raise typer.Exit(rc)


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())
