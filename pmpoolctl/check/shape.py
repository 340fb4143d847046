"""The shape of a range: the one place that says what makes a range empty, unaligned or too long.

The binding's canonical form, an edit's request and KHO's reserve_mem regions are held to
the same three faults, each in the words of its own message. The C-speed checks that
answer "none" for a whole array (`RangeArray.is_canonical`, `pool.request`) are fast paths
of these.
"""

from __future__ import annotations

from collections.abc import Iterator

from pmpoolctl.numbers import U64_LIMIT
from pmpoolctl.ranges.rangeset import Range

EMPTY, UNALIGNED, OVERFLOW = "range-empty", "range-unaligned", "range-overflow"


def shape_faults(r: Range, page_size: int) -> Iterator[str]:
    """The rule ids `r` breaks, in the registry's order: size 0, not page-aligned, past 2^64."""
    if r.size == 0:
        yield EMPTY
    if r.base % page_size or r.size % page_size:
        yield UNALIGNED
    if r.end > U64_LIMIT:
        yield OVERFLOW
