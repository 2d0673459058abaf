"""Run a directory of unit tests against the mypyc build (``cli/engine_build.py``) in a fresh
interpreter, after a probe that the compiled modules under test are the ones loaded."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli.engine_build import REPO, build

PROBE = """
import importlib

MODULES = {modules!r}

def test_the_compiled_modules_are_the_ones_under_test():
    for name in MODULES:
        module = importlib.import_module(name)
        assert not module.__file__.endswith(".py"), module.__file__
"""


def passes_against_build(tmp_path: Path, modules: list[str], tests: Path, caller: str) -> int:
    """Run ``tests`` (and the probe of ``modules``) with the build first on the path, the
    calling test file (``caller``) deselected; the number of tests passed (asserts success)."""
    pytest.importorskip("mypyc")
    compiled, message = build()
    assert compiled is not None, message
    (tmp_path / "test_probe.py").write_text(PROBE.format(modules=modules))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(compiled), str(REPO)]))
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "--import-mode=append", "--rootdir", str(REPO),
            str(tmp_path / "test_probe.py"), str(tests),
            "--deselect", f"{Path(caller).relative_to(REPO)}",
        ],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed is not None, done.stdout[-500:]
    return int(passed.group(1))
