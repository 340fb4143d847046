"""Half-open address ranges and canonical range sets.

A `Range` is [base, base + size). A `RangeSet` is a set of addresses held in
canonical form: sorted, disjoint, never touching (adjacent ranges are one). The
set operations are linear sweeps over sorted lists, so a million ranges cost a
sort at most, never ranges x ranges.

Ends may equal 2**64 (a range may end at the top of the address space); that is
why ends are Python ints and not fixed-width array items.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from pmpoolctl.numbers import hex_address


class Range(NamedTuple):
    """The half-open address range [base, base + size); a tuple, so a million cost little."""

    base: int
    size: int

    @property
    def end(self) -> int:
        """First address past the range."""
        return self.base + self.size

    @classmethod
    def span(cls, start: int, end: int) -> Range:
        """The range [start, end)."""
        return cls(start, end - start)

    def overlaps(self, other: Range) -> bool:
        """True when the two ranges share at least one address."""
        return self.size > 0 and other.size > 0 and self.base < other.end and other.base < self.end

    def __str__(self) -> str:
        return f"[{hex_address(self.base)}, {hex_address(self.end)})"


def _coalesce(spans: Iterable[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Merge (start, end) spans sorted by start into disjoint, non-touching spans."""
    starts: list[int] = []
    ends: list[int] = []
    for start, end in spans:
        if start >= end:
            continue
        if ends and start <= ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


class RangeSet:
    """A canonical set of addresses: sorted, disjoint, non-touching ranges."""

    __slots__ = ("_ends", "_starts")

    def __init__(self, ranges: Iterable[Range] = ()) -> None:
        # Sorting the ranges themselves (by base, then size: the same order as by end) makes no
        # second list of pairs; a million requested ranges is a batch people do write.
        self._starts, self._ends = _coalesce((r.base, r.end) for r in sorted(ranges))

    @classmethod
    def from_sorted_spans(cls, spans: Iterable[tuple[int, int]]) -> RangeSet:
        """The set of (start, end) spans given in order of start (they may overlap or touch)."""
        return cls._from_canonical(*_coalesce(spans))

    @classmethod
    def _from_canonical(cls, starts: list[int], ends: list[int]) -> RangeSet:
        result = cls.__new__(cls)
        result._starts = starts
        result._ends = ends
        return result

    def spans(self) -> Iterator[tuple[int, int]]:
        """The canonical ranges as (start, end) pairs, in order."""
        return zip(self._starts, self._ends)

    def ranges(self) -> list[Range]:
        """The canonical ranges, in order."""
        return [Range(start, end - start) for start, end in self.spans()]

    def __iter__(self) -> Iterator[Range]:
        return iter(self.ranges())

    def __len__(self) -> int:
        return len(self._starts)

    def __bool__(self) -> bool:
        return bool(self._starts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RangeSet):
            return NotImplemented
        return self._starts == other._starts and self._ends == other._ends

    def __hash__(self) -> int:
        return hash((tuple(self._starts), tuple(self._ends)))

    def __repr__(self) -> str:
        return "RangeSet([" + ", ".join(str(r) for r in self) + "])"

    @property
    def total_size(self) -> int:
        """Number of addresses in the set."""
        return sum(self._ends) - sum(self._starts)

    def union(self, other: RangeSet) -> RangeSet:
        """Addresses in either set."""
        merged = heapq.merge(self.spans(), other.spans())
        return RangeSet._from_canonical(*_coalesce(merged))

    def difference(self, other: RangeSet) -> RangeSet:
        """Addresses in this set and not in `other`."""
        starts: list[int] = []
        ends: list[int] = []
        cut_starts, cut_ends = other._starts, other._ends
        j = 0
        for start, end in self.spans():
            while j < len(cut_starts) and cut_ends[j] <= start:
                j += 1
            k = j
            cursor = start
            while k < len(cut_starts) and cut_starts[k] < end:
                if cut_starts[k] > cursor:
                    starts.append(cursor)
                    ends.append(cut_starts[k])
                cursor = max(cursor, cut_ends[k])
                k += 1
            if cursor < end:
                starts.append(cursor)
                ends.append(end)
        return RangeSet._from_canonical(starts, ends)

    def intersection(self, other: RangeSet) -> RangeSet:
        """Addresses in both sets."""
        return self.difference(self.difference(other))

    def covers(self, other: RangeSet) -> bool:
        """True when every address of `other` is in this set."""
        return not other.difference(self)
