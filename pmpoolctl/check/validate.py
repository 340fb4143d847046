"""Checking a pool's ranges against the binding and against memory maps.

Findings are data. Every check is a sort-and-sweep over the pool's ranges
(sorted by base) and a map's entries (sorted by start), so a million ranges
against thousands of entries costs a sort, not ranges x entries.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from pmpoolctl.check.findings import Conflict, Finding, Severity
from pmpoolctl.check.rules import ORDER, finding
from pmpoolctl.memmap.blobmap import ReservationEntries
from pmpoolctl.memmap.model import (
    CRASHKERNEL,
    DYNAMIC,
    KERNEL,
    KEXEC,
    KHO_SCRATCH,
    RAM,
    RESERVED,
    MapEntry,
    MemoryMap,
)
from pmpoolctl.numbers import human_size
from pmpoolctl.pool.binding import Pool
from pmpoolctl.ranges.rangearray import RangeArray
from pmpoolctl.ranges.rangeset import Range, RangeSet

HOLE = "hole"  # the type of a conflict that is no entry of the map: addresses it does not list

_OVERLAP_RULES = {
    RESERVED: "range-in-reserved",
    KERNEL: "range-in-kernel",
    CRASHKERNEL: "range-in-crashkernel",
    DYNAMIC: "range-in-dynamic-reserved",
    KEXEC: "range-in-kexec-segment",
    KHO_SCRATCH: "range-in-kho-scratch",  # a host capture's scratch areas
}


@dataclass(frozen=True)
class Zone:
    """Memory no range may overlap, and the rule a range that does breaks (KHO's scratch areas, say)."""

    rule: str
    where: str  # what the entries are, for messages: "kho-out's KHO scratch areas, ..."
    entries: Sequence[MapEntry]


@dataclass(frozen=True)
class Report:
    """Everything `validate` found about one pool."""

    pool: Pool
    maps: list[MemoryMap]
    findings: list[Finding]
    zones: Sequence[Zone] = ()  # what the ranges were held clear of besides the maps (KHO's)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.WARNING)

    def passes(self, strict: bool = False) -> bool:
        """The verdict: no error, and with `strict` no warning either (validate's exit 0)."""
        return self.errors == 0 and not (strict and self.warnings)


def _conflict(entry: MapEntry) -> Conflict:
    return Conflict(entry.start, entry.end, entry.type, entry.source)


def overlapping_pairs(ranges: list[Range], entries: Sequence[MapEntry]) -> Iterator[tuple[Range, MapEntry]]:
    """Every (range, entry) that overlap; `ranges` sorted by base. Empty entries overlap nothing."""
    # Sorted here, not trusted: /proc/iomem is read in file order, and a hand-edited
    # or concatenated one need not be in address order.
    entries = sorted((e for e in entries if e.start < e.end), key=lambda e: e.start)
    active: list[tuple[int, int, MapEntry]] = []  # heap of entries by end
    next_entry = 0
    for r in ranges:
        while next_entry < len(entries) and entries[next_entry].start < r.end:
            entry = entries[next_entry]
            heapq.heappush(active, (entry.end, next_entry, entry))
            next_entry += 1
        while active and active[0][0] <= r.base:
            heapq.heappop(active)
        for _, _, entry in sorted(active, key=lambda item: item[1]):
            if entry.start < r.end and r.base < entry.end:
                yield r, entry


def _uncovered(r: Range, ram_starts: list[int], ram_ends: list[int]) -> Iterator[Range]:
    """Parts of `r` outside the canonical RAM spans."""
    index = bisect.bisect_right(ram_ends, r.base)
    cursor = r.base
    while index < len(ram_starts) and ram_starts[index] < r.end:
        if ram_starts[index] > cursor:
            yield Range.span(cursor, ram_starts[index])
        cursor = max(cursor, ram_ends[index])
        index += 1
    if cursor < r.end:
        yield Range.span(cursor, r.end)


def _first_overlapping(entries: list[MapEntry], starts: list[int], reach: list[int], piece: Range) -> MapEntry | None:
    """An entry overlapping `piece`; `entries` sorted by start, `reach[i]` the furthest end of entries[: i + 1]."""
    index = bisect.bisect_left(starts, piece.end) - 1
    while index >= 0 and reach[index] > piece.base:
        if entries[index].end > piece.base:
            return entries[index]
        index -= 1
    return None


class _Ram(NamedTuple):
    """A map's RAM as sorted, disjoint, non-touching spans, for bisection."""

    starts: list[int]
    ends: list[int]

    @classmethod
    def of(cls, memory_map: MemoryMap) -> _Ram:
        spans = list(_ram_set(memory_map).spans())
        return cls([s for s, _ in spans], [e for _, e in spans])

    def touches(self, start: int, end: int) -> bool:
        """Whether any address of [start, end) is RAM."""
        index = bisect.bisect_right(self.ends, start)
        return index < len(self.starts) and self.starts[index] < end


def _in_ram(pairs: Iterable[tuple[Range, MapEntry]], ram: _Ram) -> Iterator[tuple[Range, MapEntry]]:
    """The pairs whose common part is (partly) RAM of the map.

    A reserved entry that carves memory out of RAM (iomem's nested `reserved`, an ACPI
    table inside RAM in a JSON map) is range-in-reserved; where the map has no RAM under
    the entry, the range is simply not RAM there, and range-outside-ram says so: one
    rule for one fault, not two.
    """
    for r, entry in pairs:
        if ram.touches(max(r.base, entry.start), min(r.end, entry.end)):
            yield r, entry


def _outside_ram(ranges: Iterable[Range], memory_map: MemoryMap, ram: _Ram) -> Iterator[Finding]:
    starts, ends = ram.starts, ram.ends
    not_ram = [e for e in memory_map.entries if e.kind not in (RAM, DYNAMIC)]  # dynamic areas lie over RAM
    not_ram_starts = [e.start for e in not_ram]
    reach = list(itertools.accumulate((e.end for e in not_ram), max))
    for r in ranges:
        pieces = list(_uncovered(r, starts, ends))
        if not pieces:
            continue
        first = pieces[0]
        entry = _first_overlapping(not_ram, not_ram_starts, reach, first)
        conflict = Conflict(first.base, first.end, HOLE, memory_map.source) if entry is None else _conflict(entry)
        missing = sum(p.size for p in pieces)
        what = "a hole in the map" if entry is None else f"'{conflict.type}' ({conflict.source})"
        yield finding(
            "range-outside-ram",
            f"range {r} is not all RAM in {memory_map.source}: {human_size(missing)} outside RAM, "
            f"first {first}, {what}",
            r,
            conflict,
        )


def _zone_findings(pairs: Iterable[tuple[Range, MapEntry]], rule: str, where: str) -> Iterator[Finding]:
    for r, entry in pairs:
        # The blob's reservations hold dynamic /reserved-memory areas among the static ones.
        entry_rule = _OVERLAP_RULES[DYNAMIC] if entry.kind == DYNAMIC else rule
        yield finding(
            entry_rule,
            f"range {r} overlaps '{entry.type}' [{entry.start:#x}, {entry.end:#x}) of {where} ({entry.source})"
            + (", where the kernel may place that region" if entry.kind == DYNAMIC else ""),
            r,
            _conflict(entry),
        )


def _ram_set(memory_map: MemoryMap) -> RangeSet:
    """The map's RAM as a canonical set; entries are sorted, not copied (a map can have a million)."""
    ram_entries = sorted((e for e in memory_map.entries if e.kind == RAM), key=operator.attrgetter("start"))
    return RangeSet.from_sorted_spans((e.start, e.end) for e in ram_entries)


def _ranges_outside(ranges: RangeArray, ram: _Ram) -> list[Range]:
    """The ranges of a canonical array that are not inside one RAM span: a few bisections per span.

    Sorted, disjoint ranges whose bases fall in a span [s, e) are one block of the
    array, and only the block's last range can reach past e.
    """
    bases = ranges.bases
    inside: list[tuple[int, int]] = []  # [i, j) blocks of ranges wholly inside RAM
    for start, end in zip(ram.starts, ram.ends):
        i, j = bisect.bisect_left(bases, start), bisect.bisect_left(bases, end)
        if i < j and bases[j - 1] + ranges.sizes[j - 1] > end:
            j -= 1
        if i < j:
            inside.append((i, j))
    if sum(j - i for i, j in inside) == len(ranges):
        return []
    outside: list[Range] = []
    kept = 0
    for i, j in [*inside, (len(ranges), len(ranges))]:
        outside.extend(ranges[kept:i])
        kept = j
    return outside


def _start_order(entries: Sequence[MapEntry]) -> Iterable[int]:
    """Indices of `entries` by start (stable), without making a million entries to sort them."""
    starts: Sequence[int] = entries.starts if isinstance(entries, ReservationEntries) else [e.start for e in entries]
    if all(map(operator.le, starts, itertools.islice(starts, 1, None))):
        return range(len(starts))
    return sorted(range(len(starts)), key=starts.__getitem__)


def _zone_pairs(ranges: RangeArray, entries: Sequence[MapEntry]) -> Iterator[tuple[Range, MapEntry]]:
    """(range, entry) pairs that overlap, for a canonical array: the ranges an entry hits are one block.

    Entries go in start order, the order the sweep reports them in.
    """
    bases = ranges.bases
    for index in _start_order(entries):
        entry = entries[index]
        if entry.start >= entry.end:
            continue
        i = bisect.bisect_right(bases, entry.start) - 1
        if i < 0 or bases[i] + ranges.sizes[i] <= entry.start:
            i += 1
        for k in range(i, bisect.bisect_left(bases, entry.end)):
            yield Range(bases[k], ranges.sizes[k]), entry


def _fast_findings(
    pool: Pool, maps: list[MemoryMap], reservations: Sequence[MapEntry], phys_bits: int | None, zones: Sequence[Zone]
) -> list[Finding]:
    """The map findings of a canonical pool, without a sweep over every range (see `validate`)."""
    ranges = pool.ranges
    findings: list[Finding] = []
    for memory_map in maps:
        ram = _Ram.of(memory_map)
        outside = _ranges_outside(ranges, ram) if memory_map.lists_ram else []
        if outside:
            findings.extend(_outside_ram(outside, memory_map, ram))
        for kind, rule in _OVERLAP_RULES.items():
            pairs = _zone_pairs(ranges, memory_map.of_kind(kind))
            if kind == RESERVED:
                pairs = _in_ram(pairs, ram)
            findings.extend(_zone_findings(pairs, rule, memory_map.source))
    findings.extend(_zone_findings(_zone_pairs(ranges, reservations), "range-in-memreserve", "the blob's reservations"))
    for zone in zones:
        findings.extend(_zone_findings(_zone_pairs(ranges, zone.entries), zone.rule, zone.where))
    if phys_bits is not None and ranges:
        first = bisect.bisect_right(ranges, 1 << phys_bits, key=lambda r: r.end)  # ends ascend too
        findings.extend(_above_limit(ranges[first:], phys_bits))
    return findings


def validate(
    pool: Pool,
    maps: list[MemoryMap],
    reservations: Sequence[MapEntry],
    phys_bits: int | None,
    advance: Callable[[int], None] | None = None,
    zones: Sequence[Zone] = (),
    extra: Sequence[Finding] = (),
) -> Report:
    """All findings for `pool`: binding, every map, the blob's own reservations, the physical limit.

    `zones` are more memory no range may overlap (KHO's scratch areas and preserved
    regions), `extra` findings about what the pool travels with (the KHO state, the next
    kernel) that are reported with the others.

    A canonical pool (the usual one, and the only one that may hold a million
    ranges) is checked by bisection over its arrays; any other pool by sorting and
    sweeping its ranges. Both give the same findings, in the same order.
    """
    findings = list(pool.problems)
    step = len(pool.ranges)  # progress: each map, then the blob's own reservations, is one pass
    if pool.canonical:
        findings.extend(_fast_findings(pool, maps, reservations, phys_bits, zones))
        if advance is not None:
            advance(step * (len(maps) + 1))
    else:
        ranges = sorted((r for r in pool.ranges if r.size), key=lambda r: (r.base, r.size))
        for memory_map in maps:
            ram = _Ram.of(memory_map)
            if memory_map.lists_ram:
                findings.extend(_outside_ram(ranges, memory_map, ram))
            for kind, rule in _OVERLAP_RULES.items():
                pairs = overlapping_pairs(ranges, memory_map.of_kind(kind))
                if kind == RESERVED:
                    pairs = _in_ram(pairs, ram)
                findings.extend(_zone_findings(pairs, rule, memory_map.source))
            if advance is not None:
                advance(step)
        pairs = overlapping_pairs(ranges, reservations)
        findings.extend(_zone_findings(pairs, "range-in-memreserve", "the blob's reservations"))
        for zone in zones:
            findings.extend(_zone_findings(overlapping_pairs(ranges, zone.entries), zone.rule, zone.where))
        if phys_bits is not None:
            findings.extend(_above_limit(ranges, phys_bits))
        if advance is not None:
            advance(step)
    findings.extend(extra)
    map_findings = sorted(
        merged(findings[len(pool.problems) :]),
        key=lambda f: (f.range.base if f.range else -1, ORDER.get(f.rule, len(ORDER))),
    )
    return Report(pool, maps, findings[: len(pool.problems)] + map_findings, tuple(zones))


ALSO_SHOWN = 3  # conflicts beyond the first that a merged finding's message names


def merged(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per range and rule, in the order first found: every map and entry that refuses it.

    Eight ranges outside RAM checked against two maps are eight findings, each naming
    both maps, not sixteen; JSON keeps every conflict (`conflicts`).
    """
    groups: dict[tuple[Range | None, str], list[Finding]] = {}
    for one in findings:
        groups.setdefault((one.range, one.rule), []).append(one)
    return [group[0] if len(group) == 1 else _merge(group) for group in groups.values()]


def _merge(group: list[Finding]) -> Finding:
    # The most severe leads (the first of them): one rule may find a warning and an error, and the
    # merged finding must not take the warning's severity and let a run pass.
    first = next((f for f in group if f.severity is Severity.ERROR), group[0])
    rest = [c for f in (first, *(f for f in group if f is not first)) for c in f.conflicts][1:]
    named = "; ".join(map(_conflict_text, rest[:ALSO_SHOWN]))
    more = f" and {len(rest) - ALSO_SHOWN} more" if len(rest) > ALSO_SHOWN else ""
    message = f"{first.message}; also {named}{more}" if rest else first.message
    return dataclasses.replace(first, message=message, also=tuple(rest))


def _conflict_text(conflict: Conflict) -> str:
    where = f"[{conflict.start:#x}, {conflict.end:#x})"
    if conflict.type == HOLE:
        return f"a hole {where} in {conflict.source}"
    return f"'{conflict.type}' {where} ({conflict.source})"


def _above_limit(ranges: Iterable[Range], phys_bits: int) -> Iterator[Finding]:
    limit = 1 << phys_bits
    for r in ranges:
        if r.end > limit:
            yield finding(
                "range-above-phys-limit",
                f"range {r} ends above 2^{phys_bits} ({limit:#x}), the machine's physical address limit",
                r,
            )
