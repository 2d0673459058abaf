"""The key ranges of a many-stream tail read: the streams read from one version share one list
(MariaDB's range optimizer pays per disjunct, and a batch of cancels reads its orders from 1)."""

from __future__ import annotations

from event_store.sql import grouped_ranges, id_list


def test_streams_read_from_one_version_share_one_id_list() -> None:
    ranges, params = grouped_ranges({"order-1": 1, "account-7": 40, "order-2": 1})

    assert ranges == (
        "(stream_id IN ('order-1','order-2') AND stream_version >= 1)"
        " OR (stream_id IN ('account-7') AND stream_version >= 40)"
    )
    assert params is None


def test_ids_that_cannot_be_written_in_go_as_parameters() -> None:
    ranges, params = grouped_ranges({"o'1": 1, "o-2": 1, "a-3": 2})

    assert ranges == (
        "(stream_id IN (%s,%s) AND stream_version >= 1)"
        " OR (stream_id IN (%s) AND stream_version >= 2)"
    )
    assert params == ("o'1", "o-2", "a-3")
    assert id_list(["a-1", "b%"]) == ("%s,%s", ("a-1", "b%"))
    assert id_list(["a-1", "b-2"]) == ("'a-1','b-2'", ())
