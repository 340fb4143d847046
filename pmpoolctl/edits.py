"""Planning pool edits: what the canonical ranges become after adding or removing pages.

Pure functions over ranges; they raise EditError for an edit that cannot be
applied and never touch a file, so `--dry-run` and the real edit share them.
"""

from __future__ import annotations

import itertools

from pmpoolctl.binding import Pool
from pmpoolctl.errors import EditError
from pmpoolctl.findings import Severity
from pmpoolctl.numbers import U64_LIMIT
from pmpoolctl.rangearray import RangeArray
from pmpoolctl.ranges import Range, RangeSet


def _check_requested(ranges: list[Range], page_size: int, what: str) -> None:
    for r in ranges:
        if r.size == 0:
            raise EditError(f"{what} range at {r.base:#x} has size 0")
        if r.end > U64_LIMIT:
            raise EditError(f"{what} range at {r.base:#x} of size {r.size:#x} ends past 2^64")
        if r.base % page_size or r.size % page_size:
            raise EditError(f"{what} range {r} is not aligned to the page size {page_size:#x}")


def editable_ranges(pool: Pool) -> RangeArray:
    """The pool's ranges in canonical form; refuse a pool whose stored form is broken (rules 1-4)."""
    for problem in pool.problems:
        if problem.severity is Severity.ERROR:
            raise EditError(f"pool {pool.path} is not valid, refusing to edit it: {problem.message} ({problem.rule})")
    return pool.canonical_ranges()  # touching ranges (a warning) merge


def plan_add(current: RangeArray, requested: list[Range], page_size: int, merge: bool) -> RangeArray:
    """The pool after adding `requested`; overlaps are refused unless `merge`."""
    _check_requested(requested, page_size, "added")
    ordered = sorted(requested)
    if not merge:
        for prev, cur in itertools.pairwise(ordered):
            if cur.overlaps(prev):
                raise EditError(f"added ranges {prev} and {cur} overlap each other (use --merge to allow)")
        for r in ordered:
            clash = current.overlapping(r)
            if clash is not None:
                raise EditError(f"added range {r} overlaps pool range {clash} (use --merge to allow)")
    return current.union(RangeSet(ordered))


def plan_remove(current: RangeArray, requested: list[Range], page_size: int, ignore_missing: bool) -> RangeArray:
    """The pool after removing `requested`; pages not in the pool are refused unless `ignore_missing`."""
    _check_requested(requested, page_size, "removed")
    removal = RangeSet(requested)
    if not ignore_missing:
        first = current.first_missing(removal)
        if first is not None:
            owner = next(r for r in sorted(requested) if r.base <= first.base < r.end)
            raise EditError(
                f"removed range {owner} is not all in the pool: {first} is missing (use --ignore-missing to allow)"
            )
    return current.difference(removal)
