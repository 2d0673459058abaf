"""Outside the local dev/test stacks, a process refuses to start with a well-known secret.

``EXCHANGE_ENV`` (``dev``, ``test`` or ``production``) says where a process runs. The local
stacks run with the README's values (admin key ``dev-admin-key``, database password
``exchange``); a deployment that kept one of them would hand the exchange to anyone who read the
README, so every process (both APIs, the relay, the workers, ``exchange init``) calls
:func:`require_safe_secrets` first and exits non-zero naming the setting to set.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from common.settings import ApiSettings, InfraSettings

LOCAL_ENVS = frozenset({"dev", "test"})
MIN_SECRET_CHARS = 16
"""Shorter secrets are refused outside the local stacks (a generated one has 43+)."""
WELL_KNOWN = frozenset(
    {
        "dev-admin-key",
        "admin-key",
        "admin",
        "exchange",
        "root",
        "password",
        "secret",
        "changeme",
        "change-me",
        "mariadb",
        "mysql",
    }
)
"""Values from the README, compose.yaml's old defaults and the usual placeholders."""
GENERATE_HINT = "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def _weakness(value: str | None) -> str | None:
    """Why ``value`` is not a usable secret, or ``None`` if it is."""
    if not value:
        return "is missing"
    if value.lower() in WELL_KNOWN:
        return f"is the well-known value {value!r}"
    if len(value) < MIN_SECRET_CHARS:
        return f"is shorter than {MIN_SECRET_CHARS} characters"
    return None


def secret_problems(settings: InfraSettings) -> list[str]:
    """One line per unusable secret (naming its setting); empty on the local stacks."""
    if settings.env in LOCAL_ENVS:
        return []
    problems = []
    password = urlsplit(settings.database_url).password
    weak = _weakness(password)
    if weak is not None:
        problems.append(f"the database password in EXCHANGE_DATABASE_URL {weak}")
    if isinstance(settings, ApiSettings):
        weak = _weakness(settings.admin_key)
        if weak is not None:
            problems.append(f"EXCHANGE_ADMIN_KEY {weak}")
    return problems


def require_safe_secrets(service: str, settings: InfraSettings) -> None:
    """Exit non-zero (``SystemExit`` with the reason on stderr) if a secret is unusable."""
    problems = secret_problems(settings)
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise SystemExit(
            f"{service}: refusing to start with EXCHANGE_ENV={settings.env}:\n{lines}\n"
            f"Set each to a strong secret ({GENERATE_HINT}), "
            "or run with EXCHANGE_ENV=dev on a local stack."
        )
