"""How two blobs' pools differ: the `diff` command's model, apart from how it is shown.

Both pools are compared as sets of addresses (their canonical form), so a range
split in two, or two touching ranges merged, is no change; a grown range shows
as the pages added. Header fields and the reservation block are compared too
and reported, but only the pool decides whether the blobs differ (cli.md).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pmpoolctl.binding import PROP_COMPATIBLE, PROP_PAGE_RANGES, Pool
from pmpoolctl.blob import Blob, Reservation
from pmpoolctl.rangearray import RangeArray, common_ends
from pmpoolctl.ranges import Range, RangeSet

HEADER_FIELDS = (
    "version",
    "last_comp_version",
    "boot_cpuid_phys",
    "totalsize",
    "off_dt_struct",
    "off_dt_strings",
    "off_mem_rsvmap",
    "size_dt_struct",
    "size_dt_strings",
)


@dataclass(frozen=True)
class PoolSide:
    """One side's pool, summed up; None-valued when the blob has no pool node."""

    ranges: RangeArray  # canonical
    page_size: int
    compatible: str | None
    problems: int  # binding findings of the stored form (a broken pool still diffs by its addresses)

    @property
    def total_bytes(self) -> int:
        return self.ranges.total_size


@dataclass(frozen=True)
class PropertyChange:
    name: str
    old: bytes | None  # None: not in the old pool
    new: bytes | None


@dataclass(frozen=True)
class PoolDiff:
    old: PoolSide | None
    new: PoolSide | None
    removed: list[Range] = field(default_factory=list)  # addresses only in the old pool
    added: list[Range] = field(default_factory=list)  # addresses only in the new pool
    properties: list[PropertyChange] = field(default_factory=list)  # every pool property but page-ranges
    header: list[tuple[str, int, int]] = field(default_factory=list)  # (field, old, new)
    reservations_removed: list[Reservation] = field(default_factory=list)
    reservations_added: list[Reservation] = field(default_factory=list)

    @property
    def same(self) -> bool:
        """The pools hold the same pages with the same properties (or neither blob has one)."""
        return (self.old is None) == (self.new is None) and not (self.removed or self.added or self.properties)


def _side(pool: Pool | None) -> PoolSide | None:
    if pool is None:
        return None
    return PoolSide(pool.canonical_ranges(), pool.page_size, pool.compatible, len(pool.problems))


def address_changes(old: RangeArray, new: RangeArray) -> tuple[list[Range], list[Range]]:
    """(addresses only in `old`, addresses only in `new`) of two canonical arrays, as canonical ranges.

    Ranges both arrays hold at their head and tail are skipped at C speed; only the
    middle, where the edits are, is compared address by address.
    """
    head, tail = common_ends(old, new)
    old_middle = RangeSet(old[head : len(old) - tail])
    new_middle = RangeSet(new[head : len(new) - tail])
    return old_middle.difference(new_middle).ranges(), new_middle.difference(old_middle).ranges()


def _properties(pool: Pool | None) -> dict[str, bytes]:
    if pool is None:
        return {}
    return {name: bytes(value) for name, value in pool.properties if name != PROP_PAGE_RANGES}


def _property_changes(old: Pool | None, new: Pool | None) -> list[PropertyChange]:
    if old is None or new is None:
        return []  # a pool that comes or goes is reported as such, not property by property
    before, after = _properties(old), _properties(new)
    names = [*before, *(name for name in after if name not in before)]
    changes = [PropertyChange(n, before.get(n), after.get(n)) for n in names if before.get(n) != after.get(n)]
    # compatible first: it says whether the rest is even the same binding
    return sorted(changes, key=lambda c: c.name != PROP_COMPATIBLE)


def _reservation_changes(old: Blob, new: Blob) -> tuple[list[Reservation], list[Reservation]]:
    before, after = Counter(old.reservations), Counter(new.reservations)
    return sorted((before - after).elements()), sorted((after - before).elements())


def diff_blobs(old_blob: Blob, old_pool: Pool | None, new_blob: Blob, new_pool: Pool | None) -> PoolDiff:
    old, new = _side(old_pool), _side(new_pool)
    removed: list[Range] = []
    added: list[Range] = []
    if old is not None and new is not None:
        removed, added = address_changes(old.ranges, new.ranges)
    header = [
        (name, getattr(old_blob.header, name), getattr(new_blob.header, name))
        for name in HEADER_FIELDS
        if getattr(old_blob.header, name) != getattr(new_blob.header, name)
    ]
    reservations_removed, reservations_added = _reservation_changes(old_blob, new_blob)
    return PoolDiff(
        old,
        new,
        removed,
        added,
        _property_changes(old_pool, new_pool),
        header,
        reservations_removed,
        reservations_added,
    )
