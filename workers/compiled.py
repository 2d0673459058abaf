"""Load the mypyc-compiled engine in a worker, or fall back to the pure-Python one, loudly.

A worker's entry point calls :func:`use_compiled_engine` first, before anything imports
``domain``, and imports its own code afterwards::

    def main() -> None:
        use_compiled_engine(log)
        from workers.matching import run
        ...

The build (``cli/engine_build.py``, made by ``exchange up`` or ``exchange build-engine``) is a
copy of ``domain/`` with the engine modules compiled; putting its directory first on
``sys.path`` makes ``import domain...`` load it. Both builds pass the same domain tests, so
the fallback changes the speed, never the results.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

from cli.engine_build import COMPILED_MODULE_NAMES, build_dir

NOT_BUILT = "compiled engine not built; using the pure-Python engine (run `exchange build-engine`)"


def _is_compiled(name: str) -> bool:
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None) or ""
    return bool(file) and not file.endswith(".py")


def _forget_domain() -> None:
    for name in [n for n in sys.modules if n == "domain" or n.startswith("domain.")]:
        del sys.modules[name]
    importlib.invalidate_caches()


def _already_imported(target: Path, logger: logging.Logger) -> Path | None:
    """``domain`` is loaded: keep it (a process cannot switch builds half-way)."""
    engine = "domain.matching.engine"
    domain_file = getattr(sys.modules["domain"], "__file__", None) or ""
    same_build = bool(domain_file) and Path(domain_file).resolve().parent.parent == target.resolve()
    if same_build and (engine not in sys.modules or _is_compiled(engine)):
        return target  # this process already runs the build (a second call, PYTHONPATH)
    logger.warning(
        "domain was imported before use_compiled_engine(); keeping the engine already loaded",
        extra={"domain_file": domain_file},
    )
    return None


def use_compiled_engine(logger: logging.Logger, cache_root: Path | None = None) -> Path | None:
    """Make ``import domain`` load the compiled build of the current sources, if there is one.

    Returns the build directory (now first on ``sys.path``), or None when the process keeps
    the pure-Python engine: the build is missing or stale (a warning says to run
    ``exchange build-engine``), it does not load in this interpreter (undone, warned), or
    ``domain`` was already imported (warned; nothing is switched). ``cache_root`` defaults to
    ``$EXCHANGE_MYPYC_CACHE`` or ``.cache/mypyc``. Never imports ``domain`` before deciding.
    """
    target = build_dir(cache_root)
    if "domain" in sys.modules:
        return _already_imported(target, logger)
    if not target.is_dir():
        logger.warning(NOT_BUILT, extra={"expected_build": str(target)})
        return None
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    problem = ""
    try:
        for name in COMPILED_MODULE_NAMES:
            importlib.import_module(name)
            if not _is_compiled(name):
                problem = f"{name} loaded from {sys.modules[name].__file__}"
                break
    except Exception as exc:  # noqa: BLE001 - any failure to load the build means: fall back
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        while str(target) in sys.path:
            sys.path.remove(str(target))
        _forget_domain()
        logger.warning(
            "compiled engine in %s does not load (%s); using the pure-Python engine",
            target,
            problem,
        )
        return None
    logger.info("using the compiled (mypyc) engine", extra={"build": str(target)})
    return target
