"""The compiled engine as a build step: the digest, the build, ``exchange up``'s use of it, and
the worker's loader, which picks the build when there is one and falls back loudly when not."""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from cli import engine_build, stack
from cli.engine_build import CACHE_ENV, PACKAGES, REPO, build, source_digest
from workers.compiled import NOT_BUILT, use_compiled_engine

#: Runs the loader the way a worker's main() does, then reports what ``import domain`` loaded.
WORKER = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
from workers.compiled import use_compiled_engine
assert "domain" not in sys.modules, "the loader imported domain before deciding"
chosen = use_compiled_engine(logging.getLogger("worker"))
import domain.matching.engine, domain.streams
print(chosen)
print(domain.matching.engine.__file__)
print(domain.streams.__file__)
"""


def run_worker(cache: Path) -> tuple[list[str], str]:
    """The WORKER script in a fresh interpreter with ``cache`` as the cache root."""
    env = dict(os.environ, **{CACHE_ENV: str(cache)})
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [sys.executable, "-c", WORKER], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split(), done.stderr


def copy_sources(to: Path) -> Path:
    """A copy of the repository's sources of the build (domain, projections) under ``to``."""
    for package in PACKAGES:
        shutil.copytree(REPO / package, to / package, ignore=shutil.ignore_patterns("__pycache__"))
    return to


# -- the digest and the build --------------------------------------------------------------------


def test_the_digest_follows_the_sources(tmp_path: Path) -> None:
    copy = copy_sources(tmp_path)
    assert source_digest(copy) == source_digest(REPO)
    with (copy / "domain" / "streams.py").open("a") as extra:
        extra.write("\n# an edit\n")
    assert source_digest(copy) != source_digest(REPO)


def test_the_digest_follows_the_projector_script(tmp_path: Path) -> None:
    copy = copy_sources(tmp_path)
    with (copy / "projections" / "apply.lua").open("a") as extra:
        extra.write("\n-- an edit\n")
    assert source_digest(copy) != source_digest(REPO)


def test_the_cache_root_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    assert engine_build.build_dir() == tmp_path / source_digest()
    assert engine_build.current() is None
    (tmp_path / source_digest()).mkdir()
    assert engine_build.current() == tmp_path / source_digest()


def test_a_failed_build_reports_and_leaves_nothing_behind(tmp_path: Path) -> None:
    built, note = build(tmp_path, python=shutil.which("false") or "/bin/false")
    assert built is None
    assert "mypyc build failed" in note
    assert list(tmp_path.iterdir()) == []


def test_an_unusable_python_is_a_failed_build_not_an_exception(tmp_path: Path) -> None:
    built, note = build(tmp_path, python=str(tmp_path / "no-such-python"))
    assert built is None
    assert "FileNotFoundError" in note


# -- exchange up -----------------------------------------------------------------------------------


@pytest.fixture
def printed(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What ``cli.stack`` prints."""
    out = io.StringIO()
    monkeypatch.setattr(stack, "console", Console(file=out, width=200))
    return out


def test_up_reuses_a_build_without_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, printed: io.StringIO
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    (tmp_path / source_digest()).mkdir()
    monkeypatch.setattr(engine_build, "build", lambda: pytest.fail("rebuilt an existing build"))
    steps: list[str] = []
    assert stack.ensure_engine_build(steps.append) == tmp_path / source_digest()
    assert steps == []
    assert f"mypyc build {source_digest()}" in printed.getvalue()


def test_up_builds_a_missing_build_with_a_status_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, printed: io.StringIO
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    target = tmp_path / source_digest()
    monkeypatch.setattr(engine_build, "build", lambda: (target, "compiled"))
    steps: list[str] = []
    assert stack.ensure_engine_build(steps.append) == target
    assert len(steps) == 1 and "building the compiled engine" in steps[0]


@pytest.mark.parametrize("failure", ["returns", "raises"])
def test_up_never_fails_because_of_the_build(
    failure: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, printed: io.StringIO
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))

    def broken() -> tuple[Path | None, str]:
        if failure == "raises":
            raise RuntimeError("[disk] full")
        return None, "mypyc build failed: no [cc]"

    monkeypatch.setattr(engine_build, "build", broken)
    assert stack.ensure_engine_build(lambda _: None) is None
    assert "pure Python: compiled build failed" in printed.getvalue()
    assert ("[disk] full" if failure == "raises" else "no [cc]") in printed.getvalue()


# -- the worker's loader ---------------------------------------------------------------------------


def test_the_worker_loads_the_compiled_build_when_it_exists() -> None:
    pytest.importorskip("mypyc")
    built, note = build(engine_build.cache_root())  # reused when the rulebook test built it
    assert built is not None, note
    (chosen, engine, plain), log = run_worker(engine_build.cache_root())
    assert chosen == str(built)
    assert engine.startswith(str(built)) and not engine.endswith(".py"), engine
    assert plain == str(built / "domain" / "streams.py")  # not compiled, but from the same copy
    assert "using the compiled (mypyc) engine" in log


PROJECTOR = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
from cli.engine_build import PROJECTOR_MODULE_NAMES
from workers.compiled import use_compiled_engine
print(use_compiled_engine(logging.getLogger("projector"), modules=PROJECTOR_MODULE_NAMES))
import projections.orders, projections.writer
print(projections.orders.__file__)
print(projections.writer.__file__)
"""


def test_the_projector_loads_the_compiled_folds() -> None:
    pytest.importorskip("mypyc")
    built, note = build(engine_build.cache_root())
    assert built is not None, note
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", PROJECTOR], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    chosen, orders, writer = done.stdout.split()
    assert chosen == str(built)
    assert orders.startswith(str(built)) and not orders.endswith(".py"), orders
    assert writer == str(built / "projections" / "writer.py")  # interpreted, from the same copy


def test_the_worker_falls_back_when_nothing_is_built(tmp_path: Path) -> None:
    (chosen, engine, _), log = run_worker(tmp_path)
    assert chosen == "None"
    assert engine == str(REPO / "domain" / "matching" / "engine.py")
    assert f"WARNING {NOT_BUILT}" in log


def test_the_worker_falls_back_when_the_build_is_stale(tmp_path: Path) -> None:
    copy_sources(tmp_path / "0123456789abcdef")  # an older digest: never used for these sources
    (chosen, engine, _), log = run_worker(tmp_path)
    assert chosen == "None"
    assert engine == str(REPO / "domain" / "matching" / "engine.py")
    assert NOT_BUILT in log


def test_a_build_that_does_not_load_compiled_is_undone(tmp_path: Path) -> None:
    copy_sources(tmp_path / source_digest())  # right name, but only .py files inside
    (chosen, engine, plain), log = run_worker(tmp_path)
    assert chosen == "None"
    assert engine == str(REPO / "domain" / "matching" / "engine.py")
    assert plain == str(REPO / "domain" / "streams.py")  # no module left from the bad build
    assert "does not load" in log


def test_a_process_that_already_imported_domain_does_not_switch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import domain.matching.engine

    (tmp_path / source_digest()).mkdir()
    path_before = list(sys.path)
    with caplog.at_level(logging.WARNING):
        assert use_compiled_engine(logging.getLogger("worker"), tmp_path) is None
    assert sys.path == path_before
    assert sys.modules["domain.matching.engine"] is domain.matching.engine
    assert "domain was imported before use_compiled_engine()" in caplog.text
