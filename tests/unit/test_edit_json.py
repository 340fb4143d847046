"""pmpoolctl.edit/v1: what an edit changed, as JSON, streamed from the arrays it was computed in."""

from __future__ import annotations

import json
from array import array

import pytest

from pmpoolctl.output.edit import EDIT_SCHEMA, edit_json
from pmpoolctl.output.jsonwriter import Records, json_text, write_json
from pmpoolctl.pool.change import Change
from pmpoolctl.ranges.rangearray import RangeArray

PAGE = 4096


def ranges(*pairs: tuple[int, int]) -> RangeArray:
    return RangeArray(array("Q", [b for b, _ in pairs]), array("Q", [s for _, s in pairs]))


def test_an_add_lists_what_goes_and_comes_with_totals() -> None:
    before = ranges((0x100000000, 0x200000), (0x140000000, 0x40000000))
    after = ranges((0x100000000, 0x200000), (0x140000000, 0x44000000))
    document = json.loads(
        json_text(
            edit_json(
                "pool.dtb", "/default_pmpool", Change.of(before, after, listed=True), PAGE, dry_run=True, written=False
            )
        )
    )
    assert document == {
        "schema": EDIT_SCHEMA,
        "file": "pool.dtb",
        "pool": "/default_pmpool",
        "changed": True,
        "dry_run": True,
        "written": False,
        "page_size": PAGE,
        "before": {"ranges": 2, "total_bytes": 0x40200000, "total_pages": 0x40200000 // PAGE, "stored_ranges": 2},
        "after": {"ranges": 2, "total_bytes": 0x44200000, "total_pages": 0x44200000 // PAGE, "stored_ranges": 2},
        "removed": [{"base": 0x140000000, "size": 0x40000000, "end": 0x180000000}],
        "added": [{"base": 0x140000000, "size": 0x44000000, "end": 0x184000000}],
    }


def test_no_change_is_changed_false_with_empty_lists() -> None:
    same = ranges((0x1000, 0x1000))
    document = json.loads(
        json_text(edit_json("b", "/p", Change.of(same, same, listed=True), PAGE, dry_run=False, written=False))
    )
    assert document["changed"] is False
    assert document["added"] == [] and document["removed"] == []
    totals = {"ranges": 1, "total_bytes": 0x1000, "total_pages": 1, "stored_ranges": 1}
    assert document["before"] == document["after"] == totals


def test_a_change_that_does_not_list_its_ranges_is_refused() -> None:
    change = Change.of(RangeArray(), ranges((0x1000, 0x1000)), listed=False)
    with pytest.raises(ValueError, match="listed=True"):
        edit_json("b", "/p", change, PAGE, dry_run=False, written=True)


def test_the_range_lists_are_streamed_records_written_in_chunks() -> None:
    """A batch of many ranges is written as Records (one line per range, never a list of dicts)."""
    count = 20_000  # more than one JSON chunk (8192 rows)
    added = RangeArray(array("Q", range(0, count * 2 * PAGE, 2 * PAGE)), array("Q", [PAGE]) * count)
    document = edit_json("b", "/p", Change.of(RangeArray(), added, listed=True), PAGE, dry_run=False, written=True)
    assert isinstance(document["added"], Records) and document["added"].rows == count
    writes: list[bytes] = []
    write_json(writes.append, document)
    assert max(map(len, writes)) < 1 << 20  # chunks, not one string of the whole list
    parsed = json.loads(b"".join(writes))
    assert len(parsed["added"]) == count
    assert parsed["added"][-1] == {"base": (count - 1) * 2 * PAGE, "size": PAGE, "end": (count - 1) * 2 * PAGE + PAGE}
    assert parsed["after"] == {
        "ranges": count,
        "total_bytes": count * PAGE,
        "total_pages": count,
        "stored_ranges": count,
    }


def test_a_pool_that_comes_is_a_change_even_when_empty() -> None:
    """create: there was no pool, now there is one, empty or not: `changed` whatever it holds."""
    for made in (RangeArray(), ranges((0x1000, 0x1000))):
        document = json.loads(json_text(edit_json("b", "/p", Change.created(made), PAGE, dry_run=False, written=True)))
        assert document["changed"] is True
        assert document["before"] == {"ranges": 0, "total_bytes": 0, "total_pages": 0, "stored_ranges": 0}
        assert document["after"]["ranges"] == document["after"]["stored_ranges"] == len(made)


def test_before_and_after_are_canonical_and_stored_ranges_count_the_pairs() -> None:
    """A pool stored as 3 pairs (touching ones) holds 1 canonical range: `ranges` says 1, `stored_ranges` 3."""
    before = ranges((0x1000, 0x3000))
    after = ranges((0x1000, 0x3000), (0x10000, 0x1000))
    document = json.loads(
        json_text(
            edit_json("b", "/p", Change.of(before, after, listed=True, stored=3), PAGE, dry_run=True, written=False)
        )
    )
    assert (document["before"]["ranges"], document["before"]["stored_ranges"]) == (1, 3)
    assert (document["after"]["ranges"], document["after"]["stored_ranges"]) == (2, 2)
    assert document["removed"] == [] and document["added"] == [{"base": 0x10000, "size": 0x1000, "end": 0x11000}]
