"""Bring a stack profile up (idempotently) and down again."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from rich.console import Console
from rich.markup import escape

from cli import engine_build
from cli.configs import APPS, INFRA, render_all
from cli.profiles import KAFKA_LIBS, ROOT, Profile
from cli.supervisor import Supervisor
from common.settings import InfraSettings

console = Console(stderr=True)


class StackError(RuntimeError):
    """The stack could not be brought to the requested state."""


def _wait(
    what: str,
    ready: Callable[[], bool],
    timeout_s: float,
    sup: Supervisor,
    program: str | None = None,
) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            log = sup.tail(program) if program else ""
            raise StackError(f"{what} not ready after {timeout_s:.0f}s\n{log}")
        time.sleep(0.1)


def init_mariadb(p: Profile) -> None:
    """Create the data directory once."""
    datadir = p.run_dir / "mariadb-data"
    if (datadir / "mysql").is_dir():
        return
    datadir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            shutil.which("mariadb-install-db") or "mariadb-install-db",
            "--no-defaults",
            f"--datadir={datadir}",
            "--user=root",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
    )


def format_kafka(p: Profile) -> None:
    """Format KRaft storage once, with a fresh cluster id."""
    if (p.run_dir / "kafka-data" / "meta.properties").exists():
        return
    subprocess.run(
        [
            "java",
            "-cp",
            f"{KAFKA_LIBS}/*",
            "kafka.tools.StorageTool",
            "format",
            "--config",
            str(p.run_dir / "kafka.properties"),
            "--cluster-id",
            uuid.uuid4().hex[:22],
            "--ignore-formatted",
        ],
        check=True,
        capture_output=True,
    )


def _mariadb_sql(p: Profile, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["mariadb", "--no-defaults", "-S", str(p.mariadb_socket), "-u", "root", "-e", sql],
        capture_output=True,
        text=True,
    )


def bootstrap_database(p: Profile) -> None:
    """The application user and database (idempotent)."""
    sql = f"""
    CREATE DATABASE IF NOT EXISTS `{p.database}`;
    CREATE USER IF NOT EXISTS 'exchange'@'127.0.0.1' IDENTIFIED BY 'exchange';
    CREATE USER IF NOT EXISTS 'exchange'@'localhost' IDENTIFIED BY 'exchange';
    GRANT ALL PRIVILEGES ON *.* TO 'exchange'@'127.0.0.1';
    GRANT ALL PRIVILEGES ON *.* TO 'exchange'@'localhost';
    """
    result = _mariadb_sql(p, sql)
    if result.returncode != 0:
        raise StackError(f"database bootstrap failed: {result.stderr}")


def migrate(database_url: str) -> None:
    """Run the Alembic migrations to head."""
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = database_url
    command.upgrade(cfg, "head")


async def ensure_topics(bootstrap: str, settings: InfraSettings) -> None:
    """Create the exchange's topics with their partition counts, if missing."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = {
            settings.orders_topic: settings.orders_partitions,
            settings.events_topic: settings.events_partitions,
            settings.settlement_topic: settings.settlement_partitions,
        }
        new = [NewTopic(t, n, 1) for t, n in wanted.items() if t not in existing]
        if new:
            await admin.create_topics(new)
    finally:
        await admin.close()


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _kafka_ready(p: Profile) -> bool:
    if not _port_open(p.kafka_port):
        return False
    try:
        asyncio.run(ensure_topics(p.kafka_bootstrap, InfraSettings()))
    except Exception:  # noqa: BLE001 - not ready yet; the caller retries until its deadline
        return False
    return True


def app_programs() -> list[str]:
    """The application programs whose code exists in this checkout."""
    present = []
    for name in APPS:
        module = ROOT / "workers" / name
        exists = module.with_suffix(".py").exists() or (module / "__main__.py").exists()
        if name in ("command_api", "query_api", "nginx") or exists:
            present.append(name)
    return present


def ensure_engine_build(status: Callable[[str], None]) -> Path | None:
    """The compiled engine of the current sources: reused when built, else built now (~20 s).

    Never fails the start: without the build the workers log a warning and run the pure-Python
    engine (same results, slower).
    """
    try:
        built, note = engine_build.current(), ""
        if built is None:
            status("building the compiled engine (mypyc, ~20 s; once per source change)")
            built, note = engine_build.build()
    except Exception as exc:  # noqa: BLE001 - a failed build must not stop the start
        built, note = None, f"{type(exc).__name__}: {exc}"
    if built is None:
        console.print(
            f"  [yellow]![/] engine    pure Python: compiled build failed ({escape(note)})"
        )
    else:
        console.print(f"  [green]✓[/] engine    mypyc build {built.name}")
    return built


# Generous: a busy 2-core machine (a CI run beside other work) can take a minute just importing
# the APIs on first start (a fresh clone compiles its bytecode too).
APP_READY_S = 180


def up(p: Profile, *, infra_only: bool = False, restart_apps: bool = False) -> None:
    """Install configs, start every service of the profile, and wait until all are ready."""
    sup = Supervisor(p)
    with console.status(f"[bold]starting the {p.name} stack[/]") as status:
        render_all(p)
        init_mariadb(p)
        format_kafka(p)
        sup.start_daemon()
        sup.start(*INFRA)
        status.update("waiting for MariaDB, Redis and Kafka")
        _wait("MariaDB", lambda: _mariadb_sql(p, "SELECT 1").returncode == 0, 60, sup, "mariadb")
        console.print(f"  [green]✓[/] MariaDB   127.0.0.1:{p.mariadb_port} db={p.database}")
        _wait("Redis", lambda: _port_open(p.redis_port), 30, sup, "redis")
        console.print(f"  [green]✓[/] Redis     127.0.0.1:{p.redis_port} (AOF)")
        bootstrap_database(p)
        status.update("running migrations")
        migrate(p.database_url)
        console.print("  [green]✓[/] migrations at head")
        status.update("waiting for Kafka (KRaft)")
        _wait("Kafka", lambda: _kafka_ready(p), 90, sup, "kafka")
        console.print(f"  [green]✓[/] Kafka     {p.kafka_bootstrap} (KRaft, topics ready)")
        if infra_only:
            return
        ensure_engine_build(status.update)
        apps = app_programs()
        nginx_was_running = sup.states().get("nginx") == "RUNNING"
        if restart_apps:
            sup.restart(*apps)
        sup.start(*apps)
        if nginx_was_running and not restart_apps:
            # render_all rewrote nginx.conf; HUP makes a running nginx load it gracefully.
            sup.signal("HUP", "nginx")
        status.update("waiting for the APIs and nginx")
        for name, port in (("command_api", p.command_api_port), ("query_api", p.query_api_port)):
            url = f"http://127.0.0.1:{port}/ready"
            _wait(name, lambda url=url: _http_ok(url), APP_READY_S, sup, name)  # type: ignore[misc]
        _wait(
            "nginx",
            lambda: _http_ok(f"http://127.0.0.1:{p.nginx_port}/api/query/health"),
            30,
            sup,
            "nginx",
        )
        console.print(f"  [green]✓[/] {', '.join(apps)}")


def down(p: Profile) -> bool:
    """Stop every process the profile's supervisord started, then supervisord."""
    return Supervisor(p).shutdown()
