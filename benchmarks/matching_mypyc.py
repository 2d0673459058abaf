"""Build the mypyc-compiled engine (kept for habit; the build lives in ``cli/engine_build.py``).

    .venv/bin/python benchmarks/matching_mypyc.py      # prints the directory of the build

Same as ``exchange build-engine``: see ``cli/engine_build.py`` for the cache layout.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.engine_build import main

if __name__ == "__main__":
    main()
