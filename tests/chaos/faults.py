"""Faults: SIGKILL each program of the stack in turn, restart Redis, Kafka and MariaDB.

The stack's own supervisord (``cli/supervisor.py``) restarts a killed program; an
infrastructure restart is a ``supervisorctl restart`` (a clean stop, then a start). Each fault
waits until its program runs again under a new pid, so the next one hits a live stack.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass

from cli.profiles import OPS_PORTS, Profile
from cli.supervisor import Supervisor

INFRA = ("redis", "kafka", "mariadb")
"""Restarted (stop, start), in this order, after the applications were killed."""
NOT_KILLED = frozenset({"nginx", *INFRA})
FIRST = ("command_api", "relay", "matching", "settlement", "projector", "scheduler", "query_api")
"""The applications in the order they are killed; any other program follows them."""
BACK_WITHIN_S = 600.0
"""Generous: on a loaded 2-core machine a JVM or a Python process may take minutes to start."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault done: what, to which program, when (seconds into the run), and how long the
    program took to run again."""

    kind: str
    program: str
    at_s: float
    back_after_s: float


def ports(profile: Profile) -> dict[str, int]:
    """The port each program serves on: "back" means it accepts connections there again."""
    return {
        "mariadb": profile.mariadb_port, "redis": profile.redis_port,
        "kafka": profile.kafka_port, "command_api": profile.command_api_port,
        "query_api": profile.query_api_port, **{w: profile.ops_port(w) for w in OPS_PORTS},
    }  # fmt: skip


async def listening(port: int) -> bool:
    """Something accepts TCP connections on the loopback ``port``."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


def applications(supervisor: Supervisor) -> list[str]:
    """The programs to kill: every supervised program but nginx and the infrastructure."""
    present = [p for p in supervisor.states() if p not in NOT_KILLED]
    return sorted(present, key=lambda p: (FIRST.index(p) if p in FIRST else len(FIRST), p))


def plan(
    supervisor: Supervisor, rounds: int, infra: tuple[str, ...] = INFRA
) -> list[tuple[str, str]]:
    """``rounds`` rounds of killing every application, each followed by a restart of
    ``infra`` (some of Redis, Kafka and MariaDB)."""
    steps: list[tuple[str, str]] = []
    for _ in range(rounds):
        steps += [("kill", p) for p in applications(supervisor)]
        steps += [("restart", p) for p in infra]
    return steps


class Chaos:
    """Carries out a plan of faults with pauses between them, recording each.

    A killed program is watched in the background while the next fault hits (so several may
    be restarting at once); before an infrastructure restart and at the end, every killed one
    must be back. A program is back when supervisord runs it under a new pid and it accepts
    connections on its port (Kafka, say, runs for a while before it listens)."""

    def __init__(self, supervisor: Supervisor, started: float) -> None:
        self.supervisor = supervisor
        self.ports = ports(supervisor.profile)
        self.started = started
        self.done: list[Fault] = []
        self.not_back: list[str] = []
        self._returning: list[asyncio.Task[None]] = []

    async def kill(self, program: str) -> None:
        """SIGKILL the program; supervisord starts it again (watched in the background)."""
        pid = await asyncio.to_thread(lambda: self.supervisor.pids().get(program))
        at = time.monotonic()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        self._returning.append(asyncio.create_task(self._back(program, at, "kill", pid)))

    async def restart(self, program: str) -> None:
        """Stop and start the program through supervisord; wait until it serves again."""
        await self.all_back()
        at = time.monotonic()
        await asyncio.to_thread(self.supervisor.restart, program)
        await self._back(program, at, "restart", None)

    async def all_back(self) -> None:
        """Wait until every killed program runs again (or was noted as not back)."""
        await asyncio.gather(*self._returning)
        self._returning.clear()

    async def _back(self, program: str, at: float, kind: str, old_pid: int | None) -> None:
        while time.monotonic() - at < BACK_WITHIN_S:
            pid = await asyncio.to_thread(lambda: self.supervisor.pids().get(program))
            port = self.ports.get(program)
            if pid not in (None, old_pid) and (port is None or await listening(port)):
                self.done.append(Fault(kind, program, at - self.started, time.monotonic() - at))
                return
            await asyncio.sleep(0.2)
        self.not_back.append(f"{program} did not serve again within {BACK_WITHIN_S:.0f} s")

    async def run(self, steps: list[tuple[str, str]], pause_s: float) -> None:
        """Each step, ``pause_s`` seconds of load after it; then wait for every program."""
        for kind, program in steps:
            await (self.kill(program) if kind == "kill" else self.restart(program))
            await asyncio.sleep(pause_s)
        await self.all_back()

    def not_running(self) -> list[str]:
        """Programs supervisord does not run now (FATAL, BACKOFF, STOPPED...)."""
        return [f"{p} is {s}" for p, s in self.supervisor.states().items() if s != "RUNNING"]
