"""The mypyc build of the engine passes the same rulebook as the pure-Python reference."""

from __future__ import annotations

from pathlib import Path

from cli.engine_build import ENGINE_MODULE_NAMES, REPO
from tests.unit.compiled_suite import passes_against_build


def test_the_mypyc_build_passes_the_domain_rulebook(tmp_path: Path) -> None:
    tests = REPO / "tests" / "unit" / "domain"
    assert passes_against_build(tmp_path, ENGINE_MODULE_NAMES, tests, __file__) > 150
