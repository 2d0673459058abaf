"""compose.yaml cannot run here (no Docker engine), so it is kept honest by parsing it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cli.profiles import ROOT
from common.settings import (
    CommandApiSettings,
    InfraSettings,
    MatchingSettings,
    ProjectorSettings,
    QueryApiSettings,
    RelaySettings,
    SchedulerSettings,
    SettlementSettings,
)
from tests.unit.compose import load_compose

COMPOSE = load_compose()
SERVICES: dict[str, Any] = COMPOSE["services"]
PYTHON_SERVICES = (
    "init",
    "command_api",
    "query_api",
    "relay",
    "matching",
    "settlement",
    "scheduler",
    "projector",
)


def _env_names(model: type[InfraSettings]) -> set[str]:
    return {f"EXCHANGE_{name.upper()}" for name in model.model_fields}


def test_every_exchange_variable_in_compose_is_a_real_setting() -> None:
    known = _env_names(CommandApiSettings) | _env_names(QueryApiSettings)
    known |= _env_names(RelaySettings) | _env_names(MatchingSettings)
    known |= _env_names(SettlementSettings) | _env_names(SchedulerSettings)
    known |= _env_names(ProjectorSettings)
    for name in PYTHON_SERVICES:
        env = SERVICES[name]["environment"]
        unknown = {k for k in env if k.startswith("EXCHANGE_")} - known
        assert not unknown, f"{name} sets variables no settings class reads: {unknown}"


def test_python_services_point_at_the_compose_infrastructure() -> None:
    for name in PYTHON_SERVICES:
        env = SERVICES[name]["environment"]
        assert "@mariadb:3306/" in env["EXCHANGE_DATABASE_URL"]
        assert env["EXCHANGE_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["EXCHANGE_REDIS_URL"].startswith("redis://redis:6379")


def test_api_ports_match_the_api_contract() -> None:
    assert SERVICES["command_api"]["environment"]["EXCHANGE_PORT"] == "8001"
    assert SERVICES["query_api"]["environment"]["EXCHANGE_PORT"] == "8002"
    # (the APIs' own ports, with /metrics, are published on the host's loopback only)
    assert SERVICES["command_api"]["ports"] == ["127.0.0.1:8001:8001"]
    assert SERVICES["query_api"]["ports"] == ["127.0.0.1:8002:8002"]
    assert SERVICES["nginx"]["ports"] == ["8000:8000"]
    assert CommandApiSettings().port == 8001
    assert QueryApiSettings(_env_file=None).port == 8002


def test_every_service_waits_for_what_it_needs_to_be_healthy() -> None:
    init_deps = SERVICES["init"]["depends_on"]
    assert {d: c["condition"] for d, c in init_deps.items()} == {
        "mariadb": "service_healthy",
        "kafka": "service_healthy",
        "redis": "service_healthy",
    }
    for name in PYTHON_SERVICES[1:]:
        assert SERVICES[name]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    for name in ("mariadb", "redis", "kafka", "command_api", "query_api"):
        assert "healthcheck" in SERVICES[name], name


def test_kafka_runs_in_kraft_mode_without_zookeeper() -> None:
    kafka = SERVICES["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "zookeeper" not in SERVICES


def test_python_modules_named_by_compose_exist() -> None:
    for name in PYTHON_SERVICES[1:]:
        module = SERVICES[name]["command"][-1]
        path = ROOT / Path(*module.split("."))
        assert path.with_suffix(".py").exists() or (path / "__main__.py").exists(), module
