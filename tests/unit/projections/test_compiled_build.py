"""The mypyc build of the projector's folds (and of the simulated exchange the fold tests
drive) passes the same tests as the pure-Python reference."""

from __future__ import annotations

from pathlib import Path

from cli.engine_build import PROJECTION_MODULE_NAMES, REPO
from tests.unit.compiled_suite import passes_against_build


def test_the_mypyc_build_passes_the_projection_tests(tmp_path: Path) -> None:
    tests = REPO / "tests" / "unit" / "projections"
    assert passes_against_build(tmp_path, PROJECTION_MODULE_NAMES, tests, __file__) > 20
