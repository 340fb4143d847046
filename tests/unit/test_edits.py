"""Edit planning: plan_add, plan_remove and editable_ranges, with a page-set model."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmpoolctl.errors import EditError, InputError
from pmpoolctl.numbers import U64_LIMIT
from pmpoolctl.pool.binding import decode_pool, encode_u64_pairs
from pmpoolctl.pool.edits import editable_ranges, plan_add, plan_remove
from pmpoolctl.ranges.rangearray import RangeArray
from pmpoolctl.ranges.rangeset import Range, RangeSet

PROPERTY = settings(max_examples=200, deadline=None)

PAGE = 4096
TOP = U64_LIMIT
COMPATIBLE = ("compatible", b"pmpool-v1\0")


def pages(*spans: tuple[int, int]) -> list[Range]:
    """Ranges given as (first page, page count)."""
    return [Range(first * PAGE, count * PAGE) for first, count in spans]


def pool_of(*spans: tuple[int, int]) -> RangeArray:
    return canonical(pages(*spans))


def canonical(ranges: list[Range]) -> RangeArray:
    """A pool's ranges as plan_add and plan_remove take them: canonical, in arrays."""
    return RangeArray.from_ranges(RangeSet(ranges))


def error_message(exc: pytest.ExceptionInfo[EditError]) -> str:
    return str(exc.value)


# --- plan_add -------------------------------------------------------------------------------------------------------


def test_add_to_an_empty_pool() -> None:
    result = plan_add(RangeArray(), pages((16, 4), (1, 2)), PAGE, merge=False)
    assert list(result) == pages((1, 2), (16, 4))


def test_adding_a_touching_range_merges() -> None:
    assert list(plan_add(pool_of((1, 1)), pages((2, 1)), PAGE, merge=False)) == pages((1, 2))
    assert list(plan_add(pool_of((2, 1)), pages((1, 1)), PAGE, merge=False)) == pages((1, 2))
    # Filling a gap exactly joins both neighbours into one range.
    assert list(plan_add(pool_of((1, 1), (3, 1)), pages((2, 1)), PAGE, merge=False)) == pages((1, 3))


def test_added_ranges_touching_each_other_merge() -> None:
    result = plan_add(pool_of((10, 1)), pages((2, 1), (1, 1), (3, 2)), PAGE, merge=False)
    assert list(result) == pages((1, 4), (10, 1))


def test_overlap_with_the_pool_is_refused_naming_both_ranges() -> None:
    current = canonical([Range(0x10000, 0x4000)])
    with pytest.raises(EditError) as info:
        plan_add(current, [Range(0x12000, 0x4000)], PAGE, merge=False)
    message = error_message(info)
    assert "[0x12000, 0x16000)" in message
    assert "[0x10000, 0x14000)" in message
    assert "--merge" in message


@pytest.mark.parametrize(
    ("added", "clash"),
    [
        (Range(0, 0x8000), "[0x1000, 0x2000)"),  # before every pool range, spanning them all
        (Range(0x3000, 0x4000), "[0x5000, 0x6000)"),  # starts in a gap, runs into the next range
        (Range(0x5000, 0x1000), "[0x5000, 0x6000)"),  # the same range again
        (Range(0x9000, 0x1000), "[0x8000, 0xc000)"),  # inside the last range
        (Range(0xB000, 0x2000), "[0x8000, 0xc000)"),  # over the end of the last range
    ],
)
def test_overlap_names_the_pool_range_it_hits(added: Range, clash: str) -> None:
    current = canonical([Range(0x1000, 0x1000), Range(0x5000, 0x1000), Range(0x8000, 0x4000)])
    with pytest.raises(EditError) as info:
        plan_add(current, [added], PAGE, merge=False)
    assert str(added) in error_message(info)
    assert clash in error_message(info)


def test_overlap_is_allowed_with_merge() -> None:
    current = canonical([Range(0x10000, 0x4000)])
    result = plan_add(current, [Range(0x12000, 0x4000)], PAGE, merge=True)
    assert list(result) == [Range(0x10000, 0x6000)]


def test_overlap_within_the_added_batch_is_refused() -> None:
    with pytest.raises(EditError) as info:
        plan_add(RangeArray(), [Range(0x4000, 0x1000), Range(0x1000, 0x4000)], PAGE, merge=False)
    assert "[0x1000, 0x5000)" in error_message(info)
    assert "[0x4000, 0x5000)" in error_message(info)


def test_a_range_added_twice_in_one_batch_is_refused() -> None:
    with pytest.raises(EditError, match=re.escape("[0x1000, 0x2000)")):
        plan_add(RangeArray(), [Range(0x1000, 0x1000), Range(0x1000, 0x1000)], PAGE, merge=False)


def test_overlap_far_apart_in_the_batch_is_refused() -> None:
    batch = [Range(0, 0x10000), Range(0x20000, 0x1000), Range(0x8000, 0x1000)]
    with pytest.raises(EditError):
        plan_add(RangeArray(), batch, PAGE, merge=False)
    assert list(plan_add(RangeArray(), batch, PAGE, merge=True)) == [Range(0, 0x10000), Range(0x20000, 0x1000)]


@pytest.mark.parametrize("plan", ["add", "add-merge", "remove", "remove-ignore-missing"])
@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        pytest.param(Range(0x1000, 0), "size 0", id="zero-size"),
        pytest.param(Range(0x1800, 0x1000), "aligned", id="base-misaligned"),
        pytest.param(Range(0x1000, 0x1800), "aligned", id="size-misaligned"),
        pytest.param(Range(TOP - 0x1000, 0x2000), "2^64", id="past-2^64"),
        pytest.param(Range(TOP, 0x1000), "2^64", id="starting-at-2^64"),
    ],
)
def test_invalid_requested_ranges_are_refused(plan: str, bad: Range, needle: str) -> None:
    current = canonical([Range(0, 0x10000), Range(TOP - 0x10000, 0x10000)])
    requested = [Range(0x20000, 0x1000), bad]
    with pytest.raises(EditError, match=re.escape(needle)) as info:
        if plan.startswith("add"):
            plan_add(current, requested, PAGE, merge=plan == "add-merge")
        else:
            plan_remove(current, requested, PAGE, ignore_missing=plan == "remove-ignore-missing")
    assert f"{bad.base:#x}" in error_message(info)


def test_alignment_is_to_the_pool_page_size() -> None:
    huge = 0x200000
    with pytest.raises(EditError, match="0x200000"):
        plan_add(RangeArray(), [Range(huge, 0x1000)], huge, merge=False)
    assert list(plan_add(RangeArray(), [Range(huge, huge)], huge, merge=False)) == [Range(huge, huge)]


def test_a_range_may_end_exactly_at_2_64() -> None:
    current = canonical([Range(TOP - 0x4000, 0x1000)])
    result = plan_add(current, [Range(TOP - 0x3000, 0x3000)], PAGE, merge=False)
    assert list(result) == [Range(TOP - 0x4000, 0x4000)]
    assert list(plan_remove(result, [Range(TOP - 0x1000, 0x1000)], PAGE, ignore_missing=False)) == [
        Range(TOP - 0x4000, 0x3000)
    ]


def test_edits_do_not_change_the_current_set() -> None:
    current = pool_of((1, 4))
    plan_add(current, pages((8, 1)), PAGE, merge=False)
    plan_remove(current, pages((2, 1)), PAGE, ignore_missing=False)
    assert current == pool_of((1, 4))


# --- plan_remove ----------------------------------------------------------------------------------------------------


def test_removing_the_middle_splits_a_range() -> None:
    current = canonical([Range(0x10000, 0x10000)])
    result = plan_remove(current, [Range(0x14000, 0x1000)], PAGE, ignore_missing=False)
    assert list(result) == [Range(0x10000, 0x4000), Range(0x15000, 0xB000)]


def test_removing_ends_and_whole_ranges() -> None:
    current = pool_of((1, 4), (10, 2), (20, 4))
    result = plan_remove(current, pages((1, 1), (10, 2), (23, 1)), PAGE, ignore_missing=False)
    assert list(result) == pages((2, 3), (20, 3))
    assert not plan_remove(current, pages((1, 4), (10, 2), (20, 4)), PAGE, ignore_missing=False)


def test_removing_missing_pages_is_refused_naming_the_missing_part() -> None:
    current = canonical([Range(0x10000, 0x4000)])
    with pytest.raises(EditError) as info:
        plan_remove(current, [Range(0x12000, 0x4000)], PAGE, ignore_missing=False)
    message = error_message(info)
    assert "[0x12000, 0x16000)" in message  # the requested range
    assert "[0x14000, 0x16000)" in message  # the part that is not in the pool
    assert "--ignore-missing" in message


def test_missing_part_of_a_later_requested_range_is_named() -> None:
    current = pool_of((1, 4), (10, 4))
    with pytest.raises(EditError) as info:
        plan_remove(current, pages((2, 1), (12, 4)), PAGE, ignore_missing=False)
    assert str(pages((12, 4))[0]) in error_message(info)
    assert str(pages((14, 2))[0]) in error_message(info)


def test_removing_a_gap_between_ranges_is_refused() -> None:
    with pytest.raises(EditError, match=re.escape(str(pages((5, 5))[0]))):
        plan_remove(pool_of((1, 4), (10, 4)), pages((2, 10)), PAGE, ignore_missing=False)


def test_removing_missing_pages_with_ignore_missing() -> None:
    current = canonical([Range(0x10000, 0x4000)])
    result = plan_remove(current, [Range(0x12000, 0x4000)], PAGE, ignore_missing=True)
    assert list(result) == [Range(0x10000, 0x2000)]
    assert plan_remove(current, [Range(0x40000, 0x1000)], PAGE, ignore_missing=True) == current


def test_edit_errors_are_input_errors() -> None:
    # The CLI maps InputError to exit 3, which cli.md gives to an edit that cannot be applied.
    assert issubclass(EditError, InputError)


# --- properties on the page model -----------------------------------------------------------------------------------


@st.composite
def page_spans(draw: st.DrawFn, max_count: int = 8) -> list[tuple[int, int]]:
    count = draw(st.integers(0, max_count))
    return [(draw(st.integers(0, 60)), draw(st.integers(1, 8))) for _ in range(count)]


SHIFTS = st.sampled_from([0, 1 << 40, TOP // PAGE - 68])  # in pages; the last puts the model flush with 2^64


def model(spans: list[tuple[int, int]], shift: int) -> set[int]:
    return {shift + p for first, count in spans for p in range(first, first + count)}


def as_ranges(spans: list[tuple[int, int]], shift: int) -> list[Range]:
    return [Range((shift + first) * PAGE, count * PAGE) for first, count in spans]


def page_set(rs: Iterable[Range]) -> set[int]:
    return {a // PAGE for r in rs for a in range(r.base, r.end, PAGE)}


@PROPERTY
@given(page_spans(), page_spans(), SHIFTS)
def test_add_with_merge_is_set_union(current: list[tuple[int, int]], added: list[tuple[int, int]], shift: int) -> None:
    result = plan_add(canonical(as_ranges(current, shift)), as_ranges(added, shift), PAGE, merge=True)
    assert page_set(result) == model(current, shift) | model(added, shift)
    assert list(result) == RangeSet(as_ranges(current, shift) + as_ranges(added, shift)).ranges()


@PROPERTY
@given(page_spans(), page_spans(), SHIFTS)
def test_add_without_merge_refuses_exactly_overlaps(
    current: list[tuple[int, int]], added: list[tuple[int, int]], shift: int
) -> None:
    pool = model(current, shift)
    batch = model(added, shift)
    batch_overlaps_itself = len(batch) != sum(count for _, count in added)
    should_refuse = batch_overlaps_itself or bool(batch & pool)
    try:
        result = plan_add(canonical(as_ranges(current, shift)), as_ranges(added, shift), PAGE, merge=False)
    except EditError:
        assert should_refuse
    else:
        assert not should_refuse
        assert page_set(result) == pool | batch


@PROPERTY
@given(page_spans(), page_spans(), SHIFTS)
def test_remove_with_ignore_missing_is_set_difference(
    current: list[tuple[int, int]], removed: list[tuple[int, int]], shift: int
) -> None:
    result = plan_remove(canonical(as_ranges(current, shift)), as_ranges(removed, shift), PAGE, ignore_missing=True)
    assert page_set(result) == model(current, shift) - model(removed, shift)


@PROPERTY
@given(page_spans(), page_spans(), SHIFTS)
def test_remove_refuses_exactly_missing_pages(
    current: list[tuple[int, int]], removed: list[tuple[int, int]], shift: int
) -> None:
    pool = model(current, shift)
    cut = model(removed, shift)
    try:
        result = plan_remove(
            canonical(as_ranges(current, shift)), as_ranges(removed, shift), PAGE, ignore_missing=False
        )
    except EditError as exc:
        missing = sorted(cut - pool)
        assert missing
        first_missing = Range(missing[0] * PAGE, PAGE)
        assert f"[{first_missing.base:#x}, " in str(exc)
    else:
        assert cut <= pool
        assert page_set(result) == pool - cut


# --- editable_ranges ------------------------------------------------------------------------------------------------


def pool_with(ranges: list[Range], *extra: tuple[str, bytes]) -> list[tuple[str, bytes]]:
    return [COMPATIBLE, *extra, ("page-ranges", encode_u64_pairs(ranges))]


@pytest.mark.parametrize(
    ("properties", "rule"),
    [
        pytest.param([("compatible", b"pmpool-v2\0"), ("page-ranges", b"")], "binding-invalid", id="compatible"),
        pytest.param([COMPATIBLE], "binding-invalid", id="missing-page-ranges"),
        pytest.param([COMPATIBLE, ("page-ranges", bytes(24))], "binding-invalid", id="page-ranges-length"),
        pytest.param(pool_with([], ("page-size", b"\0\0\x30\0")), "binding-invalid", id="page-size"),
        pytest.param(pool_with([Range(0x1000, 0)]), "range-empty", id="empty"),
        pytest.param(pool_with([Range(0x1800, 0x1000)]), "range-unaligned", id="unaligned"),
        pytest.param(pool_with([Range(TOP - 0x1000, 0x2000)]), "range-overflow", id="overflow"),
        pytest.param(pool_with([Range(0x3000, 0x1000), Range(0x1000, 0x1000)]), "ranges-unsorted", id="unsorted"),
        pytest.param(pool_with([Range(0x1000, 0x2000), Range(0x2000, 0x1000)]), "range-overlap", id="overlap"),
    ],
)
def test_editable_ranges_refuses_a_pool_with_errors(properties: list[tuple[str, bytes]], rule: str) -> None:
    pool = decode_pool("default_pmpool", properties)
    with pytest.raises(EditError) as info:
        editable_ranges(pool)
    assert rule in error_message(info)
    assert "/default_pmpool" in error_message(info)


def test_editable_ranges_accepts_a_pool_that_is_only_not_coalesced() -> None:
    pool = decode_pool("default_pmpool", pool_with([Range(0x1000, 0x1000), Range(0x2000, 0x1000)]))
    assert [p.rule for p in pool.problems] == ["ranges-not-coalesced"]
    assert list(editable_ranges(pool)) == [Range(0x1000, 0x2000)]


def test_editable_ranges_of_a_canonical_pool() -> None:
    ranges = [Range(0x100000000, 0x200000), Range(0x140000000, 0x40000000)]
    pool = decode_pool("default_pmpool", pool_with(ranges, ("page-size", (4096).to_bytes(4, "big"))))
    assert list(editable_ranges(pool)) == ranges
    assert not editable_ranges(decode_pool("default_pmpool", pool_with([])))


# --- all 2^64 addresses --------------------------------------------------------------------------------------------
CELL = TOP // 16  # the address space as 16 cells of 2^60 bytes (page-aligned)


def cell_ranges(cells: Iterable[int]) -> list[Range]:
    """Cells as their maximal runs; a run of all 16 (size 2^64) cannot be a range, so it is split in two."""
    runs: list[Range] = []
    for cell in sorted(set(cells)):
        if runs and runs[-1].end == cell * CELL and runs[-1].size < TOP // 2:
            runs[-1] = Range(runs[-1].base, runs[-1].size + CELL)
        else:
            runs.append(Range(cell * CELL, CELL))
    return runs


cell_sets16 = st.frozensets(st.integers(0, 15), max_size=16)


@PROPERTY
@given(cell_sets16, cell_sets16, st.booleans())
def test_an_add_that_would_hold_all_2_64_is_refused_naming_it(
    pool: frozenset[int], added: frozenset[int], merge: bool
) -> None:
    if len(pool) == 16:
        return  # no canonical pool holds all of it (editable_ranges refuses one, below)
    current = canonical(cell_ranges(pool))
    overlaps = bool(pool & added) and not merge
    try:
        result = plan_add(current, cell_ranges(added), PAGE, merge=merge)
    except EditError as exc:
        assert overlaps or len(pool | added) == 16
        if not overlaps:
            assert "all 2^64 addresses, [0x0, 0x10000000000000000)" in str(exc)
    else:
        assert not overlaps and len(pool | added) < 16
        assert page_set_of_cells(result) == pool | added


@PROPERTY
@given(cell_sets16, cell_sets16)
def test_removing_ranges_that_cover_all_2_64(pool: frozenset[int], removed: frozenset[int]) -> None:
    """A batch that merges into every address takes the whole pool, or is refused naming what is missing."""
    if len(pool) == 16:
        return
    current = canonical(cell_ranges(pool))
    assert page_set_of_cells(plan_remove(current, cell_ranges(removed), PAGE, ignore_missing=True)) == pool - removed
    try:
        plan_remove(current, cell_ranges(removed), PAGE, ignore_missing=False)
    except EditError:
        assert removed - pool
    else:
        assert not removed - pool


def page_set_of_cells(ranges: Iterable[Range]) -> frozenset[int]:
    return frozenset(c for r in ranges for c in range(r.base // CELL, r.end // CELL))


def test_editable_ranges_refuses_a_pool_of_all_2_64_addresses_naming_the_range() -> None:
    pool = decode_pool("default_pmpool", pool_with([Range(0, TOP // 2), Range(TOP // 2, TOP // 2)]))
    with pytest.raises(EditError) as info:
        editable_ranges(pool)
    assert "[0x0, 0x10000000000000000)" in error_message(info) and "range-overflow" in error_message(info)
