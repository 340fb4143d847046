"""A blob's own memory map, as the kernel reads it (drivers/of/fdt.c, drivers/of/of_reserved_mem.c).

RAM is the `/memory*` nodes that are available (`status` absent, "okay" or "ok"), each by its
`linux,usable-memory` when it has one, else by its `reg`, cut to `/chosen`'s
`linux,usable-memory-range` when it has one. Reserved is the reservation block, the `reg` of
`/reserved-memory` children and the regions `/chosen` names (`chosen`: the initrd, elfcorehdr,
KHO's, ...). A child with `size` and no `reg` is placed by the kernel at boot, anywhere inside
its `alloc-ranges`: those ranges are `dynamic` entries, and one without `alloc-ranges` may go
anywhere, so its entry is the whole address space.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Iterator, Sequence
from itertools import repeat
from typing import overload

from pmpoolctl.dtb.format import status_okay
from pmpoolctl.dtb.model import Blob, Node
from pmpoolctl.errors import InputError
from pmpoolctl.memmap.chosen import Chosen, read_chosen
from pmpoolctl.memmap.model import DYNAMIC, RAM, RESERVED, MapEntry, MemoryMap, sorted_entries
from pmpoolctl.numbers import U64_LIMIT

# The devicetree specification's defaults when a node does not say.
DEFAULT_ADDRESS_CELLS = 2
DEFAULT_SIZE_CELLS = 1
# Linux's for the root (drivers/of/of_private.h, OF_ROOT_NODE_*_CELLS_DEFAULT): the kernel reads
# /memory's reg with these when the root does not say, so where they differ from the
# specification's (#address-cells) the memory nodes do not read one way.
KERNEL_ROOT_ADDRESS_CELLS = 1


def _cells(blob: Blob, node: Node, name: str, default: int) -> int:
    prop = node.property(name)
    if prop is None:
        return default
    value = blob.value(prop)
    if len(value) != 4 or not 1 <= int.from_bytes(value, "big") <= 4:
        raise InputError(
            f"{blob.source}: {blob.path(node)} {name} is not a u32 of 1 to 4 (at byte offset {prop.offset:#x})"
        )
    return int.from_bytes(value, "big")


def reg_entries(
    blob: Blob, node: Node, address_cells: int, size_cells: int, name: str = "reg", *, empty: bool = False
) -> Iterator[tuple[int, int]]:
    """(start, end) pairs of a node's `reg` (or another (address, size) list), read by the parent's cell counts;
    pairs of size 0 are left out, unless `empty`.

    The length is checked at once; the pairs are read as they are taken (a million of them
    need not be a list beside the entries made of them).
    """
    prop = node.property(name)
    if prop is None:
        return iter(())
    value = blob.value(prop)
    stride = 4 * (address_cells + size_cells)
    where = f"{blob.source}: {blob.path(node)} {name}"
    if len(value) % stride:
        raise InputError(
            f"{where} has length {len(value)}, which is not a multiple of {stride} "
            f"(4*(#address-cells (= {address_cells}) + #size-cells (= {size_cells}))) (at byte offset {prop.offset:#x})"
        )
    return _pairs(value, 4 * address_cells, stride, f"(at byte offset {prop.offset:#x})", where, empty)


def _pairs(value: bytes, split: int, stride: int, offset: str, where: str, empty: bool) -> Iterator[tuple[int, int]]:
    for at in range(0, len(value), stride):
        start = int.from_bytes(value[at : at + split], "big")
        size = int.from_bytes(value[at + split : at + stride], "big")
        if start + size > U64_LIMIT:
            raise InputError(f"{where} entry at {start:#x} ends past 2^64 {offset}")
        if size or empty:
            yield start, start + size


class ReservationEntries(Sequence[MapEntry]):
    """The reservation block as map entries, then `/reserved-memory` children (static and dynamic).

    A block may hold a million entries; each MapEntry is made when it is asked for,
    and `starts` lets the validator order them without making any.
    """

    def __init__(self, blob: Blob, children: list[MapEntry]) -> None:
        self._addresses = blob.reservations.addresses
        self._sizes = blob.reservations.sizes
        self._source = blob.source
        self._children = children
        self.starts = array("Q", self._addresses)
        self.starts.extend(child.start for child in children)

    def __len__(self) -> int:
        return len(self._addresses) + len(self._children)

    def block_spans(self) -> tuple[array[int], list[int]]:
        """The reservation block's (starts, ends) without an entry made for each (ends clipped to 2^64)."""
        ends = list(map(min, map(operator.add, self._addresses, self._sizes), repeat(U64_LIMIT)))
        return self._addresses, ends

    @property
    def children(self) -> list[MapEntry]:
        """The `/reserved-memory` children's entries, static and dynamic."""
        return self._children

    @overload
    def __getitem__(self, index: int) -> MapEntry: ...
    @overload
    def __getitem__(self, index: slice) -> list[MapEntry]: ...
    def __getitem__(self, index: int | slice) -> MapEntry | list[MapEntry]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        blocks = len(self._addresses)
        if index >= blocks:
            return self._children[index - blocks]
        address = self._addresses[index]
        end = min(address + self._sizes[index], U64_LIMIT)  # sizes are never 0: the reader refuses that
        return MapEntry(address, end, "/memreserve/", RESERVED, f"{self._source}:memreserve[{index}]")


def blob_chosen(blob: Blob) -> Chosen:
    """`/chosen`'s memory, read with the root's cells as the kernel reads them (None: the root does not say)."""
    stated = blob.root.property("#address-cells") is not None
    address_cells = _cells(blob, blob.root, "#address-cells", DEFAULT_ADDRESS_CELLS) if stated else None
    return read_chosen(blob, address_cells, _cells(blob, blob.root, "#size-cells", DEFAULT_SIZE_CELLS))


def blob_reservations(blob: Blob) -> ReservationEntries:
    """The reservation block, `/reserved-memory` children and the regions `/chosen` names: memory the
    next kernel must not use, or may take."""
    children: list[MapEntry] = []
    reserved = blob.child(blob.root, "reserved-memory")
    if reserved is not None:
        root_ac = _cells(blob, blob.root, "#address-cells", DEFAULT_ADDRESS_CELLS)
        root_sc = _cells(blob, blob.root, "#size-cells", DEFAULT_SIZE_CELLS)
        ac = _cells(blob, reserved, "#address-cells", root_ac)
        sc = _cells(blob, reserved, "#size-cells", root_sc)
        for child in blob.children(reserved):
            children.extend(_reserved_child(blob, child, ac, sc))
    children.extend(blob_chosen(blob).regions)
    return ReservationEntries(blob, children)


def _reserved_child(blob: Blob, child: Node, ac: int, sc: int) -> list[MapEntry]:
    """A `/reserved-memory` child's entries: its `reg`, or where the kernel may place it.

    A child with `status = "disabled"` is skipped by the kernel; it is kept here all the
    same (reserved is the safe side when the firmware may still use it).
    """
    where, name = f"{blob.source}:{blob.path(child)}", f"reserved-memory/{child.name}"
    if child.property("reg") is not None or child.property("size") is None:
        return [MapEntry(start, end, name, RESERVED, where) for start, end in reg_entries(blob, child, ac, sc)]
    anywhere = [MapEntry(0, U64_LIMIT, f"{name} (dynamic, anywhere)", DYNAMIC, where)]
    if child.property("alloc-ranges") is None:
        return anywhere
    areas = list(reg_entries(blob, child, ac, sc, "alloc-ranges", empty=True))
    # <0 0> is no empty area: its end, 0, is "no limit" to the kernel (early_init_dt_alloc_reserved_memory_arch
    # makes it MEMBLOCK_ALLOC_ANYWHERE), so the region may be placed anywhere from 0.
    if (0, 0) in areas:
        return anywhere
    return [MapEntry(start, end, f"{name} (dynamic)", DYNAMIC, where) for start, end in areas if start < end]


def _available(blob: Blob, node: Node) -> bool:
    """The kernel's of_fdt_device_is_available(): no `status`, or one that reads "okay" or "ok"."""
    prop = node.property("status")
    return status_okay(None if prop is None else blob.value(prop))


def blob_memory_map(blob: Blob, *, with_reservations: bool = True) -> MemoryMap:
    """RAM from `/memory*` nodes, reserved regions from the blob's reservations."""
    ac = _cells(blob, blob.root, "#address-cells", DEFAULT_ADDRESS_CELLS)
    sc = _cells(blob, blob.root, "#size-cells", DEFAULT_SIZE_CELLS)
    stated = blob.root.property("#address-cells") is not None
    entries: list[MapEntry] = []
    for node in blob.children(blob.root):
        # The kernel's early_init_dt_scan_memory(): a child of the root whose device_type is "memory"
        # (a node named memory@... without it is no memory to the kernel, so none here either).
        device_type = node.property("device_type")
        if device_type is None or blob.value(device_type).split(b"\0", 1)[0] != b"memory":
            continue
        if not _available(blob, node):
            continue
        # The kernel reads linux,usable-memory instead of reg when the node has it (kdump kernels).
        name = "linux,usable-memory" if node.property("linux,usable-memory") is not None else "reg"
        if not stated and node.property(name) is not None:
            raise InputError(
                f"{blob.source}: the root has no #address-cells, so {blob.path(node)} {name} does not read one "
                f"way: the devicetree specification says {DEFAULT_ADDRESS_CELLS} cells, the kernel reads "
                f"{KERNEL_ROOT_ADDRESS_CELLS}; a blob whose memory is a map must say (dtc warns of it too)"
            )
        type_word, where = "memory" if name == "reg" else name, f"{blob.source}:{blob.path(node)}"
        entries.extend(
            MapEntry(start, end, type_word, RAM, where) for start, end in reg_entries(blob, node, ac, sc, name)
        )
    if not entries:
        raise InputError(
            f"{blob.source}: no /memory nodes that are available and have a reg: the blob has no memory map"
        )
    chosen = blob_chosen(blob)
    if chosen.uefi_mmap is not None:
        raise InputError(
            f"{chosen.uefi_mmap}: the kernel takes its RAM from the UEFI memory map there, not from the /memory "
            "nodes (efi_init drops them), and the blob does not hold that map: give a map of RAM (--memmap SRC)"
        )
    if chosen.usable is not None:
        entries = _usable_only(entries, chosen.usable, chosen.usable_source)
    if with_reservations:
        entries.extend(blob_reservations(blob))
    return MemoryMap(blob.source, "dtb", sorted_entries(entries))


def _usable_only(ram: list[MapEntry], usable: list[tuple[int, int]], source: str) -> list[MapEntry]:
    """RAM cut to `usable`, and what was cut as reserved entries naming `/chosen`, so a range there is
    outside RAM because of it. The kernel adds the second range as RAM even where no /memory node says
    so (memblock_add); here it is RAM only where both say it, the safe side of that."""
    kept: list[MapEntry] = []
    cut = f"{source.rpartition(':')[2]} (not usable)"
    for entry in ram:
        cursor = entry.start
        for start, end in sorted(usable):
            low, high = max(start, entry.start), min(end, entry.end)
            if low >= high:
                continue
            if cursor < low:
                kept.append(MapEntry(cursor, low, cut, RESERVED, source))
            kept.append(entry._replace(start=low, end=high))
            cursor = max(cursor, high)
        if cursor < entry.end:
            kept.append(MapEntry(cursor, entry.end, cut, RESERVED, source))
    return kept
