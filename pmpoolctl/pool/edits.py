"""Planning pool edits: what the canonical ranges become after adding or removing pages.

Pure functions over u64 arrays; they raise EditError for an edit that cannot be
applied and never touch a file, so `--dry-run` and the real edit share them. A
request of ten million ranges is checked, ordered and merged by C loops (`request`)
and combined with the pool walking the smaller side (`arrayops`); whether it
overlaps the pool, or asks for pages the pool lacks, is read from the totals, and
only an error walks the ranges to name the first offender.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from pmpoolctl.check.findings import Severity
from pmpoolctl.errors import EditError
from pmpoolctl.pool.binding import Pool
from pmpoolctl.pool.request import (
    checked_request,
    first_holding,
    first_overlap,
    first_overlapping,
    in_order,
    merged,
)
from pmpoolctl.ranges.arrayops import difference, first_missing, union
from pmpoolctl.ranges.everyaddress import WHOLE_RANGE, Canonical, EveryAddress
from pmpoolctl.ranges.rangearray import RangeArray
from pmpoolctl.ranges.rangeset import Range, RangeSet

# The faults of a pool's stored form that `canonicalize` repairs (overlaps only with --merge).
REPAIRABLE = frozenset({"ranges-unsorted", "range-empty", "range-overlap", "ranges-not-coalesced"})
# What `canonicalize` cannot repair: it would change which pages the pool holds.
NOT_REPAIRABLE = {
    "binding-invalid": "the node breaks the binding",
    "range-unaligned": "a range is not page-aligned: which pages it means is not known",
    "range-overflow": "a range ends past 2^64, or merged the ranges would need a size of 2^64",
}


def _hint(rule: str) -> str:
    """Where an edit that refuses a non-canonical pool points: the command that repairs it."""
    if rule == "range-overlap":
        return "; `pmpoolctl canonicalize --merge` rewrites it canonical"
    return "; `pmpoolctl canonicalize` rewrites it canonical" if rule in REPAIRABLE else ""


def editable_ranges(pool: Pool) -> RangeArray:
    """The pool's ranges in canonical form; refuse a pool whose stored form is broken (rules 1-4)."""
    for problem in pool.problems:
        if problem.severity is Severity.ERROR:
            raise EditError(
                f"pool {pool.path} is not valid, refusing to edit it: {problem.message} ({problem.rule})"
                + _hint(problem.rule)
            )
    return _held(pool, pool.canonical_ranges())  # touching ranges (a warning) merge


def _held(pool: Pool, ranges: Canonical) -> RangeArray:
    """`ranges`, a RangeArray; refuse all 2^64 addresses (decode_pool finds them a range-overflow first)."""
    if isinstance(ranges, EveryAddress):
        raise EditError(f"pool {pool.path}: its ranges merge into {WHOLE_RANGE}, of size 2^64, which no u64 can say")
    return ranges


def plan_canonical(pool: Pool, merge: bool) -> RangeArray:
    """The pool's ranges in canonical form (sorted, touching ones merged, empty ones dropped): `canonicalize`.

    The pages stay the pages the pool holds. A pool that breaks the binding otherwise
    (compatible, page size, a range not aligned or past 2^64) is refused, and so are
    overlapping ranges unless `merge`: a page listed twice was handed over twice, and
    which owner is right is not the tool's to decide.
    """
    for problem in pool.problems:
        reason = NOT_REPAIRABLE.get(problem.rule)
        if reason is not None:
            raise EditError(f"pool {pool.path}: {reason}, which canonicalize cannot repair: {problem.message}")
        if problem.rule == "range-overlap" and not merge:
            raise EditError(f"pool {pool.path}: {problem.message} (use --merge to merge overlapping ranges)")
    return _held(pool, pool.canonical_ranges())


MERGE_HINT = "use --merge to allow"
"""What an overlap refused by add-range points to; `create`, which has no --merge, says its own."""


def plan_add(
    current: RangeArray, requested: Sequence[Range], page_size: int, merge: bool, hint: str = MERGE_HINT
) -> RangeArray:
    """The pool after adding `requested`; overlaps are refused unless `merge`, the error ending `(hint)`."""
    request = checked_request(requested, page_size, "added")
    apart = request.is_apart()  # the usual batch: sorted, disjoint, not touching, so canonical as it is
    ordered = request if apart else in_order(request)
    overlap = None if merge or apart else first_overlap(ordered)
    if overlap is not None:
        prev, cur = ordered[overlap], ordered[overlap + 1]
        raise EditError(f"added ranges {prev} and {cur} overlap each other ({hint})")
    addition = ordered if apart else merged(ordered)
    result = addition if isinstance(addition, EveryAddress) else union(current, addition)
    # Disjoint requested ranges overlap the pool exactly when the union is smaller than both.
    if not merge and result.total_size != current.total_size + addition.total_size:
        first = first_overlapping(current, ordered)
        if first is not None:
            raise EditError(f"added range {first[0]} overlaps pool range {first[1]} ({hint})")
    if isinstance(result, EveryAddress):
        raise EditError(
            f"the pool would hold all 2^64 addresses, {WHOLE_RANGE}: a range of size 2^64, which no u64 size can say"
        )
    return result


def plan_remove(current: RangeArray, requested: Sequence[Range], page_size: int, ignore_missing: bool) -> RangeArray:
    """The pool after removing `requested`; pages not in the pool are refused unless `ignore_missing`."""
    request = checked_request(requested, page_size, "removed")
    removal = request if request.is_apart() else merged(in_order(request))
    if isinstance(removal, EveryAddress):  # a pool (a RangeArray) never holds all 2**64: some are missing
        if not ignore_missing:
            _refuse_missing(request, current.first_missing(RangeSet([WHOLE_RANGE])))
        return RangeArray()
    result = difference(current, removal)
    # The removed ranges are all in the pool exactly when the pool lost as much as they hold.
    if not ignore_missing and current.total_size - result.total_size != removal.total_size:
        _refuse_missing(request, first_missing(current, removal))
    return result


def _refuse_missing(request: RangeArray, first: Range | None) -> NoReturn:
    assert first is not None, "the totals say some are missing"
    owner = first_holding(in_order(request), first.base)
    raise EditError(f"removed range {owner} is not all in the pool: {first} is missing (use --ignore-missing to allow)")
