"""The mypyc-compiled build of the domain's engine modules and the projector's folds, kept
outside the source tree.

    exchange build-engine                  # builds if missing, prints the directory
    .venv/bin/python -m cli.engine_build   # the same, without the CLI

The pure-Python packages stay the reference. The compiled copy of ``domain/`` and
``projections/`` lives in a cache directory keyed by a digest of their sources and of the mypy
release (``.cache/mypyc/<digest>`` by default; ``EXCHANGE_MYPYC_CACHE`` moves the root), reused
until a source changes. ``exchange up`` builds it when missing, ``workers/compiled.py`` puts it
first on ``sys.path`` of the matching and settlement workers and the projector, the matching
benchmark and ``benchmarks/projector_pure.py`` time it, and the ``test_compiled_build.py`` of
``tests/unit/domain`` and ``tests/unit/projections`` run the domain rulebook and the folds'
tests against it.

Only the modules of ``COMPILED_MODULES`` are compiled: the engine's, the account effects and
``fold_account_data`` the settlement worker spends its time in (``domain/account.py``,
``domain/settlement.py``, ``domain/folds.py``), the engine's snapshots
(``domain/matching/snapshot.py``: the matching worker takes one every 50,000 inputs) and the
projector's folds; the other modules of both packages (streams, instrument, values, ...; the
projection writer, the readers, ...) are copied beside them as plain ``.py`` files and load from
the build as well.

This module imports nothing but the standard library: the workers import it before ``domain``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: Environment variable naming another cache root (tests point it at a temporary directory).
CACHE_ENV = "EXCHANGE_MYPYC_CACHE"
#: The engine's modules mypyc compiles, relative to the repository (or to a build directory).
ENGINE_MODULES = [
    "domain/events.py",
    "domain/commands.py",
    "domain/order_events.py",
    "domain/rejections.py",
    "domain/order_requests.py",
    "domain/account_events.py",
    "domain/registry_events.py",
    "domain/settlement.py",
    "domain/account.py",
    "domain/folds.py",
    "domain/matching/book.py",
    "domain/matching/matcher.py",
    "domain/matching/rules.py",
    "domain/matching/fillability.py",
    "domain/matching/batch.py",
    "domain/matching/fastpath.py",
    "domain/matching/engine.py",
    "domain/matching/snapshot.py",
]
#: The projector's pure folds and the stored forms they build (``simulation``: the read-side
#: tests' and benchmarks' exchange); the writer (asyncio, Redis) stays interpreted.
PROJECTION_MODULES = [
    "projections/changes.py",
    "projections/records.py",
    "projections/keys.py",
    "projections/orders.py",
    "projections/accounts.py",
    "projections/market.py",
    "projections/refdata.py",
    "projections/simulation.py",
]
COMPILED_MODULES = ENGINE_MODULES + PROJECTION_MODULES
#: The packages copied into a build, whole.
PACKAGES = ("domain", "projections")


def _names(paths: list[str]) -> list[str]:
    return [path.removesuffix(".py").replace("/", ".") for path in paths]


#: As module names (``domain.matching.engine``): all, the engine's, the projection modules,
#: and the projector's (the folds without the simulation).
COMPILED_MODULE_NAMES = _names(COMPILED_MODULES)
ENGINE_MODULE_NAMES = _names(ENGINE_MODULES)
PROJECTION_MODULE_NAMES = _names(PROJECTION_MODULES)
PROJECTOR_MODULE_NAMES = _names([m for m in PROJECTION_MODULES if not m.endswith("simulation.py")])
BUILD_TIMEOUT_S = 900


def cache_root() -> Path:
    """Where builds live: ``$EXCHANGE_MYPYC_CACHE`` if set, else ``<repo>/.cache/mypyc``."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else REPO / ".cache" / "mypyc"


def _mypy_version() -> str:
    try:
        return metadata.version("mypy")
    except metadata.PackageNotFoundError:  # a runtime-only install: nothing can be built
        return "no-mypy"


def source_digest(root: Path = REPO) -> str:
    """Hash of the sources of ``root``'s :data:`PACKAGES` (``.py`` and the projector's Lua),
    the compiled module list and the mypy release, so a stale build is never used.

    Cheap (a few milliseconds): ``exchange up`` and every worker start compute it.
    """
    digest = hashlib.sha256(_mypy_version().encode())
    digest.update("\n".join(COMPILED_MODULES).encode())
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.suffix in (".py", ".lua"):
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_dir(root: Path | None = None) -> Path:
    """The directory the build of the current sources has (or would have) under ``root``."""
    return (root or cache_root()) / source_digest()


def current(root: Path | None = None) -> Path | None:
    """The build of the current sources if it exists, else None (the digest check only)."""
    target = build_dir(root)
    return target if target.is_dir() else None


def build(root: Path | None = None, python: str = sys.executable) -> tuple[Path | None, str]:
    """Compile into ``root/<digest>`` unless already built; return (directory or None, message).

    Never raises for a failed build: the message says why (mypyc or setuptools missing, no C
    compiler, ...). The build happens in a private directory renamed into place when complete,
    so concurrent callers never see (or delete) each other's half-built trees; its name is the
    digest of the sources as copied, so an edit made during the build cannot mislabel it.
    """
    root = root or cache_root()
    existing = current(root)
    if existing is not None:
        return existing, f"reusing compiled build in {existing}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    except OSError as exc:
        return None, f"cannot create a build directory under {root}: {exc}"
    try:
        return _compile(work, root, python)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"mypyc build failed: {type(exc).__name__}: {exc}"
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def _compile(work: Path, root: Path, python: str) -> tuple[Path | None, str]:
    for package in PACKAGES:
        shutil.copytree(
            REPO / package, work / package, ignore=shutil.ignore_patterns("__pycache__", "*.so")
        )
    target = root / source_digest(work)
    # Its own mypy configuration: the project's (found by walking up from a build inside the
    # repository) names other packages, which this build does not type-check.
    (work / "mypyc.ini").write_text("[mypy]\nignore_missing_imports = True\n")
    result = subprocess.run(
        [python, "-m", "mypyc", "--config-file", "mypyc.ini", *COMPILED_MODULES],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
        timeout=BUILD_TIMEOUT_S,
    )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        return None, "mypyc build failed (setuptools or a C compiler missing?): " + " | ".join(
            tail or [f"exit status {result.returncode}"]
        )
    for scratch in ("build", ".mypy_cache"):  # C sources, objects, mypy's cache: never loaded
        shutil.rmtree(work / scratch, ignore_errors=True)
    try:
        work.rename(target)
    except OSError:  # another process finished the same build first
        if not target.is_dir():
            raise
        return target, f"reusing compiled build in {target}"
    return target, f"compiled {len(COMPILED_MODULES)} modules with mypyc into {target}"


def main() -> None:
    """``python -m cli.engine_build``: build if missing, print the directory (exit 1 if none)."""
    built, note = build()
    sys.stderr.write(note + "\n")
    if built is None:
        raise SystemExit(1)
    sys.stdout.write(f"{built}\n")


if __name__ == "__main__":
    main()
