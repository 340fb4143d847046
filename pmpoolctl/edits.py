"""Planning pool edits: what the canonical ranges become after adding or removing pages.

Pure functions over ranges; they raise EditError for an edit that cannot be
applied and never touch a file, so `--dry-run` and the real edit share them.
"""

from __future__ import annotations

import bisect
import itertools

from pmpoolctl.binding import Pool
from pmpoolctl.errors import EditError
from pmpoolctl.findings import Severity
from pmpoolctl.numbers import U64_LIMIT
from pmpoolctl.ranges import Range, RangeSet


def _check_requested(ranges: list[Range], page_size: int, what: str) -> None:
    for r in ranges:
        if r.size == 0:
            raise EditError(f"{what} range at {r.base:#x} has size 0")
        if r.end > U64_LIMIT:
            raise EditError(f"{what} range at {r.base:#x} of size {r.size:#x} ends past 2^64")
        if r.base % page_size or r.size % page_size:
            raise EditError(f"{what} range {r} is not aligned to the page size {page_size:#x}")


def editable_ranges(pool: Pool) -> RangeSet:
    """The pool's ranges as a set; refuse a pool whose stored form is broken (rules 1-4)."""
    for problem in pool.problems:
        if problem.severity is Severity.ERROR:
            raise EditError(f"pool {pool.path} is not valid, refusing to edit it: {problem.message} ({problem.rule})")
    return RangeSet(pool.ranges)


def _first_overlap(sorted_ranges: list[Range], r: Range) -> Range | None:
    """A range of `sorted_ranges` (sorted, disjoint) that overlaps `r`, or None."""
    index = bisect.bisect_right(sorted_ranges, r.base, key=lambda x: x.base) - 1
    for candidate in sorted_ranges[max(index, 0) : index + 2]:
        if candidate.overlaps(r):
            return candidate
    return None


def plan_add(current: RangeSet, requested: list[Range], page_size: int, merge: bool) -> RangeSet:
    """The pool after adding `requested`; overlaps are refused unless `merge`."""
    _check_requested(requested, page_size, "added")
    if not merge:
        existing = current.ranges()
        ordered = sorted(requested)
        for prev, cur in itertools.pairwise(ordered):
            if cur.overlaps(prev):
                raise EditError(f"added ranges {prev} and {cur} overlap each other (use --merge to allow)")
        for r in ordered:
            clash = _first_overlap(existing, r)
            if clash is not None:
                raise EditError(f"added range {r} overlaps pool range {clash} (use --merge to allow)")
    return current.union(RangeSet(requested))


def plan_remove(current: RangeSet, requested: list[Range], page_size: int, ignore_missing: bool) -> RangeSet:
    """The pool after removing `requested`; pages not in the pool are refused unless `ignore_missing`."""
    _check_requested(requested, page_size, "removed")
    removal = RangeSet(requested)
    if not ignore_missing:
        missing = removal.difference(current)
        if missing:
            first = missing.ranges()[0]
            owner = next(r for r in sorted(requested) if r.base <= first.base < r.end)
            raise EditError(
                f"removed range {owner} is not all in the pool: {first} is missing (use --ignore-missing to allow)"
            )
    return current.difference(removal)
