"""The pmpool-v1 binding: the pool node's properties, decoded from and encoded to bytes.

Decoding is tolerant: a pool that breaks the binding still decodes as far as its
bytes allow, and `binding_findings` says what is wrong (rule ids as in cli.md),
so `dump` can show a broken pool, `validate` can report it, and an edit can refuse it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pmpoolctl.buffers import Buffer
from pmpoolctl.check.findings import Finding
from pmpoolctl.check.rules import finding
from pmpoolctl.check.shape import EMPTY, OVERFLOW, UNALIGNED, shape_faults
from pmpoolctl.dtb.format import escaped, status_okay
from pmpoolctl.dtb.writer import Pieces, Value
from pmpoolctl.ranges.arrayops import base_order, canonical_of
from pmpoolctl.ranges.everyaddress import WHOLE_RANGE, Canonical
from pmpoolctl.ranges.rangearray import PAIR_BYTES, RangeArray, range_array_of
from pmpoolctl.ranges.rangeset import Range

COMPATIBLE = "pmpool-v1"
DEFAULT_POOL = "default_pmpool"
DEFAULT_PAGE_SIZE = 4096
MIN_PAGE_SIZE = 4096
MAX_PAGE_SIZE = 1 << 31  # page-size is a u32: its largest power of two

PROP_COMPATIBLE = "compatible"
PROP_PAGE_SIZE = "page-size"
PROP_PAGE_RANGES = "page-ranges"

RANGE_ENTRY_SIZE = PAIR_BYTES  # a (base, size) pair of big-endian u64

# What the binding forbids in the pool node, and why: the node has no unit address and carries its
# own fixed 64-bit encoding, so dtc compiles and decompiles it without warnings.
FORBIDDEN_PROPERTIES = {
    "reg": "a pool has no address of its own (no unit address, so dtc warns unit_address_vs_reg)",
    "#address-cells": "page-ranges is u64 pairs whatever the cells, and a pool has no children to give them to",
    "#size-cells": "page-ranges is u64 pairs whatever the cells, and a pool has no children to give them to",
}


@dataclass
class Pool:
    """A decoded pool node. `properties` holds every property's raw bytes, in order."""

    name: str
    properties: list[tuple[str, Buffer]]  # page-ranges as a view of the blob; the rest as bytes
    compatible: str | None
    page_size: int
    ranges: RangeArray
    problems: list[Finding] = field(default_factory=list)
    canonical: bool = False  # ranges sorted, disjoint, not touching, non-empty, aligned: no canonical findings

    @property
    def path(self) -> str:
        return "/" + self.name

    @property
    def total_bytes(self) -> int:
        return self.ranges.total_size

    @property
    def total_pages(self) -> int:
        return self.total_bytes // self.page_size

    def canonical_ranges(self) -> Canonical:
        """The ranges as sorted, disjoint, non-touching, non-empty spans (touching ones merged);
        EVERY_ADDRESS when they cover all 2^64 addresses (a range-overflow finding says so)."""
        return self.ranges if self.canonical else canonical_of(self.ranges)

    def extra_properties(self) -> list[tuple[str, bytes]]:
        """Properties the binding does not define, kept on edit and shown by dump."""
        known = (PROP_COMPATIBLE, PROP_PAGE_SIZE, PROP_PAGE_RANGES)
        return [(name, bytes(value)) for name, value in self.properties if name not in known]


def decode_u64_pairs(data: Buffer) -> RangeArray:
    """(base, size) pairs of big-endian u64; trailing bytes short of a pair are ignored."""
    return RangeArray.from_be_bytes(data)


def encode_u64_pairs(ranges: Sequence[Range]) -> bytes:
    """The `page-ranges` bytes for `ranges` (each base and size must fit in a u64)."""
    return range_array_of(ranges).to_be_bytes()


def _decode_strings(value: bytes) -> str | None:
    """A single NUL-terminated string, or None when the bytes are not one."""
    if not value.endswith(b"\0") or b"\0" in value[:-1]:
        return None
    try:
        return value[:-1].decode("ascii")
    except UnicodeDecodeError:
        return None


def _invalid(message: str) -> Finding:
    return finding("binding-invalid", message)


def decode_pool(name: str, properties: Sequence[tuple[str, Buffer]], like: Pool | None = None) -> Pool:
    """Decode a pool node's properties; binding violations go to `Pool.problems`.

    `like`, another version of the pool (diff's other side), only makes the check faster: the
    ranges the two share need no second look when `like` is canonical for the same page size.
    """
    values = dict(properties)
    problems: list[Finding] = []
    path = "/" + name
    status = values.get("status")
    if status is not None and not status_okay(bytes(status)):
        shown = escaped(bytes(status).split(b"\0", 1)[0][:40])
        problems.append(
            _invalid(
                f'{path} has status "{shown}": a reader that honours status (of_device_is_available) '
                "skips the pool, and its pages are not kept"
            )
        )
    if "@" in name:
        problems.append(
            _invalid(
                f"{path} has a unit address, which a pool node must not have: a reader that looks up "
                f"/{name.split('@', 1)[0]} (fdtget, the kernel's early FDT code) takes this node for that pool"
            )
        )

    problems.extend(
        _invalid(f"{path} has '{prop}', which the binding forbids in a pool node: {why}")
        for prop, why in FORBIDDEN_PROPERTIES.items()
        if prop in values
    )

    raw_compatible = None if PROP_COMPATIBLE not in values else bytes(values[PROP_COMPATIBLE])
    compatible = None
    if raw_compatible is None:
        problems.append(_invalid(f"{path} has no '{PROP_COMPATIBLE}' property (expected \"{COMPATIBLE}\")"))
    else:
        compatible = _decode_strings(raw_compatible)
        shown = escaped(raw_compatible[:-1] if compatible is not None else raw_compatible)
        if compatible != COMPATIBLE:
            problems.append(_invalid(f'{path} compatible is "{shown}", expected "{COMPATIBLE}"'))
            compatible = shown

    page_size = DEFAULT_PAGE_SIZE
    raw_page_size = values.get(PROP_PAGE_SIZE)
    if raw_page_size is not None:
        if len(raw_page_size) != 4:
            problems.append(_invalid(f"{path} page-size is {len(raw_page_size)} bytes long, expected a 4-byte u32"))
        else:
            value = int.from_bytes(raw_page_size, "big")
            if value < MIN_PAGE_SIZE or value & (value - 1):
                problems.append(_invalid(f"{path} page-size {value} is not a power of two of at least {MIN_PAGE_SIZE}"))
            else:
                page_size = value

    raw_ranges = values.get(PROP_PAGE_RANGES)
    if raw_ranges is None:
        problems.append(_invalid(f"{path} has no '{PROP_PAGE_RANGES}' property (it may be empty, not missing)"))
        raw_ranges = b""
    elif len(raw_ranges) % RANGE_ENTRY_SIZE:
        problems.append(
            _invalid(
                f"{path} page-ranges is {len(raw_ranges)} bytes long, which is not a multiple of "
                f"{RANGE_ENTRY_SIZE} (a pair of u64 per range)"
            )
        )
    ranges = decode_u64_pairs(raw_ranges)
    pool = Pool(name, list(properties), compatible, page_size, ranges, problems)
    known = like.ranges if like is not None and like.canonical and like.page_size == page_size else None
    shape = canonical_findings(ranges, page_size, known)
    pool.problems.extend(shape)
    pool.canonical = not shape
    return pool


def canonical_findings(ranges: Sequence[Range], page_size: int, like: RangeArray | None = None) -> list[Finding]:
    """Where `ranges` break the canonical form (binding rules 1-5), in the order of cli.md's rule table.

    `like`, when given, is canonical for `page_size`: only what `ranges` do not share with it is checked.
    """
    if isinstance(ranges, RangeArray) and (
        ranges.is_canonical(page_size) if like is None else ranges.is_canonical_like(page_size, like)
    ):
        return []  # the usual case, answered at C speed; the loops below name each fault
    findings: list[Finding] = []
    messages = {
        EMPTY: "range at {r.base:#x} has size 0",
        UNALIGNED: "range {r} is not aligned to the page size {page_size:#x}",
        OVERFLOW: "range at {r.base:#x} ends past 2^64",
    }
    for r in ranges:
        findings.extend(
            finding(rule, messages[rule].format(r=r, page_size=page_size), r) for rule in shape_faults(r, page_size)
        )
    shape_count = len(findings)  # the whole-space range-overflow goes after these, before the order rules
    # Each order rule keeps its first pairs of (range, the range it clashes with) and counts the
    # rest: findings are made for the first few only (a reversed pool of 200,000 ranges has 199,999
    # pairs, and holding them all costs more than the pool).
    unsorted = _Pairs()
    for prev, cur in itertools.pairwise(ranges):
        if cur.base < prev.base:
            unsorted.add(cur, prev)
    findings.extend(_summarised(unsorted, _unsorted, "come after a range that starts higher"))
    # Overlap and touching by base order: each range against the furthest end seen so far.
    overlaps, touching = _Pairs(), _Pairs()
    array_of = ranges if isinstance(ranges, RangeArray) else range_array_of(ranges)
    bases, sizes = array_of.bases, array_of.sizes
    furthest = -1  # the index of the range that reaches furthest so far
    furthest_end = 0
    gapless = True  # no address below furthest_end is missing: the ranges may cover all 2^64
    for i in base_order(array_of):
        size = sizes[i]
        if not size:
            continue
        base = bases[i]
        if furthest >= 0:
            if base < furthest_end:
                overlaps.add(Range(base, size), Range(bases[furthest], sizes[furthest]))
            elif base == furthest_end:
                touching.add(Range(base, size), Range(bases[furthest], sizes[furthest]))
        gapless = gapless and base <= furthest_end
        if furthest < 0 or base + size > furthest_end:
            furthest, furthest_end = i, base + size
    findings.extend(_summarised(overlaps, _overlap, "overlap a range before them"))
    findings.extend(_summarised(touching, _touching, "touch the range before them"))
    if gapless and furthest_end >= WHOLE_RANGE.end:
        # Each range may be fine, but merged they are [0, 2^64): a size no u64 can say, so no
        # canonical page-ranges holds this pool, and it leaves the next kernel no page at all.
        message = (
            f"the ranges cover all 2^64 addresses: merged they are {WHOLE_RANGE}, of size 2^64, "
            "which no u64 size can hold (and no page is left to the next kernel)"
        )
        findings.insert(shape_count, finding("range-overflow", message, WHOLE_RANGE))
    return findings


class _Pairs:
    """The first pairs of an order rule (as many as `_summarised` names) and how many there are."""

    def __init__(self) -> None:
        self.first: list[tuple[Range, Range]] = []
        self.count = 0

    def add(self, r: Range, other: Range) -> None:
        if len(self.first) <= ORDER_FINDINGS_SHOWN:
            self.first.append((r, other))
        self.count += 1


def _unsorted(r: Range, before: Range) -> Finding:
    return finding("ranges-unsorted", f"range {r} comes after {before}, which starts higher", r)


def _overlap(r: Range, before: Range) -> Finding:
    return finding("range-overlap", f"range {r} overlaps {before}", r)


def _touching(r: Range, before: Range) -> Finding:
    return finding("ranges-not-coalesced", f"range {r} touches {before}; merge them", r)


ORDER_FINDINGS_SHOWN = 5  # of each order rule; the rest are one finding with their count


def _summarised(pairs: _Pairs, make: Callable[[Range, Range], Finding], what: str) -> list[Finding]:
    """Findings for the first few pairs of an order rule, then one that counts the rest.

    A reversed pool is one fault, not 199,999 lines to read; the count is kept
    (`Finding.count`, JSON `count`) and the first of the rest is named.
    """
    if pairs.count <= ORDER_FINDINGS_SHOWN + 1:
        return [make(*pair) for pair in pairs.first]
    shown = [make(*pair) for pair in pairs.first[:ORDER_FINDINGS_SHOWN]]
    rest = pairs.count - ORDER_FINDINGS_SHOWN
    first = make(*pairs.first[ORDER_FINDINGS_SHOWN])
    message = f"{rest} more ranges {what} ({pairs.count} in all), the first of them {first.range}"
    return [*shown, finding(first.rule, message, count=rest)]


def pool_properties(pool: Pool | None, ranges: Sequence[Range], page_size: int) -> list[tuple[str, Value]]:
    """The pool node's properties with `ranges` written: existing order and extras kept."""
    return encoded_pool_properties(pool, range_array_of(ranges).be_parts(), page_size)


def encoded_pool_properties(pool: Pool | None, parts: Sequence[Buffer], page_size: int) -> list[tuple[str, Value]]:
    """`pool_properties` with the ranges given as their big-endian pairs, in pieces (`RangeArray.be_parts`)."""
    encoded: Value = parts[0] if len(parts) == 1 else Pieces(parts)
    if pool is None:
        return [
            (PROP_COMPATIBLE, COMPATIBLE.encode("ascii") + b"\0"),
            (PROP_PAGE_SIZE, page_size.to_bytes(4, "big")),
            (PROP_PAGE_RANGES, encoded),
        ]
    return [(name, encoded if name == PROP_PAGE_RANGES else value) for name, value in pool.properties]


def valid_pool_name(name: str) -> bool:
    """A node name dtc accepts, without a unit address (the binding forbids one)."""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+-")
    return 0 < len(name) <= 31 and all(c in allowed for c in name)


def claims_pool_compatible(value: bytes) -> bool:
    """Whether a node's `compatible` list names the binding's among its strings, as a reader that
    matches by compatible (libfdt's fdt_stringlist_contains, the kernel's of_device_is_compatible)
    takes it: such a node is a pool to that reader, whether or not it is exactly the binding's.
    (A last string without its NUL counts too: libfdt may compare the padding byte after it.)"""
    return COMPATIBLE.encode("ascii") in value.split(b"\0")
