"""Kexec handover (KHO) state of Linux 6.16+: its root FDT, the users' sub-FDTs, memblock's reserve_mem regions.

KHO uses the FDT container but not device-tree conventions: its u64 values are
in the CPU's byte order (little-endian on x86 and arm64), which is why dtc and
fdtget print them wrongly. The layout (`../shared/spec/binding.md`, the kernel's
Documentation/core-api/kho):

    /            compatible = "kho-v1" | "kho-v2"; preserved-memory-map = u64
    /NAME        fdt = u64 (v1) | preserved-data = u64 (v2): the user's sub-FDT
    memblock's sub-FDT:  / compatible = "memblock-v1"
                         /NAME compatible = "reserve-mem-v1"; start = u64; size = u64

PATH is a root FDT file, or a directory laid out like /sys/kernel/debug/kho/out
(or `in`): a file `fdt` and a folder `sub_fdts/` of sub-FDTs named by their user.
Any wrong length, missing property or unreadable sub-FDT is an InputError that
names the file and the property.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pmpoolctl.binding import Pool
from pmpoolctl.blob import Blob, Node, parse_blob
from pmpoolctl.errors import InputError
from pmpoolctl.fdtformat import escaped
from pmpoolctl.files import display_name, read_blob_bytes
from pmpoolctl.findings import Finding, Severity
from pmpoolctl.numbers import U64_LIMIT
from pmpoolctl.rangearray import RangeArray
from pmpoolctl.ranges import Range

# The property that holds a user's sub-FDT address, per root compatible.
SUBTREE_PROPERTY = {"kho-v1": "fdt", "kho-v2": "preserved-data"}
KNOWN_COMPATIBLES = tuple(SUBTREE_PROPERTY)
PROP_MEMORY_MAP = "preserved-memory-map"
MEMBLOCK_COMPATIBLE = "memblock-v1"
RESERVE_MEM_COMPATIBLE = "reserve-mem-v1"
ROOT_FILE = "fdt"
SUB_FDTS = "sub_fdts"
BYTE_ORDERS = ("little", "big")


@dataclass(frozen=True)
class ReserveMem:
    """A `reserve_mem=` region memblock hands over: [start, start + size)."""

    name: str
    start: int
    size: int


@dataclass(frozen=True)
class SubTree:
    """A KHO user: its node in the root, and its sub-FDT when one was found under sub_fdts/."""

    name: str
    address: int | None  # None: a sub-FDT file with no node in the root
    compatible: str | None  # of the sub-FDT; None when it was not found or has none
    file: str | None  # the sub-FDT file read, if any
    reserve_mem: list[ReserveMem] | None  # memblock's regions; None for other users


@dataclass(frozen=True)
class KhoState:
    source: str  # PATH as given
    root_file: str
    compatible: str | None
    preserved_memory_map: int
    subtrees: list[SubTree]
    byte_order: str
    sub_dir: str | None = None  # the sub_fdts/ directory read, if any

    @property
    def known(self) -> bool:
        return self.compatible in KNOWN_COMPATIBLES

    def reserve_mem(self) -> list[ReserveMem]:
        return [region for tree in self.subtrees for region in tree.reserve_mem or ()]


def _string(blob: Blob, node: Node, name: str) -> str | None:
    """The first string of a property (compatible may list several), or None when absent."""
    prop = node.property(name)
    if prop is None:
        return None
    first = blob.value(prop).split(b"\0", 1)[0]
    return escaped(first, 64)  # shown to people: control bytes escaped, never raw


def _u64(blob: Blob, node: Node, name: str, byte_order: str, *, what: str) -> int:
    prop = node.property(name)
    where = f"{blob.source}: {blob.path(node)}"
    if prop is None:
        raise InputError(f"{where}: no '{name}' property ({what}, a u64)")
    value = blob.value(prop)
    if len(value) != 8:
        raise InputError(
            f"{where}: property '{name}' is {len(value)} bytes, a u64 is 8 (at byte offset {prop.value_offset:#x})"
        )
    return int.from_bytes(value, "little" if byte_order == "little" else "big")


def _read(path: str) -> Blob:
    return parse_blob(read_blob_bytes(path), display_name(path))


def _reserve_mem(blob: Blob, byte_order: str) -> list[ReserveMem]:
    regions = []
    for node in blob.children(blob.root):
        if _string(blob, node, "compatible") != RESERVE_MEM_COMPATIBLE:
            continue
        start = _u64(blob, node, "start", byte_order, what="the region's physical start")
        size = _u64(blob, node, "size", byte_order, what="the region's size")
        regions.append(ReserveMem(node.name, start, size))
    return regions


def _subtree(name: str, address: int | None, sub_dir: str | None, byte_order: str) -> SubTree:
    # Node names are [A-Za-z0-9,._+@-] (the reader checks), so only "." and ".." could leave sub_fdts/.
    path = os.path.join(sub_dir, name) if sub_dir is not None and name not in (".", "..") else None
    if path is None or not os.path.isfile(path):
        return SubTree(name, address, None, None, None)
    blob = _read(path)
    compatible = _string(blob, blob.root, "compatible")
    regions = _reserve_mem(blob, byte_order) if compatible == MEMBLOCK_COMPATIBLE else None
    return SubTree(name, address, compatible, path, regions)


def load_kho(path: str, byte_order: str = "little") -> KhoState:
    """Read a KHO root FDT, or a kho/out-style directory with its sub-FDTs."""
    sub_dir: str | None = None
    if os.path.isdir(path):
        root_file = os.path.join(path, ROOT_FILE)
        sub_dir = os.path.join(path, SUB_FDTS)
        if not os.path.isfile(root_file):
            raise InputError(
                f"{display_name(path)}: no root FDT '{ROOT_FILE}' in this directory (expected a kho/out layout)"
            )
        if not os.path.isdir(sub_dir):
            sub_dir = None  # a root alone: users are listed by address, their sub-FDTs unread
    else:
        root_file = path
    root = _read(root_file)
    compatible = _string(root, root.root, "compatible")
    memory_map = _u64(root, root.root, PROP_MEMORY_MAP, byte_order, what="the preserved memory map's address")
    subtrees = []
    for node in root.children(root.root):
        wanted = SUBTREE_PROPERTY.get(compatible or "")
        if wanted is None:  # an unknown version: take whichever address property the node has
            wanted = next((p for p in SUBTREE_PROPERTY.values() if node.property(p) is not None), "fdt")
        address = _u64(root, node, wanted, byte_order, what="the physical address of the user's sub-FDT")
        subtrees.append(_subtree(node.name, address, sub_dir, byte_order))
    if sub_dir is not None:  # sub-FDTs with no node in the root are listed too: the next kernel gets them
        named = {tree.name for tree in subtrees}
        try:
            files = sorted(os.listdir(sub_dir))
        except OSError as exc:
            raise InputError(f"{display_name(sub_dir)}: cannot list: {exc.strerror}") from exc
        for name in files:
            if name not in named and os.path.isfile(os.path.join(sub_dir, name)):
                subtrees.append(_subtree(name, None, sub_dir, byte_order))
    return KhoState(path, root_file, compatible, memory_map, subtrees, byte_order, sub_dir)


def require_complete(state: KhoState) -> None:
    """Refuse state whose root names a user whose sub-FDT was not read: checking it would check nothing.

    What the root hands over but this copy lacks cannot be held to any rule, so a check
    of it is never a pass (an InputError, exit 3).
    """
    missing = [tree for tree in state.subtrees if tree.address is not None and tree.file is None]
    if not missing:
        return
    names = ", ".join(repr(tree.name) for tree in missing)
    if state.sub_dir is None:
        raise InputError(
            f"{display_name(state.source)}: the root hands over {names}, whose sub-FDTs are not here: "
            "give the whole kho/out directory (fdt and sub_fdts/), not the root FDT alone"
        )
    first = missing[0]
    raise InputError(
        f"{display_name(os.path.join(state.sub_dir, first.name))}: missing or not a file: the root hands over "
        f"{first.name!r} (sub-FDT at {first.address:#x}), which cannot be checked without it"
        + (f" (nor {len(missing) - 1} more)" if len(missing) > 1 else "")
    )


def as_pool(state: KhoState, page_size: int) -> Pool:
    """The reserve_mem regions as a pool for `validate`: the same map rules and rule ids as pool ranges.

    Regions need not be sorted (the kernel lists them as it reserved them), so only
    what is wrong for any region is a problem here: empty, unaligned, past 2^64,
    overlapping another region.
    """
    regions = sorted(state.reserve_mem(), key=lambda r: (r.start, r.size))
    ranges = [Range(r.start, r.size) for r in regions]
    problems: list[Finding] = []
    for region, r in zip(regions, ranges):
        what = f"reserve_mem region {region.name} {r}"
        if r.size == 0:
            problems.append(Finding("range-empty", Severity.ERROR, f"{what} has size 0", r))
        elif r.base % page_size or r.size % page_size:
            problems.append(Finding("range-unaligned", Severity.ERROR, f"{what} is not aligned to {page_size:#x}", r))
        if r.end > U64_LIMIT:
            problems.append(Finding("range-overflow", Severity.ERROR, f"{what} ends past 2^64", r))
    reach: tuple[ReserveMem, Range] | None = None  # the region reaching furthest so far
    for region, r in zip(regions, ranges):
        if reach is not None and r.size and r.base < reach[1].end:
            message = f"reserve_mem regions {reach[0].name} {reach[1]} and {region.name} {r} overlap"
            problems.append(Finding("range-overlap", Severity.ERROR, message, r))
        if reach is None or r.end > reach[1].end:
            reach = (region, r)
    return Pool("memblock", [], MEMBLOCK_COMPATIBLE, page_size, RangeArray.from_ranges(ranges), problems)
