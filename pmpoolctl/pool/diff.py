"""How two blobs' pools differ: the `diff` command's model, apart from how it is shown.

Both pools are compared as sets of addresses (their canonical form), so a range
split in two, or two touching ranges merged, is no change; a grown range shows
as the pages added, and a pool that appears (or disappears) as all its pages
added (or removed). A pool that breaks the binding (an error-level finding:
unsorted, overlapping, unaligned, bad compatible or page-size, a torn
`page-ranges`) is a difference even when its addresses are the same, and even
against itself: canonicalising must not hide what the next kernel would read.
Warnings (touching ranges) are reported but do not by themselves make the pools
differ. Header fields and the reservation block are compared too and reported,
but only the pool decides whether the blobs differ (cli.md). Two blobs of which
neither has the pool are an input error: "same" about nothing is no verdict.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pmpoolctl.check.findings import Finding, Severity
from pmpoolctl.dtb.format import HEADER_SHOWN
from pmpoolctl.dtb.model import Blob, Reservation
from pmpoolctl.errors import InputError
from pmpoolctl.pool.binding import PROP_COMPATIBLE, PROP_PAGE_RANGES, Pool
from pmpoolctl.pool.poolfile import read_pool
from pmpoolctl.ranges.arrayops import complement
from pmpoolctl.ranges.everyaddress import Canonical, EveryAddress
from pmpoolctl.ranges.rangearray import RangeArray, common_ends, subtract


@dataclass(frozen=True)
class PoolSide:
    """One side's pool, summed up (a side is None when its blob has no pool node)."""

    ranges: Canonical  # the addresses the pool holds, what is compared (all 2^64 of them: EVERY_ADDRESS)
    stored: int  # how many ranges the blob's page-ranges holds (differs from len(ranges) when not canonical)
    page_size: int
    compatible: str | None
    findings: list[Finding]  # the binding's findings of the stored form (a broken pool still diffs by addresses)

    @property
    def total_bytes(self) -> int:
        return self.ranges.total_size

    @property
    def errors(self) -> int:
        return sum(f.severity is Severity.ERROR for f in self.findings)

    @property
    def broken(self) -> bool:
        """An error-level binding finding: the pool is a difference whatever its addresses."""
        return self.errors > 0


@dataclass(frozen=True)
class PropertyChange:
    name: str
    old: bytes | None  # None: not in the old pool
    new: bytes | None


@dataclass(frozen=True)
class PoolDiff:
    old: PoolSide | None
    new: PoolSide | None
    # Addresses only in the old pool, and only in the new one, as canonical arrays: a pool that
    # appears or disappears is all of its pages, its own array (a million ranges, no Range objects).
    removed: Canonical = field(default_factory=RangeArray)
    added: Canonical = field(default_factory=RangeArray)
    properties: list[PropertyChange] = field(default_factory=list)  # every pool property but page-ranges
    header: list[tuple[str, int, int]] = field(default_factory=list)  # (field, old, new)
    reservations_removed: list[Reservation] = field(default_factory=list)
    reservations_added: list[Reservation] = field(default_factory=list)

    @property
    def broken(self) -> list[str]:
        """The sides ("old", "new") whose pool breaks the binding: each is a difference."""
        return [name for name, side in (("old", self.old), ("new", self.new)) if side is not None and side.broken]

    @property
    def same(self) -> bool:
        """Both blobs have the pool, it holds the same pages with the same properties, and neither is broken."""
        if self.old is None or self.new is None:
            return False  # one appears or disappears (`read_pools` refuses two blobs without it)
        return not (self.removed or self.added or self.properties or self.broken)


def _side(pool: Pool | None) -> PoolSide | None:
    if pool is None:
        return None
    return PoolSide(pool.canonical_ranges(), len(pool.ranges), pool.page_size, pool.compatible, pool.problems)


def read_pools(old_blob: Blob, new_blob: Blob, name: str) -> tuple[Pool | None, Pool | None]:
    """The pool `/name` of each blob; InputError when neither has it (there is nothing to compare)."""
    old = read_pool(old_blob, name)
    new = read_pool(new_blob, name, like=old)  # what the two share is checked once
    if old is None and new is None:
        raise InputError(f"{old_blob.source}, {new_blob.source}: neither blob has a pool node /{name}")
    return old, new


def address_changes(old: Canonical, new: Canonical) -> tuple[Canonical, Canonical]:
    """(addresses only in `old`, addresses only in `new`) of two canonical arrays, as canonical arrays.

    Ranges both arrays hold at their head and tail are skipped at C speed; only the
    middle, where the edits are, is compared address by address. A side that holds all
    2^64 addresses differs from the other by what that one lacks.
    """
    if isinstance(old, EveryAddress):
        return complement(new), RangeArray()
    if isinstance(new, EveryAddress):
        return RangeArray(), complement(old)
    head, tail = common_ends(old, new)
    old_middle = old[head : len(old) - tail]
    new_middle = new[head : len(new) - tail]
    return subtract(old_middle, new_middle), subtract(new_middle, old_middle)


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
    removed: Canonical = RangeArray()
    added: Canonical = RangeArray()
    if old is not None and new is not None:
        removed, added = address_changes(old.ranges, new.ranges)
    elif old is not None:
        removed = old.ranges  # the pool disappears: every page it held goes
    elif new is not None:
        added = new.ranges  # the pool appears: every page it holds comes
    header = [
        (name, getattr(old_blob.header, name), getattr(new_blob.header, name))
        for name in HEADER_SHOWN
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
