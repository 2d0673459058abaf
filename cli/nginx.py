"""The front door: one nginx configuration, rendered for the native stack and for compose.

``cli/configs.py`` renders it into ``.run/<profile>/nginx.conf``; ``deploy/nginx/compose.conf``
is the same text for compose.yaml's containers, regenerated with ``python -m cli.nginx`` (a unit
test fails when the committed file drifts from this module).

What it does, and why:

* serves only what clients need: each API's ``/v1/…`` routes, its docs (``docs``, ``redoc``,
  ``openapi.json``) and ``health``; the web UI at ``/``; ``/docs``, a page linking both APIs'
  docs. ``/metrics``, ``/ready`` and anything else under ``/api/`` is a ``404`` here and answers
  only on each service's own port (for Prometheus);
* WebSocket upgrade for ``/api/query/v1/ws/`` with an hour's idle time;
* every error nginx itself gives (404, 413, 429, upstream down) is problem+json, like the APIs';
* writes (the command API) are rate limited per client: per API key, or per address without
  one; beyond the burst a ``429`` with ``Retry-After``;
* security headers on every answer: a CSP allowing only the UI's own assets plus same-origin
  WebSocket (FastAPI's Swagger/ReDoc pages, which load from their CDN, get their own CSP),
  ``nosniff``, frame deny, no referrer;
* sized for 10,000 concurrent keep-alive clients: worker connections, open files, backlog and
  upstream keep-alive (``benchmarks/front_door.py``).
"""

from __future__ import annotations

import json
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

from common.webapp import DOCS_ASSETS

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_CONF = ROOT / "deploy" / "nginx" / "compose.conf"
DOCS_PAGE = ROOT / "deploy" / "nginx" / "docs.html"

MAX_OPEN_FILES = 65536
WORKER_CONNECTIONS = 20480
"""Per worker (at most the open files less some for logs and listeners); a proxied request
holds two (client and upstream)."""
WRITE_RATE = "100r/s"
WRITE_BURST = 200
RETRY_AFTER_S = 1
MAX_BODY_MIB = 2
MAX_BODY = f"{MAX_BODY_MIB}m"
PUBLIC_API_PATHS = ("openapi.json", "docs", "docs/oauth2-redirect", "redoc", "health")
"""Besides ``/v1/…``: what each API serves through the front door."""

UI_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self' ws://$http_host wss://$http_host; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""Only the UI's own files; ``connect-src`` names the same-origin ``ws:``/``wss:`` forms
explicitly because older Chrome does not let ``'self'`` match a WebSocket URL."""
API_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
"""FastAPI's Swagger UI and ReDoc pages: an inline bootstrap script and the CDN's bundle."""


@dataclass(frozen=True, slots=True)
class Site:
    """Where one copy of the front door listens, what it proxies to and where its files are."""

    listen: str
    command_api: str
    query_api: str
    web_root: str
    docs_page: str
    pid: str
    error_log: str
    temp_dir: str | None = None
    user: str | None = None
    max_open_files: int = MAX_OPEN_FILES


def problem_body(status: int, code: str, title: str, detail: str) -> str:
    """A problem+json body in the APIs' format (``common.problems.problem_response``)."""
    body = {
        "type": f"https://exchange.local/problems/{code.lower().replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    return json.dumps(body, separators=(",", ":"))


NGINX_PROBLEMS = {
    400: ("BAD_REQUEST", "Bad request", "The request line or a header is malformed."),
    404: ("NOT_FOUND", "Not found", "No such route."),
    414: ("URI_TOO_LONG", "URI too long", "The request target is too long."),
    431: ("HEADERS_TOO_LARGE", "Request header fields too large", "A header is too large."),
    413: ("PAYLOAD_TOO_LARGE", "Payload too large", f"The body is over {MAX_BODY_MIB} MiB."),
    429: (
        "TOO_MANY_REQUESTS",
        "Too many requests",
        f"More than {WRITE_RATE} writes from this client; retry after {RETRY_AFTER_S} s.",
    ),
    503: ("SERVICE_UNAVAILABLE", "Service unavailable", "The API is unreachable; retry shortly."),
}


def _headers(csp: str, *extra: str) -> str:
    lines = [
        f'add_header Content-Security-Policy "{csp}" always;',
        "add_header X-Content-Type-Options nosniff always;",
        "add_header X-Frame-Options DENY always;",
        "add_header Referrer-Policy no-referrer always;",
        "add_header Cross-Origin-Opener-Policy same-origin always;",
        *extra,
    ]
    return "\n      ".join(lines)


def _problem_locations() -> str:
    blocks = []
    for status, (code, title, detail) in NGINX_PROBLEMS.items():
        extra = []
        if status == 429:
            extra.append(f"add_header Retry-After {RETRY_AFTER_S} always;")
        if status == 503:
            extra.append("add_header Retry-After 2 always;")
        blocks.append(
            f"""    location = /_problems/{status} {{
      internal;
      default_type application/problem+json;
      {_headers(UI_CSP, *extra)}
      return {status} '{problem_body(status, code, title, detail)}';
    }}"""
        )
    return "\n".join(blocks)


PROXY = """proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;"""


def _api_locations(name: str) -> str:
    prefix = f"/api/{name.removesuffix('_api')}"
    keepalive = 'proxy_set_header Connection "";'
    limit = ""
    if name == "command_api":
        limit = f"limit_req zone=writes burst={WRITE_BURST} nodelay;\n      "
    blocks = [
        f"""    location {prefix}/v1/ {{
      {limit}proxy_pass http://{name}/v1/;
      {PROXY}
      {keepalive} proxy_set_header X-Forwarded-Prefix {prefix};
    }}"""
    ]
    blocks.append(
        f"""    location {prefix}{DOCS_ASSETS}/ {{
      proxy_pass http://{name}{DOCS_ASSETS}/;
      {PROXY}
      {keepalive}
    }}"""
    )
    for path in PUBLIC_API_PATHS:
        docs = path in ("docs", "redoc", "docs/oauth2-redirect")
        headers = f"\n      {_headers(API_DOCS_CSP)}" if docs else ""
        blocks.append(
            f"""    location = {prefix}/{path} {{
      proxy_pass http://{name}/{path};
      {PROXY}
      {keepalive} proxy_set_header X-Forwarded-Prefix {prefix};{headers}
    }}"""
        )
    return "\n".join(blocks)


def render(site: Site) -> str:
    """The whole ``nginx.conf`` of ``site``."""
    user = "" if site.user is None else f"user {site.user};\n"
    temp = ""
    if site.temp_dir is not None:
        t = site.temp_dir
        temp = (
            f"\n  client_body_temp_path {t}/body; proxy_temp_path {t}/proxy;"
            f"\n  fastcgi_temp_path {t}/fastcgi; uwsgi_temp_path {t}/uwsgi;"
            f" scgi_temp_path {t}/scgi;"
        )
    return f"""# Rendered by cli/nginx.py for the native stack and compose; edit it there.
{user}worker_processes auto;
worker_rlimit_nofile {site.max_open_files};
pid {site.pid};
error_log {site.error_log} warn;
events {{ worker_connections {min(WORKER_CONNECTIONS, site.max_open_files - 1024)}; }}
http {{
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  server_tokens off;{temp}
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_timeout 75s; keepalive_requests 10000;
  client_header_timeout 15s; client_body_timeout 15s; send_timeout 30s;
  reset_timedout_connection on;
  client_max_body_size {MAX_BODY};
  proxy_connect_timeout 5s; proxy_send_timeout 30s; proxy_read_timeout 30s;
  gzip on; gzip_vary on; gzip_proxied any; gzip_comp_level 5; gzip_min_length 512;
  gzip_types application/json application/problem+json application/javascript text/css
             text/plain image/svg+xml;

  map $http_upgrade $connection_upgrade {{ default upgrade; "" close; }}
  # Writes are limited per client: its API key, or its address when it sends none.
  map $http_authorization $write_client {{ "" $binary_remote_addr; default $http_authorization; }}
  limit_req_zone $write_client zone=writes:16m rate={WRITE_RATE};
  limit_req_status 429;

  upstream command_api {{ server {site.command_api}; keepalive 256; keepalive_timeout 60s; }}
  upstream query_api {{ server {site.query_api}; keepalive 256; keepalive_timeout 60s; }}

  server {{
    listen {site.listen} reuseport backlog=4096;
    {_headers(UI_CSP)}
    # (URIs, not named locations: a request line nginx refuses has no URI to name one from.
    # An unknown transfer coding (501) and an HTTP version but 1.x (505) are the client's
    # errors here: 400, like every other request nginx cannot read; 494 is nginx's own code
    # for a header too large.)
    error_page 400 501 505 =400 /_problems/400;
    error_page 494 =431 /_problems/431;
    error_page 404 /_problems/404;
    error_page 414 /_problems/414;
    error_page 413 /_problems/413;
    error_page 429 /_problems/429;
    error_page 502 503 504 =503 /_problems/503;

{_api_locations("command_api")}
{_api_locations("query_api")}
    location /api/query/v1/ws/ {{
      proxy_pass http://query_api/v1/ws/;
      {PROXY}
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header X-Forwarded-Prefix /api/query;
      proxy_read_timeout 1h; proxy_send_timeout 1h; proxy_buffering off;
    }}
    # Everything else under /api/ (/metrics, /ready, …) is internal: the services' own ports.
    location /api/ {{ return 404; }}

    location = /docs {{ alias {site.docs_page}; default_type text/html; }}
    location = /docs/ {{ return 301 /docs; }}
    location / {{ root {site.web_root}; try_files $uri /index.html; }}

{_problem_locations()}
  }}
}}
"""


def open_files_limit() -> int:
    """The open files nginx may raise itself to here: the hard limit, at most ``MAX_OPEN_FILES``."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, MAX_OPEN_FILES)


def compose_site() -> Site:
    """The front door of compose.yaml (the nginx image's paths, the services' names)."""
    return Site(
        listen="8000",
        command_api="command_api:8001",
        query_api="query_api:8002",
        web_root="/usr/share/nginx/html",
        docs_page="/usr/share/nginx/docs.html",
        pid="/var/run/nginx.pid",
        error_log="/var/log/nginx/error.log",
        user="nginx",
    )


if __name__ == "__main__":
    COMPOSE_CONF.write_text(render(compose_site()))
    sys.stdout.write(f"wrote {COMPOSE_CONF}\n")
