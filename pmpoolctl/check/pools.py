"""Several pools in one blob (`validate --all-pools`): no page may belong to two of them.

Two pools that hold the same page hand it to two owners after kexec. Each pair is
compared by its totals first (at C speed: the union of disjoint pools is as large as
both); only a pair that does overlap is walked, to name the ranges.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence

from pmpoolctl.check.findings import Conflict, Finding
from pmpoolctl.check.rules import finding
from pmpoolctl.numbers import human_size
from pmpoolctl.pool.binding import Pool
from pmpoolctl.ranges.arrayops import union
from pmpoolctl.ranges.rangearray import RangeArray
from pmpoolctl.ranges.rangeset import Range

OVERLAPS_SHOWN = 5  # findings per pair of pools; the rest are one finding with their count


def pools_overlap(pools: Sequence[Pool], source: str) -> dict[str, list[Finding]]:
    """`pools-overlap` findings by the path of the pool they are about: the later of each pair, in node order.

    Each finding is a range of the later pool, its conflict the first range of the earlier
    pool it shares pages with.
    """
    canonical = [(pool, pool.canonical_ranges()) for pool in pools]
    found: dict[str, list[Finding]] = {pool.path: [] for pool in pools}
    for index, (later, later_ranges) in enumerate(canonical):
        for earlier, earlier_ranges in canonical[:index]:
            if _apart(earlier_ranges, later_ranges):
                continue
            pairs = list(_shared(earlier_ranges, later_ranges))
            found[later.path].extend(_findings(pairs, earlier, later, source))
    return found


def _apart(one: RangeArray, other: RangeArray) -> bool:
    try:
        return union(one, other).total_size == one.total_size + other.total_size
    except OverflowError:  # together they would hold all 2^64 addresses: they share some
        return False


def _shared(earlier: RangeArray, later: RangeArray) -> Iterator[tuple[Range, Range, int]]:
    """(later's range, earlier's first range it overlaps, bytes they share) for every later range that overlaps."""
    bases, sizes = earlier.bases, earlier.sizes
    for base, size in zip(later.bases, later.sizes):
        end = base + size
        i = bisect.bisect_right(bases, base) - 1
        if i < 0 or bases[i] + sizes[i] <= base:
            i += 1
        stop = bisect.bisect_left(bases, end)
        if i < stop:
            shared = sum(min(end, bases[k] + sizes[k]) - max(base, bases[k]) for k in range(i, stop))
            yield Range(base, size), Range(bases[i], sizes[i]), shared


def _findings(pairs: list[tuple[Range, Range, int]], earlier: Pool, later: Pool, source: str) -> list[Finding]:
    made = [
        finding(
            "pools-overlap",
            f"range {r} of {later.path} shares {human_size(shared)} with range {other} of {earlier.path}",
            r,
            Conflict(other.base, other.end, f"{earlier.path} range", f"{source}:{earlier.path}"),
        )
        for r, other, shared in pairs[:OVERLAPS_SHOWN]
    ]
    rest = pairs[OVERLAPS_SHOWN:]
    if len(rest) > 1:
        total = sum(shared for _, _, shared in rest)
        made.append(
            finding(
                "pools-overlap",
                f"{len(rest)} more ranges of {later.path} share {human_size(total)} with {earlier.path}, "
                f"the first of them {rest[0][0]}",
                count=len(rest),
            )
        )
    elif rest:
        r, other, shared = rest[0]
        made.append(
            finding(
                "pools-overlap",
                f"range {r} of {later.path} shares {human_size(shared)} with range {other} of {earlier.path}",
                r,
                Conflict(other.base, other.end, f"{earlier.path} range", f"{source}:{earlier.path}"),
            )
        )
    return made
