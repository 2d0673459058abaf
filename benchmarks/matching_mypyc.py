"""Build the mypyc-compiled variant of the domain's engine modules, outside the source tree.

    .venv/bin/python benchmarks/matching_mypyc.py      # prints the directory of the build

The pure-Python package stays the reference: the compiled copy lives in a cache directory keyed
by a digest of every domain source (``.cache/mypyc/<digest>`` by default, reused until a source
changes) and is used by putting that directory first on ``PYTHONPATH``. The benchmark does so for
its compiled runs, and ``tests/unit/domain/test_compiled_build.py`` runs the whole domain
rulebook against it (``pytest --import-mode=append`` so that the build shadows the sources).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMPILED_MODULES = [
    "domain/events.py",
    "domain/commands.py",
    "domain/order_events.py",
    "domain/order_requests.py",
    "domain/account_events.py",
    "domain/matching/book.py",
    "domain/matching/matcher.py",
    "domain/matching/rules.py",
    "domain/matching/fillability.py",
    "domain/matching/batch.py",
    "domain/matching/fastpath.py",
    "domain/matching/engine.py",
]


def source_digest() -> str:
    """Hash of every domain source file, so a stale build is never reused."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "domain").rglob("*.py")):
        digest.update(path.relative_to(REPO).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build(cache_root: Path, python: str = sys.executable) -> tuple[Path | None, str]:
    """Compile into ``cache_root/<digest>``; return (directory or None, message)."""
    target = cache_root / source_digest()
    if (target / "ok").exists():
        return target, f"reusing compiled build in {target}"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copytree(REPO / "domain", target / "domain")
    modules = COMPILED_MODULES
    # Its own mypy configuration: the project's (found by walking up from a build inside the
    # repository) names other packages, which this build does not type-check.
    (target / "mypyc.ini").write_text("[mypy]\nignore_missing_imports = True\n")
    result = subprocess.run(
        [python, "-m", "mypyc", "--config-file", "mypyc.ini", *modules],
        cwd=target,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        return None, "mypyc build failed (setuptools missing?): " + " | ".join(tail)
    (target / "ok").write_text("built\n")
    return target, f"compiled {len(modules)} modules with mypyc into {target}"


if __name__ == "__main__":
    built, note = build(REPO / ".cache" / "mypyc")
    sys.stderr.write(note + "\n")
    if built is None:
        raise SystemExit(1)
    sys.stdout.write(f"{built}\n")
