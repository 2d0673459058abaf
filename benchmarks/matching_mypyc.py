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
import tempfile
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMPILED_MODULES = [
    "domain/events.py",
    "domain/commands.py",
    "domain/order_events.py",
    "domain/rejections.py",
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
    """Hash of the domain sources and of the mypy release, so a stale build is never reused."""
    digest = hashlib.sha256(metadata.version("mypy").encode())
    for path in sorted((REPO / "domain").rglob("*.py")):
        digest.update(path.relative_to(REPO).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build(cache_root: Path, python: str = sys.executable) -> tuple[Path | None, str]:
    """Compile into ``cache_root/<digest>``; return (directory or None, message).

    The build happens in a private directory renamed into place when complete, so concurrent
    callers never see (or delete) each other's half-built trees.
    """
    target = cache_root / source_digest()
    if target.exists():
        return target, f"reusing compiled build in {target}"
    cache_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache_root))
    try:
        shutil.copytree(REPO / "domain", work / "domain")
        # Its own mypy configuration: the project's (found by walking up from a build inside the
        # repository) names other packages, which this build does not type-check.
        (work / "mypyc.ini").write_text("[mypy]\nignore_missing_imports = True\n")
        result = subprocess.run(
            [python, "-m", "mypyc", "--config-file", "mypyc.ini", *COMPILED_MODULES],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            return None, "mypyc build failed (setuptools missing?): " + " | ".join(tail)
        try:
            work.rename(target)
        except OSError:  # another process finished the same build first
            return target, f"reusing compiled build in {target}"
    finally:
        if work.exists():
            shutil.rmtree(work)
    return target, f"compiled {len(COMPILED_MODULES)} modules with mypyc into {target}"


if __name__ == "__main__":
    built, note = build(REPO / ".cache" / "mypyc")
    sys.stderr.write(note + "\n")
    if built is None:
        raise SystemExit(1)
    sys.stdout.write(f"{built}\n")
