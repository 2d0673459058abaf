"""A thin client for the stack's own supervisord (its config, its socket)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from cli.profiles import ROOT, Profile

BIN = ROOT / ".venv" / "bin"


class Supervisor:
    """Starts, queries and shuts down the supervisord of one profile."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.conf = profile.supervisor_conf

    def _ctl(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "supervisorctl"), "-c", str(self.conf), *args],
            capture_output=True,
            text=True,
            check=check,
        )

    def pid(self) -> int | None:
        """supervisord's pid, if it is alive."""
        pid_file = self.profile.run_dir / "supervisord.pid"
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        return pid

    def running(self) -> bool:
        """supervisord is alive and answers on its socket."""
        return self.pid() is not None and self._ctl("pid").returncode == 0

    def start_daemon(self) -> None:
        """Start supervisord (it daemonizes itself) and wait for its socket."""
        if self.running():
            self._ctl("reread")
            self._ctl("update")
            return
        for stale in ("supervisor.sock", "supervisord.pid"):
            (self.profile.run_dir / stale).unlink(missing_ok=True)
        subprocess.run([str(BIN / "supervisord"), "-c", str(self.conf)], check=True)
        deadline = time.monotonic() + 15
        while not self.running():
            if time.monotonic() > deadline:
                raise RuntimeError(f"supervisord did not start; see {self.profile.logs}")
            time.sleep(0.1)

    def states(self) -> dict[str, str]:
        """Program name → state (RUNNING, STOPPED, FATAL, ...)."""
        out = self._ctl("status").stdout
        states: dict[str, str] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2:
                states[parts[0]] = parts[1]
        return states

    def pids(self) -> dict[str, int]:
        """Program name → pid, for the programs that are running."""
        pids: dict[str, int] = {}
        for line in self._ctl("status").stdout.splitlines():
            parts = line.replace(",", " ").split()
            if len(parts) >= 4 and parts[1] == "RUNNING" and parts[2] == "pid":
                pids[parts[0]] = int(parts[3])
        return pids

    def start(self, *names: str) -> None:
        """Start the named programs that are not already running."""
        states = self.states()
        todo = [n for n in names if states.get(n) not in ("RUNNING", "STARTING")]
        if todo:
            self._ctl("start", *todo)

    def stop(self, *names: str) -> None:
        """Stop the named programs."""
        self._ctl("stop", *names)

    def signal(self, signal_name: str, *names: str) -> None:
        """Send a signal (``HUP``, ``TERM``...) to the named running programs."""
        self._ctl("signal", signal_name, *names)

    def restart(self, *names: str) -> None:
        """Restart the named programs (to pick up new code)."""
        self._ctl("restart", *names)

    def shutdown(self, timeout_s: float = 120) -> bool:
        """Stop every program, then supervisord itself; True when nothing is left."""
        pid = self.pid()
        if pid is None:
            return True
        self._ctl("shutdown")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        return False

    def tail(self, name: str, lines: int = 30) -> str:
        """The last lines of a program's log, for error messages."""
        log = self.profile.logs / f"{name}.log"
        if not log.exists():
            return ""
        return "\n".join(Path(log).read_text(errors="replace").splitlines()[-lines:])
