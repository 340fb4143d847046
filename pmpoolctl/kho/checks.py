"""What `kho validate` and `validate --kho` hold KHO state to, as findings and zones.

- The reserve_mem regions are a pool for `validate`: the memory-map rules and rule ids
  of pool ranges, page alignment, no overlap (`as_pool`).
- `preserved-memory-map` of 0 makes the next kernel drop all KHO state
  (`kho_populate`: "disabling KHO revival"): `kho-not-finalized`.
- The next kernel boots and allocates only from the scratch areas until memblock is up,
  so a region, a sub-blob or the memory map's first page inside one is overwritten:
  `range-in-kho-scratch` (reserve_mem places its regions with no regard to scratch:
  memblock.c's "TODO: Allocation must be outside of scratch region").
- With `validate BLOB --kho PATH`, pool ranges are held to the scratch areas and to what
  KHO preserves as far as the state shows it (the reserve_mem regions, each sub-blob's
  pages, the memory map's first page, LUO's tables): `range-in-kho-preserved`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pmpoolctl.check.findings import Conflict, Finding
from pmpoolctl.check.rules import finding
from pmpoolctl.check.shape import EMPTY, OVERFLOW, UNALIGNED, shape_faults
from pmpoolctl.check.validate import Zone
from pmpoolctl.errors import InputError
from pmpoolctl.files.inputs import display_name
from pmpoolctl.kho.abi import CHUNK_LIST
from pmpoolctl.kho.blobs import MEMBLOCK_COMPATIBLE, ReserveMem
from pmpoolctl.kho.scratch import ScratchArea
from pmpoolctl.kho.tree import KERNEL_PAGE, KhoState, SubBlob
from pmpoolctl.memmap.model import RESERVED, MapEntry
from pmpoolctl.numbers import U64_LIMIT
from pmpoolctl.pool.binding import Pool
from pmpoolctl.ranges.rangearray import RangeArray
from pmpoolctl.ranges.rangeset import Range

SCRATCH_TYPE = "KHO scratch"
MEMORY_MAP_PAGE = 4096  # the first page of the memory map: the least of it that must survive
# luo_session.c: the session table is LUO_SESSION_PGCNT (16) pages from kho_alloc_preserve, in
# luo-session-v1 and v2 alike (a new ABI version changes the entries, not the table): by the node's
# name, so that a version this pmpoolctl has not seen is not held to one page only. Others (luo-flb:
# LUO_FLB_PGCNT) are one page.
LUO_TABLE_PAGES = {"luo-session": 16}


def as_pool(state: KhoState, page_size: int) -> Pool:
    """The reserve_mem regions as a pool for `validate`: the same map rules and rule ids as pool ranges.

    Regions need not be sorted (the kernel lists them as it reserved them), so only
    what is wrong for any region is a problem here: empty, unaligned, past 2^64,
    overlapping another region.
    """
    regions = sorted(state.reserve_mem(), key=lambda r: (r.start, r.size))
    ranges = [Range(r.start, r.size) for r in regions]
    problems: list[Finding] = []
    messages = {EMPTY: "has size 0", UNALIGNED: f"is not aligned to {page_size:#x}", OVERFLOW: "ends past 2^64"}
    for region, r in zip(regions, ranges):
        what = f"reserve_mem region {region.name} {r}"
        faults = [rule for rule in shape_faults(r, page_size) if not (rule == UNALIGNED and r.size == 0)]
        problems.extend(finding(rule, f"{what} {messages[rule]}", r) for rule in faults)
    reach: tuple[ReserveMem, Range] | None = None  # the region reaching furthest so far
    for region, r in zip(regions, ranges):
        if reach is not None and r.size and r.base < reach[1].end:
            message = f"reserve_mem regions {reach[0].name} {reach[1]} and {region.name} {r} overlap"
            problems.append(finding("range-overlap", message, r))
        if reach is None or r.end > reach[1].end:
            reach = (region, r)
    return Pool("memblock", [], MEMBLOCK_COMPATIBLE, page_size, RangeArray.from_ranges(ranges), problems)


def scratch_zone(state: KhoState) -> Zone:
    """The scratch areas, which nothing that must survive may overlap (an empty zone when there are none)."""
    return scratch_areas_zone(state.scratch or (), state.source)


def scratch_areas_zone(areas: Sequence[ScratchArea], source: str) -> Zone:
    """`areas` (of the kho/out `source`) as the zone of range-in-kho-scratch."""
    entries = [MapEntry(a.start, a.end, SCRATCH_TYPE, RESERVED, a.source) for a in areas]
    where = f"{display_name(source)}'s KHO scratch areas, where the next kernel boots and allocates"
    return Zone("range-in-kho-scratch", where, entries)


def preserved_zone(state: KhoState) -> Zone:
    """What KHO preserves that the state shows, and a pool must leave alone.

    Every reserve_mem region, and the pieces of the handover itself (`_handover_pieces`).
    The memory map's other pages and what it lists (memfd folios, vmalloc pages) are not
    in debugfs, so they cannot be checked.
    """
    return sub_blobs_zone(state.subtrees, state.source, state.root_file, state.preserved_memory_map)


def sub_blobs_zone(subtrees: Sequence[SubBlob], source: str, root_file: str, memory_map: int | None = None) -> Zone:
    """What the sub-blobs `subtrees` (of the kho/out `source`) show KHO preserves, and the memory map's first page."""
    entries = []
    for tree in subtrees:
        where = display_name(tree.file or root_file)
        for region in tree.reserve_mem or ():
            if region.size and region.end <= U64_LIMIT:
                entries.append(MapEntry(region.start, region.end, f"reserve_mem {region.name}", RESERVED, where))
    for what, r, where in _handover_pieces(subtrees, root_file, memory_map):
        entries.append(MapEntry(r.base, r.end, f"KHO {what}", RESERVED, where))
    return Zone("range-in-kho-preserved", f"what {display_name(source)} preserves across kexec", entries)


def _handover_pieces(
    subtrees: Sequence[SubBlob], root_file: str, memory_map: int | None
) -> list[tuple[str, Range, str]]:
    """(what, where, whose file says so) for the preserved memory the next kernel reads the handover from.

    The first page of the memory map, each sub-blob's pages, each LUO table: the next kernel
    walks them before anything else, so none may be overwritten, nor lie in a scratch area.
    """
    pieces: list[tuple[str, Range, str]] = []
    if memory_map:
        pieces.append(("preserved memory map", Range(memory_map, _capped(memory_map, MEMORY_MAP_PAGE)), root_file))
    for tree in subtrees:
        source = tree.file or root_file
        if (extent := tree.extent) is not None:
            pieces.append((f"sub-blob {tree.name}", extent, source))
        for child in tree.luo.children if tree.luo is not None else ():
            if child.header:
                size = LUO_TABLE_PAGES.get(child.name, 1) * KERNEL_PAGE
                pieces.append((f"LUO {child.name} table", Range(child.header, _capped(child.header, size)), source))
    return [(what, r, display_name(source)) for what, r, source in pieces if r.size]


def _capped(start: int, size: int) -> int:
    return min(size, U64_LIMIT - start)


def require_scratch(state: KhoState) -> None:
    """`validate --kho` holds the pool to the scratch areas: a PATH without them would check nothing of that."""
    if state.scratch is None:
        raise InputError(
            f"{display_name(state.source)}: no scratch_phys/scratch_len here: give the kho/out directory, "
            "whose scratch areas the pool must stay clear of"
        )


def state_findings(state: KhoState) -> list[Finding]:
    """Findings about the state itself: an unfinalized root, sub-blobs and the memory map in scratch."""
    findings: list[Finding] = []
    if state.preserved_memory_map == 0:
        findings.append(_not_finalized(state))
    areas = state.scratch or ()
    pieces = _handover_pieces(state.subtrees, state.root_file, state.preserved_memory_map)
    for what, r, _ in pieces:  # reserve_mem regions: findings of the pool `as_pool` makes
        hits = [a for a in areas if a.size and a.start < r.end and r.base < a.end]
        if not hits:
            continue
        first, *rest = (Conflict(a.start, a.end, SCRATCH_TYPE, a.source) for a in hits)
        message = (
            f"{what} {r} lies in the KHO scratch area [{first.start:#x}, {first.end:#x}) ({first.source}): "
            "the next kernel boots and allocates there before it reads the handover"
        )
        findings.append(finding("range-in-kho-scratch", message, r, first, tuple(rest)))
    return findings


def _not_finalized(state: KhoState) -> Finding:
    root = display_name(state.root_file)
    dropped = "a next kernel booted with it drops all KHO state ('disabling KHO revival')"
    abi = state.abi
    if abi is not None and abi.memory_map == CHUNK_LIST:
        stale = "; kho/out/finalize says 1, so this fdt was copied before finalize" if state.finalized else ""
        message = (
            f"{root}: preserved-memory-map is 0: {abi.version} is not finalized, and {dropped}{stale}. "
            "Finalize (echo 1 > /sys/kernel/debug/kho/out/finalize) and copy kho/out again; with LUO "
            "(liveupdate=on, 6.19+) LUO finalizes at reboot, so a copy taken before the reboot always shows 0"
        )
    else:
        version = abi.version if abi is not None else "this version"
        message = (
            f"{root}: preserved-memory-map is 0, but {version} writes its radix tree's root there at boot and "
            f"has no finalize: the state is damaged, and {dropped}"
        )
    return finding("kho-not-finalized", message)
