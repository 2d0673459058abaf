"""Redis runs with the same settings natively and under compose (``cli/configs.py``)."""

from __future__ import annotations

from cli.configs import REDIS_AOF_REWRITE, REDIS_ENCODINGS, redis_command
from cli.profiles import PROFILES
from tests.unit.compose import load_compose


def _compose_redis_args() -> list[str]:
    return [str(arg) for arg in load_compose()["services"]["redis"]["command"]]


def test_zsets_and_hashes_past_32_members_are_not_listpacks_natively_and_under_compose() -> None:
    assert REDIS_ENCODINGS == ("--zset-max-listpack-entries 32", "--hash-max-listpack-entries 32")
    native = redis_command(PROFILES["test"]).split()
    compose = _compose_redis_args()
    for setting in (*REDIS_ENCODINGS, *REDIS_AOF_REWRITE):
        name, value = setting.split()
        assert native[native.index(name) + 1] == value
        assert compose[compose.index(name) + 1] == value
