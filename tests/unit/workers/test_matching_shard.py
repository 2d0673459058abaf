"""A shard's snapshot is the engine's canonical snapshot, as data for the snapshots table."""

from __future__ import annotations

import json

from domain import MatchingEngine
from tests.unit.domain.builders import cancel, engine, limit, market
from workers.matching.shard import Shard


def test_a_shard_snapshot_holds_the_engines_snapshot_and_restores_it() -> None:
    eng = engine()
    eng.process_many(  # type: ignore[arg-type]
        [
            limit(1, 11, "sell", 101, 5),
            limit(2, 13, "sell", 102, 3, "DAY", expires_at=1_000),
            limit(3, 10, "buy", 99, 6),
            market(4, 12, "buy", 2),
            cancel(3, 10),
            limit(5, 14, "buy", 98, 1, post_only=True),
        ]
    )
    shard = Shard(0, eng, version=7, position=42, kafka_offset=9)

    snapshot = shard.snapshot()

    stored = json.loads(json.dumps(snapshot.state))
    assert stored["engine"] == json.loads(eng.snapshot())
    restored = MatchingEngine.restore(json.dumps(stored["engine"]).encode())
    assert restored.state_hash() == eng.state_hash()
    assert (snapshot.version, stored["position"], stored["kafka_offset"]) == (7, 42, 9)
