"""Drive the query API with ``wrk`` (C, one thread): the load generator's own CPU stays small.

On a 2-core box the Python load generator (``benchmarks.http_load``) costs about as much CPU
per request as the server under test, so its figure says as much about the client as about
the server. ``wrk`` (Debian's ``wrk`` package: ``apt-get install wrk``) sends the same
keep-alive closed-loop load from C; a Lua script rotates the requests and prints the figures
as one JSON line.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

import orjson

SCRIPT = """
local requests = {%(requests)s}
local i = 0
request = function()
  i = i + 1
  return requests[(i %% #requests) + 1]
end
init = function()
  local built = {}
  for n, r in ipairs(requests) do
    built[n] = wrk.format("GET", r[1], r[2])
  end
  requests = built
end
done = function(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests":%%d,"duration_us":%%d,"status_errors":%%d,"socket_errors":%%d,' ..
    '"p50_us":%%d,"p99_us":%%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def available() -> bool:
    """Whether ``wrk`` is on the PATH."""
    return shutil.which("wrk") is not None


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def script(requests: list[tuple[str, dict[str, str]]]) -> str:
    """The Lua script that sends ``requests`` (path, headers) in turn and prints the figures."""
    rows = []
    for path, headers in requests:
        fields = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items())
        rows.append(f"{{{_lua_string(path)}, {{{fields}}}}}")
    return SCRIPT % {"requests": ", ".join(rows)}


async def run(
    port: int,
    requests: list[tuple[str, dict[str, str]]],
    connections: int,
    duration_s: float,
    threads: int = 1,
) -> dict[str, Any]:
    """One closed-loop phase; ``{"requests", "duration_us", "status_errors", "socket_errors",
    "p50_us", "p99_us"}``."""
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "load.lua"
        lua.write_text(script(requests))
        process = await asyncio.create_subprocess_exec(
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration_s:g}s",
            "--timeout",
            "5s",
            "-s",
            str(lua),
            f"http://127.0.0.1:{port}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
    for line in out.decode().splitlines():
        if line.startswith("WRK "):
            figures: dict[str, Any] = orjson.loads(line[4:])
            return figures
    raise RuntimeError(f"wrk printed no figures: {out.decode()[-500:]} {err.decode()[-500:]}")
