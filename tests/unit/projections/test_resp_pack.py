"""The projector's one-pass RESP packing equals the plain encoding of each argument."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projections.resp import encode, pack


@given(st.lists(st.binary(max_size=40) | st.text(max_size=20), max_size=50))
def test_a_packed_command_is_the_resp_encoding_of_its_arguments(args: list[bytes | str]) -> None:
    assert pack(args) == encode(tuple(args))


@given(st.lists(st.binary(min_size=4090, max_size=4100) | st.text(max_size=5), max_size=4))
def test_arguments_past_the_cached_headers_pack_the_same(args: list[bytes | str]) -> None:
    assert pack(args) == encode(tuple(args))
