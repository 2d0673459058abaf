"""The Kafka broker runs without the C2 compiler, natively and in compose.yaml: measured, C2 was
~45 % of the broker's CPU through a 100k-order pipeline run on a fresh JVM (Kafka 99 -> 58 µs per
order C1-only)."""

from __future__ import annotations

from cli.configs import KAFKA_JVM_OPTIONS, kafka_command
from cli.profiles import PROFILES
from tests.unit.compose import load_compose


def test_the_broker_stops_at_the_c1_tier_with_a_fixed_heap() -> None:
    command = kafka_command(PROFILES["test"]).split()

    assert "-XX:TieredStopAtLevel=1" in command
    assert {"-Xms1g", "-Xmx1g"} <= set(command)
    assert command.index("-XX:TieredStopAtLevel=1") < command.index("kafka.Kafka")


def test_compose_gives_its_broker_the_same_jvm_options() -> None:
    environment = load_compose()["services"]["kafka"]["environment"]

    assert environment["KAFKA_JVM_PERFORMANCE_OPTS"].split() == list(KAFKA_JVM_OPTIONS)
    assert "-XX:TieredStopAtLevel=1" in KAFKA_JVM_OPTIONS
