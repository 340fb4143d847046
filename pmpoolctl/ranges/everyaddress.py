"""Every one of the 2^64 addresses: the one canonical set of ranges a RangeArray cannot hold.

Canonical ranges are sorted, disjoint and never touch, so ranges that cover every address
merge into the single range [0, 2^64). Its size, 2^64, has no u64 to be written in (not in
a RangeArray's sizes, not in `page-ranges`). What merges ranges (`arrayops.canonical_of`,
`arrayops.union`, `request.merged`) returns EVERY_ADDRESS then, typed `Canonical`, so that
each caller has to say what it means: an error finding, a refused edit, a diff that shows it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Final, Union, overload

from pmpoolctl.numbers import U64_LIMIT
from pmpoolctl.ranges.rangeset import Range

if TYPE_CHECKING:
    from pmpoolctl.ranges.rangearray import RangeArray

WHOLE_RANGE: Final = Range(0, U64_LIMIT)


class EveryAddress(Sequence[Range]):
    """The set of all 2^64 addresses, as the one range it is canonically: [0, 2^64)."""

    __slots__ = ()

    @property
    def total_size(self) -> int:
        return U64_LIMIT

    def __len__(self) -> int:
        return 1

    @overload
    def __getitem__(self, index: int) -> Range: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Range]: ...
    def __getitem__(self, index: int | slice) -> Range | Sequence[Range]:
        return [WHOLE_RANGE][index]

    def __iter__(self) -> Iterator[Range]:
        return iter((WHOLE_RANGE,))

    def spans(self) -> Iterator[tuple[int, int]]:
        return iter(((0, U64_LIMIT),))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EveryAddress)

    def __hash__(self) -> int:
        return hash(WHOLE_RANGE)

    def __repr__(self) -> str:
        return f"EveryAddress({WHOLE_RANGE})"


EVERY_ADDRESS: Final = EveryAddress()

# Canonical ranges: a RangeArray, or all 2^64 addresses (which no RangeArray holds).
Canonical = Union["RangeArray", EveryAddress]


def bases_and_sizes(ranges: Canonical, start: int, stop: int) -> tuple[list[int], list[int]]:
    """The bases and sizes of ranges [start, stop) as lists of ints (a size may be 2^64 here)."""
    if isinstance(ranges, EveryAddress):
        return [r.base for r in ranges[start:stop]], [r.size for r in ranges[start:stop]]
    return ranges.bases[start:stop].tolist(), ranges.sizes[start:stop].tolist()
