"""Memory maps: every source format read into one normalised form.

A map is a list of half-open entries [start, end) with the type word the source
used, a class (`ram`, `reserved`, the forbidden zones inside RAM: `kernel`,
`crashkernel`, `dynamic`: where the kernel may place a /reserved-memory region
of its choosing, and `kexec`: a segment a kexec load writes) and the source and
line it came from, so a finding can point at the line that caused it. Readers
raise InputError naming the file and line: one module per format (`iomem`,
`sysfs`, `e820`, `jsonmap`, `blobmap`, `kexec`, `capture`); `sources` reads a map
from a path in whatever format it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from pmpoolctl.errors import InputError
from pmpoolctl.numbers import U64_LIMIT

RAM = "ram"
RESERVED = "reserved"
KERNEL = "kernel"
CRASHKERNEL = "crashkernel"
DYNAMIC = "dynamic"
KEXEC = "kexec"  # memory a kexec load writes the next kernel, initrd, purgatory to
KHO_SCRATCH = "kho-scratch"  # a KHO scratch area, where the next kernel boots (a host capture's)
KINDS = (RAM, RESERVED, KERNEL, CRASHKERNEL, DYNAMIC, KEXEC, KHO_SCRATCH)

# Formats that list what is loaded into memory, not what memory there is: no RAM to hold ranges to.
SEGMENT_FORMATS = frozenset({"kexec", "kho-scratch"})

RAM_TYPES = frozenset({"System RAM", "usable"})
# riscv nests its kernel sections in a "Kernel image" (arch/riscv/kernel/setup.c), which also
# holds .srodata and padding that no section covers.
KERNEL_TYPES = frozenset({"Kernel image", "Kernel code", "Kernel rodata", "Kernel data", "Kernel bss"})
CRASHKERNEL_TYPES = frozenset({"Crash kernel"})


class MapEntry(NamedTuple):
    """[start, end) of one type, with the line that said so (a tuple: maps can have a million)."""

    start: int
    end: int
    type: str
    kind: str  # one of KINDS
    source: str  # "file:line"


@dataclass(frozen=True)
class MemoryMap:
    source: str
    format: str
    entries: list[MapEntry]
    note: str = ""  # how the map was chosen, when the source held more (a log's last boot)
    phys_bits: int | None = None  # the CPU's physical address width of the host it was captured on
    # A host capture's copy of kho/out, each file's bytes by its name there (its `#kho` map only):
    # what KHO preserves on that host, read as `--kho` reads the directory.
    kho_files: Mapping[str, bytes] | None = field(default=None, compare=False)
    # A host capture's word that KHO was on there though it holds no kho/out (its `#iomem` map only).
    kho_not_captured: str | None = field(default=None, compare=False)
    # A host capture's word that its kho/out was there but did not read (its `#iomem` map only).
    kho_unreadable: str | None = field(default=None, compare=False)

    @property
    def lists_ram(self) -> bool:
        """Whether the map says where RAM is (a kexec segment list says only what is loaded where)."""
        return self.format not in SEGMENT_FORMATS

    def of_kind(self, kind: str) -> list[MapEntry]:
        return [e for e in self.entries if e.kind == kind]


def classify(type_word: str) -> str:
    """RAM for the kernel's RAM words, the forbidden zones by name, reserved for the rest."""
    if type_word in RAM_TYPES:
        return RAM
    if type_word in KERNEL_TYPES:
        return KERNEL
    if type_word in CRASHKERNEL_TYPES:
        return CRASHKERNEL
    return RESERVED


def inclusive_span(start: int, last: int, where: str) -> tuple[int, int]:
    """[start, last + 1) of an inclusive span that fits in 64 bits, or an InputError naming `where`."""
    if last >= U64_LIMIT:
        raise InputError(f"{where}: address {_short_hex(last)} does not fit in 64 bits")
    if last < start:
        raise InputError(f"{where}: end {last:#x} is below start {_short_hex(start)}")
    return start, last + 1


def _short_hex(value: int) -> str:
    """Hex, cut to 20 digits: a hostile line's million-digit number does not fill the error line."""
    text = f"{value:#x}"
    return text if len(text) <= 22 else f"{text[:22]}… ({value.bit_length()} bits)"


def sorted_entries(entries: Iterable[MapEntry]) -> list[MapEntry]:
    return sorted(entries, key=lambda e: (e.start, e.end))
