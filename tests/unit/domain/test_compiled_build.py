"""The mypyc build of the engine passes the same rulebook as the pure-Python reference."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli.engine_build import COMPILED_MODULE_NAMES, REPO, build

PROBE = """
import importlib

MODULES = {modules!r}

def test_the_compiled_modules_are_the_ones_under_test():
    for name in MODULES:
        module = importlib.import_module(name)
        assert not module.__file__.endswith(".py"), module.__file__
"""


def test_the_mypyc_build_passes_the_domain_rulebook(tmp_path: Path) -> None:
    pytest.importorskip("mypyc")
    compiled, message = build()
    assert compiled is not None, message
    (tmp_path / "test_probe.py").write_text(PROBE.format(modules=COMPILED_MODULE_NAMES))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(compiled), str(REPO)]))
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "--import-mode=append", "--rootdir", str(REPO),
            str(tmp_path / "test_probe.py"), str(REPO / "tests" / "unit" / "domain"),
            "--deselect", f"{Path(__file__).relative_to(REPO)}",
        ],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed is not None and int(passed.group(1)) > 150, done.stdout[-500:]
