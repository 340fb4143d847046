"""What a blob's `/chosen` says about memory, read as the kernel reads it when it boots with the blob.

- `linux,initrd-start`, `linux,initrd-end`: the initrd is [start, end), each a u32 or a u64 by its
  length (drivers/of/fdt.c early_init_dt_check_for_initrd; reserve_initrd_mem reserves it).
- `linux,elfcorehdr`: <address size> in the root's cells, the crashed kernel's ELF core header, which
  fdt_reserve_elfcorehdr reserves.
- `linux,usable-memory-range`: <address size> pairs; RAM is cut to the first range and the second is
  added (early_init_dt_check_for_usable_mem_range reads two, the rest not): RAM outside them is not usable.
- `linux,kho-fdt`, `linux,kho-scratch`: <address size>, KHO's root FDT and its scratch array, which the
  next kernel reads before anything else (early_init_dt_check_kho).
- `linux,ima-kexec-buffer`, `linux,tpm-kexec-buffer`: <address size>, the IMA measurement list and the
  TPM event log carried over a kexec (drivers/of/kexec.c).
- `linux,uefi-mmap-start`, `linux,uefi-mmap-size`: the UEFI memory map (u32 or u64 by length,
  drivers/firmware/efi/fdtparams.c). efi_init reserves it, and reserve_regions takes RAM from it,
  dropping what the `/memory` nodes said.

The kernel skips a property of a length it does not expect, and misreads some (elfcorehdr and
usable-memory-range compare a length in bytes with a count of cells). Here each of those is an
InputError naming the property: a region that is not read is not known to be clear of the pool.
"""

from __future__ import annotations

from typing import NamedTuple

from pmpoolctl.dtb.model import Blob, Node
from pmpoolctl.errors import InputError
from pmpoolctl.memmap.model import RESERVED, MapEntry
from pmpoolctl.numbers import U64_LIMIT

INITRD_START, INITRD_END = "linux,initrd-start", "linux,initrd-end"
USABLE_RANGE = "linux,usable-memory-range"
UEFI_MMAP_START, UEFI_MMAP_SIZE = "linux,uefi-mmap-start", "linux,uefi-mmap-size"
# <address size> properties in the root's cells, each memory the next kernel reads.
ADDRESS_SIZE_REGIONS = (
    "linux,elfcorehdr",
    "linux,kho-fdt",
    "linux,kho-scratch",
    "linux,ima-kexec-buffer",
    "linux,tpm-kexec-buffer",
)
USABLE_RANGES_READ = 2  # MAX_USABLE_RANGES in drivers/of/fdt.c


class Chosen(NamedTuple):
    """The memory `/chosen` names: regions that are not free, and the limit it puts on RAM."""

    regions: list[MapEntry]  # reserved: the initrd, elfcorehdr, KHO's, IMA's and the TPM's buffers, the UEFI map
    usable: list[tuple[int, int]] | None  # linux,usable-memory-range's ranges as (start, end), or None without it
    usable_source: str  # "file:/chosen/linux,usable-memory-range", for the entries its limit makes
    uefi_mmap: str | None  # where the UEFI memory map is named, when it is: then /memory is not the kernel's RAM


NO_CHOSEN = Chosen([], None, "", None)


def read_chosen(blob: Blob, address_cells: int | None, size_cells: int) -> Chosen:
    """`/chosen` (libfdt's: `chosen@...` too) read with the root's cells; `address_cells` None when the root
    does not say (then a property in cells does not read one way, and is refused)."""
    node = blob.child(blob.root, "chosen")
    if node is None:
        return NO_CHOSEN
    reader = _Reader(blob, node, address_cells, size_cells)
    regions: list[MapEntry] = []
    initrd = reader.initrd()
    if initrd is not None:
        regions.append(reader.entry(*initrd, INITRD_START))
    for name in ADDRESS_SIZE_REGIONS:
        pairs = reader.pairs(name, exactly_one=True)
        regions.extend(reader.entry(start, end, name) for start, end in pairs if start < end)
    uefi = reader.uefi_mmap()
    if uefi is not None:
        regions.append(reader.entry(*uefi, UEFI_MMAP_START))
    usable = reader.usable()
    uefi_where = None if uefi is None else reader.where(UEFI_MMAP_START)
    return Chosen(regions, usable, reader.where(USABLE_RANGE), uefi_where)


class _Reader:
    def __init__(self, blob: Blob, node: Node, address_cells: int | None, size_cells: int) -> None:
        self.blob, self.node, self.path = blob, node, blob.path(node)
        self.address_cells, self.size_cells = address_cells, size_cells

    def where(self, name: str) -> str:
        return f"{self.blob.source}:{self.path}/{name}"

    def entry(self, start: int, end: int, name: str) -> MapEntry:
        return MapEntry(start, end, f"{self.path}/{name}", RESERVED, self.where(name))

    def _fault(self, name: str, what: str) -> InputError:
        prop = self.node.property(name)
        offset = "" if prop is None else f" (at byte offset {prop.offset:#x})"
        return InputError(f"{self.blob.source}: {self.path}/{name} {what}{offset}")

    def _value(self, name: str) -> bytes | None:
        prop = self.node.property(name)
        return None if prop is None else self.blob.value(prop)

    def number(self, name: str) -> int | None:
        """A u32 or a u64, by the property's length."""
        value = self._value(name)
        if value is None:
            return None
        if len(value) not in (4, 8):
            raise self._fault(name, f"has length {len(value)}: a u32 or a u64 (4 or 8 bytes) is read")
        return int.from_bytes(value, "big")

    def _span(self, name: str, start: int, size: int) -> tuple[int, int]:
        if start + size > U64_LIMIT:
            raise self._fault(name, f"names [{start:#x}, +{size:#x}), which ends past 2^64")
        return start, start + size

    def initrd(self) -> tuple[int, int] | None:
        start, end = self.number(INITRD_START), self.number(INITRD_END)
        if start is None and end is None:
            return None
        if start is None or end is None:
            # The kernel takes no initrd from half a pair, yet a loader that wrote half meant one.
            present, missing = (INITRD_START, INITRD_END) if end is None else (INITRD_END, INITRD_START)
            raise self._fault(present, f"is given without {missing}: where the initrd is is not known")
        if start > end:
            raise self._fault(INITRD_START, f"{start:#x} is above {INITRD_END} {end:#x}")
        return (start, end) if start < end else None

    def pairs(self, name: str, *, exactly_one: bool) -> list[tuple[int, int]]:
        """A property's <address size> pairs in the root's cells, as (start, end), empty ones too."""
        value = self._value(name)
        if value is None:
            return []
        if self.address_cells is None:
            raise self._fault(
                name,
                "is in the root's cells, and the root has no #address-cells: the devicetree specification "
                "says 2, the kernel reads 1",
            )
        split = 4 * self.address_cells
        stride = split + 4 * self.size_cells
        cells = f"4*(#address-cells (= {self.address_cells}) + #size-cells (= {self.size_cells}))"
        if exactly_one and len(value) != stride:
            raise self._fault(name, f"has length {len(value)}, not {stride} ({cells}): one <address size> is read")
        if not value or len(value) % stride:
            raise self._fault(name, f"has length {len(value)}, which is not a multiple of {stride} ({cells})")
        found = []
        for at in range(0, len(value), stride):
            start = int.from_bytes(value[at : at + split], "big")
            size = int.from_bytes(value[at + split : at + stride], "big")
            found.append(self._span(name, start, size))
        return found

    def usable(self) -> list[tuple[int, int]] | None:
        if self.node.property(USABLE_RANGE) is None:
            return None
        ranges = self.pairs(USABLE_RANGE, exactly_one=False)[:USABLE_RANGES_READ]
        if ranges[0][0] == ranges[0][1]:
            # memblock_cap_memory_range() does nothing for size 0: all RAM stays usable, not what was meant.
            raise self._fault(USABLE_RANGE, "has a first range of size 0, which the kernel reads as no limit at all")
        return [(start, end) for start, end in ranges if start < end]

    def uefi_mmap(self) -> tuple[int, int] | None:
        start = self.number(UEFI_MMAP_START)
        if start is None:
            return None
        size = self.number(UEFI_MMAP_SIZE)
        if size is None:
            raise self._fault(
                UEFI_MMAP_START, f"is given without {UEFI_MMAP_SIZE}: where the UEFI map ends is not known"
            )
        return self._span(UEFI_MMAP_START, start, size) if size else None
