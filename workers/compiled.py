"""Load the mypyc-compiled build in a worker, or fall back to the pure-Python code, loudly.

A worker's entry point calls :func:`use_compiled_engine` first, before anything imports
``domain`` or ``projections``, and imports its own code afterwards; :func:`run_on_build` is
that sequence for the workers' ``main``::

    def main() -> None:
        run_on_build(log, WorkerSettings().log_level, _main)  # _main imports the worker

The build (``cli/engine_build.py``, made by ``exchange up`` or ``exchange build-engine``) is a
copy of ``domain/`` and ``projections/`` with the engine modules and the projector's folds
compiled; putting its directory first on ``sys.path`` makes ``import domain...`` and ``import
projections...`` load it. Both builds pass the same tests, so the fallback changes the speed,
never the results. The matching worker checks the engine's modules loaded compiled, the
projector (``modules=PROJECTOR_MODULE_NAMES``) the folds'.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from cli.engine_build import ENGINE_MODULE_NAMES, PACKAGES, build_dir

NOT_BUILT = "compiled engine not built; using the pure-Python engine (run `exchange build-engine`)"


def _is_compiled(name: str) -> bool:
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None) or ""
    return bool(file) and not file.endswith(".py")


def _in_build(name: str) -> bool:
    return name in PACKAGES or name.startswith(tuple(f"{p}." for p in PACKAGES))


def _forget_domain() -> None:
    for name in [n for n in sys.modules if _in_build(n)]:
        del sys.modules[name]
    importlib.invalidate_caches()


def _already_imported(target: Path, logger: logging.Logger, modules: list[str]) -> Path | None:
    """A package of the build is loaded: keep it (a process cannot switch builds half-way)."""
    package = next(p for p in PACKAGES if p in sys.modules)
    package_file = getattr(sys.modules[package], "__file__", None) or ""
    same_build = (
        bool(package_file) and Path(package_file).resolve().parent.parent == target.resolve()
    )
    if same_build and all(m not in sys.modules or _is_compiled(m) for m in modules):
        return target  # this process already runs the build (a second call, PYTHONPATH)
    logger.warning(
        "%s was imported before use_compiled_engine(); keeping the code already loaded",
        package,
        extra={"package_file": package_file},
    )
    return None


def use_compiled_engine(
    logger: logging.Logger,
    cache_root: Path | None = None,
    modules: list[str] = ENGINE_MODULE_NAMES,
) -> Path | None:
    """Make ``import domain`` (and ``projections``) load the compiled build of the current
    sources, if there is one, and check ``modules`` load compiled from it.

    Returns the build directory (now first on ``sys.path``), or None when the process keeps
    the pure-Python code: the build is missing or stale (a warning says to run
    ``exchange build-engine``), it does not load in this interpreter (undone, warned), or
    ``domain`` or ``projections`` was already imported (warned; nothing is switched).
    ``cache_root`` defaults to ``$EXCHANGE_MYPYC_CACHE`` or ``.cache/mypyc``. Never imports
    either package before deciding.
    """
    target = build_dir(cache_root)
    if any(p in sys.modules for p in PACKAGES):
        return _already_imported(target, logger, modules)
    if not target.is_dir():
        logger.warning(NOT_BUILT, extra={"expected_build": str(target)})
        return None
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    problem = ""
    try:
        for name in modules:
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


def run_on_build(
    logger: logging.Logger,
    log_level: str,
    main: Callable[[], Coroutine[Any, Any, None]],
    modules: list[str] = ENGINE_MODULE_NAMES,
) -> None:
    """A worker's entry point: JSON-line logs named after ``logger``, the build chosen
    (:func:`use_compiled_engine` with ``modules``), then ``main()`` on uvloop until it returns.
    ``main`` imports the worker's own modules when it runs, after the build was chosen."""
    import uvloop

    from common.logging import configure_logging

    configure_logging(logger.name, log_level)
    use_compiled_engine(logger, modules=modules)
    uvloop.run(main())
