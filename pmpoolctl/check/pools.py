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
from pmpoolctl.ranges.everyaddress import Canonical, EveryAddress

OVERLAPS_SHOWN = 5  # findings per pair of pools; the rest are one finding with their count


def pools_overlap(pools: Sequence[Pool], source: str) -> dict[str, list[Finding]]:
    """`pools-overlap` findings by the path of the pool they are about: the later of each pair, in node order.

    Each finding is a range of the later pool, its conflict the first range of the earlier
    pool it shares pages with; past the first few of a pair, one finding counts the rest.
    """
    canonical = [(pool, pool.canonical_ranges()) for pool in pools]
    found: dict[str, list[Finding]] = {pool.path: [] for pool in pools}
    for index, (later, later_ranges) in enumerate(canonical):
        for earlier, earlier_ranges in canonical[:index]:
            if not _apart(earlier_ranges, later_ranges):
                found[later.path].extend(_findings(earlier_ranges, later_ranges, earlier, later, source))
    return found


def _apart(one: Canonical, other: Canonical) -> bool:
    if isinstance(one, EveryAddress) or isinstance(other, EveryAddress):
        return not (one and other)  # all 2^64 addresses share some with any other non-empty pool
    # Disjoint pools may hold all 2^64 addresses between them (EVERY_ADDRESS), and their totals still add up.
    return union(one, other).total_size == one.total_size + other.total_size


def _shared(earlier: Canonical, later: Canonical) -> Iterator[tuple[int, int, int, int]]:
    """(later's index, earlier's index of the first range it overlaps, how many of earlier's, bytes shared)
    for every range of `later` that overlaps `earlier` (both canonical): ints only, no Range made."""
    if isinstance(earlier, EveryAddress):  # every range of `later` lies in it, whole
        yield from ((k, 0, 1, size) for k, size in enumerate(r.size for r in later))
        return
    if isinstance(later, EveryAddress):  # its one range holds every range of `earlier`
        yield 0, 0, len(earlier), earlier.total_size
        return
    bases, sizes = earlier.bases, earlier.sizes
    count = len(bases)
    i = 0
    for k, (base, size) in enumerate(zip(later.bases, later.sizes)):
        end = base + size
        # Both are sorted and disjoint: earlier's ranges that end at or before `base` are done for good.
        if i < count and bases[i] + sizes[i] <= base:
            i = bisect.bisect_right(bases, base, i) - 1
            if i < 0 or bases[i] + sizes[i] <= base:
                i += 1
        if i >= count or bases[i] >= end:
            continue
        stop, shared = i, 0
        while stop < count and bases[stop] < end:
            shared += min(end, bases[stop] + sizes[stop]) - max(base, bases[stop])
            stop += 1
        yield k, i, stop - i, shared
        i = stop - 1  # the last one may reach into later's next range


def _findings(
    earlier_ranges: Canonical, later_ranges: Canonical, earlier: Pool, later: Pool, source: str
) -> list[Finding]:
    first: list[tuple[int, int, int]] = []  # (later's index, earlier's index, bytes) of the first few
    count = total = 0
    for k, i, _, shared in _shared(earlier_ranges, later_ranges):
        if len(first) <= OVERLAPS_SHOWN:
            first.append((k, i, shared))
        count += 1
        total += shared
    made = []
    shown = first if count <= OVERLAPS_SHOWN + 1 else first[:OVERLAPS_SHOWN]
    for k, i, shared in shown:
        r, other = later_ranges[k], earlier_ranges[i]
        made.append(
            finding(
                "pools-overlap",
                f"range {r} of {later.path} shares {human_size(shared)} with range {other} of {earlier.path}",
                r,
                Conflict(other.base, other.end, f"{earlier.path} range", f"{source}:{earlier.path}"),
            )
        )
    if count > len(shown):
        rest = count - len(shown)
        rest_bytes = total - sum(shared for _, _, shared in shown)
        made.append(
            finding(
                "pools-overlap",
                f"{rest} more ranges of {later.path} share {human_size(rest_bytes)} with {earlier.path}, "
                f"the first of them {later_ranges[first[len(shown)][0]]}",
                count=rest,
            )
        )
    return made
