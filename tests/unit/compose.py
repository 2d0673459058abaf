"""compose.yaml as the unit tests read it (no Docker engine here: it is kept honest by parsing)."""

from __future__ import annotations

from typing import Any

import yaml

from cli.profiles import ROOT


def load_compose() -> dict[str, Any]:
    """compose.yaml parsed, a fresh copy each call (a test may change its copy)."""
    compose: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return compose
