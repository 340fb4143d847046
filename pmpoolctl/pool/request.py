"""The ranges an edit asks for, as u64 arrays: checked, put in order and merged at C speed.

A batch comes in the file's order, as a RangeArray. The usual one is fine and already
sorted and apart; C loops over the arrays (`map`, `compress`, bytes lanes) say so, and
it is used as it is. Another is sorted by index, never as a list of Range objects, and
merged by C loops too. A Python loop runs only to name the first offender of an error.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Sequence
from itertools import accumulate, compress, count, islice, repeat
from operator import add, gt, lt, sub

from pmpoolctl.check.shape import EMPTY, OVERFLOW, UNALIGNED, shape_faults
from pmpoolctl.errors import EditError
from pmpoolctl.numbers import U64_LIMIT
from pmpoolctl.ranges.everyaddress import EVERY_ADDRESS, Canonical
from pmpoolctl.ranges.rangearray import RangeArray, range_array_of
from pmpoolctl.ranges.rangeset import Range
from pmpoolctl.ranges.u64lanes import all_aligned, all_below_2_63, has_zero


def checked_request(requested: Sequence[Range], page_size: int, what: str) -> RangeArray:
    """`requested` as arrays, when no range is of size 0, past 2**64 or unaligned; else the first one is refused."""
    try:
        request = range_array_of(requested)
    except OverflowError:  # a value past 64 bits, in a caller's list (a batch cannot hold one)
        _refuse_first_bad(requested, page_size, what)
        raise
    if not _all_fine(request, page_size):
        _refuse_first_bad(request, page_size, what)
    return request


def _refuse_first_bad(requested: Iterable[Range], page_size: int, what: str) -> None:
    for r in requested:
        faults = set(shape_faults(r, page_size))
        if EMPTY in faults:
            raise EditError(f"{what} range at {r.base:#x} has size 0")
        if OVERFLOW in faults:
            raise EditError(f"{what} range at {r.base:#x} of size {r.size:#x} ends past 2^64")
        if UNALIGNED in faults:
            raise EditError(f"{what} range {r} is not aligned to the page size {page_size:#x}")


def _all_fine(request: RangeArray, page_size: int) -> bool:
    if page_size & (page_size - 1):  # a page size is a power of two; others take the loop
        return False
    bases, sizes = request.bases.tobytes(), request.sizes.tobytes()  # each copied once for its questions
    if has_zero(sizes) or not (all_aligned(bases, page_size) and all_aligned(sizes, page_size)):
        return False
    return (all_below_2_63(bases) and all_below_2_63(sizes)) or max(request.ends(), default=0) <= U64_LIMIT


def in_order(request: RangeArray) -> RangeArray:
    """The ranges sorted by (base, size), as `sorted` orders Range tuples: `request` itself if it is."""
    bases, sizes = request.bases, request.sizes
    if all(map(lt, bases, islice(bases, 1, None))):
        return request
    if sizes == array("Q", sizes[:1]) * len(sizes):  # one size for all (compared in C): only the bases move
        return RangeArray(array("Q", sorted(bases)), sizes)
    order = list(range(len(bases)))
    order.sort(key=sizes.__getitem__)  # sorted by size first, the (stable) sort by base keeps that for ties
    order.sort(key=bases.__getitem__)
    return RangeArray(array("Q", map(bases.__getitem__, order)), array("Q", map(sizes.__getitem__, order)))


def first_overlap(ordered: RangeArray) -> int | None:
    """The index of the first range (of ordered, non-empty ones) that the next one overlaps, or None."""
    return next(compress(count(), map(gt, ordered.ends(), islice(ordered.bases, 1, None))), None)


def merged(ordered: RangeArray) -> Canonical:
    """Ordered non-empty ranges with those that overlap or touch merged: canonical. Itself when it is.

    EVERY_ADDRESS when they merge into all 2**64 addresses, which no u64 size holds.
    """
    if ordered.is_apart():
        return ordered
    bases = ordered.bases
    # The last address reached by each range or one before it (end - 1: a u64, where an end may be 2**64).
    reach = array("Q", accumulate(map(sub, ordered.ends(), repeat(1)), max))
    # A merged range begins at the first range and at each that begins past the reach before it plus one.
    firsts = array("Q", [0])
    firsts.extend(compress(range(1, len(bases)), map(lt, map(add, reach, repeat(1)), islice(bases, 1, None))))
    if len(firsts) == 1 and bases[0] == 0 and reach[-1] == U64_LIMIT - 1:
        return EVERY_ADDRESS  # one merged range, of size 2**64
    lasts = array("Q", map(sub, islice(firsts, 1, None), repeat(1)))
    lasts.append(len(bases) - 1)
    merged_bases = array("Q", map(bases.__getitem__, firsts))
    ends = map(add, map(reach.__getitem__, lasts), repeat(1))
    return RangeArray(merged_bases, array("Q", map(sub, ends, merged_bases)))


def first_holding(ordered: RangeArray, address: int) -> Range:
    """The first of the ordered ranges that holds `address` (one does)."""
    begun = bisect.bisect_right(ordered.bases, address)  # ranges [0, begun) begin at or before it
    return ordered[next(compress(range(begun), map(gt, ordered.ends(), repeat(address))))]


def first_overlapping(pool: RangeArray, ordered: RangeArray) -> tuple[Range, Range] | None:
    """The first of the ordered, disjoint ranges that overlaps the canonical pool, and the pool range it hits.

    The smaller side is walked: a range of the pool finds the first range overlapping it by
    bisection, and the first pool range that finds one found the first of all (both are sorted).
    """
    if len(ordered) <= len(pool):
        hits = ((r, pool.overlapping(r)) for r in ordered)
    else:
        hits = ((hit, pool.overlapping(hit)) for hit in map(ordered.overlapping, pool) if hit is not None)
    for r, clash in hits:
        if clash is not None:
            return r, clash
    return None
