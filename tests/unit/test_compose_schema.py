"""compose.yaml is a file Docker Compose accepts: valid against the official Compose
Specification schema (tests/data/compose-spec, Draft 7), since no Docker engine runs here."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs

from cli.profiles import ROOT
from tests.unit.compose import load_compose

SCHEMA = json.loads((ROOT / "tests" / "data" / "compose-spec" / "compose-spec.json").read_text())


def _errors(document: Any) -> list[str]:
    return [str(error) for error in jsonschema_rs.validator_for(SCHEMA).iter_errors(document)]


def test_compose_yaml_is_valid_against_the_compose_specification() -> None:
    assert _errors(load_compose()) == []


def test_the_schema_refuses_what_compose_would_refuse() -> None:
    compose = load_compose()
    compose["services"]["kafka"]["restart_policy"] = "always"  # (not a service key)
    compose["services"]["redis"]["ports"] = {"6379": 6379}  # (a list, not a mapping)

    errors = _errors(compose)

    assert len(errors) == 2, errors
