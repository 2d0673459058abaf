#!/usr/bin/env bash
# Installs whatever is missing, idempotently: Debian packages (MariaDB, Redis, nginx),
# the Python environment (CPython 3.12 + uv + the locked dependencies in .venv), and
# Kafka's official jars from Maven Central. Fast when everything is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_VERSION="4.4.0"
KAFKA_LIBS="$ROOT/.cache/kafka/$KAFKA_VERSION/libs"

say() { printf '\033[1;34m[bootstrap]\033[0m %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_debian_packages() {
  local missing=()
  command -v mariadbd >/dev/null 2>&1 || missing+=(mariadb-server mariadb-client)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  # A C compiler for the mypyc build of the engine (benchmarks and its test).
  command -v cc >/dev/null 2>&1 || missing+=(gcc)
  # Headless Chromium for the browser tests (Playwright drives it; it downloads no browser).
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    # The packages try to start their services; policy-rc.d or no init keeps them stopped,
    # and the exchange starts its own instances under supervisord anyway.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

find_python() {
  for candidate in "${EXCHANGE_PYTHON:-}" python3.12 "$HOME/.pyenv/versions/3.12"*/bin/python \
      /root/.pyenv/versions/3.12*/bin/python /usr/bin/python3.12; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 && \
        "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

install_python_env() {
  local lock_hash
  lock_hash="$(cat "$ROOT/uv.lock" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
  if [ -x "$ROOT/.venv/bin/exchange" ] && [ "$(cat "$ROOT/.venv/.lock-hash" 2>/dev/null)" = "$lock_hash" ]; then
    return 0
  fi
  local py
  py="$(find_python)" || { say "CPython 3.12 not found (set EXCHANGE_PYTHON)"; exit 1; }
  if ! "$py" -m uv --version >/dev/null 2>&1; then
    say "installing uv into $py"
    "$py" -m pip install -q --disable-pip-version-check uv
  fi
  say "syncing .venv from uv.lock"
  (cd "$ROOT" && "$py" -m uv sync --frozen --quiet --compile-bytecode --python "$py")
  echo "$lock_hash" > "$ROOT/.venv/.lock-hash"
}

install_kafka() {
  if [ -f "$KAFKA_LIBS/.complete" ]; then return 0; fi
  say "resolving Kafka $KAFKA_VERSION jars from Maven Central"
  mkdir -p "$KAFKA_LIBS"
  mvn -q -B -f "$ROOT/deploy/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS"
  touch "$KAFKA_LIBS/.complete"
}

install_debian_packages
install_python_env
install_kafka
