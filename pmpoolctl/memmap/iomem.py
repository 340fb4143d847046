"""`/proc/iomem`: the kernel's resource tree, read as a memory map."""

from __future__ import annotations

import re

from pmpoolctl.errors import InputError
from pmpoolctl.files.inputs import numbered_lines
from pmpoolctl.memmap.model import (
    RAM,
    RESERVED,
    MapEntry,
    MemoryMap,
    classify,
    inclusive_span,
)
from pmpoolctl.text import printable

_IOMEM_LINE = re.compile(r"( *)([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.*)\Z")


def parse_iomem(text: str, source: str) -> MemoryMap:
    """`/proc/iomem`: inclusive hex ranges, nesting by two spaces per level."""
    entries: list[MapEntry] = []
    parents: list[str] = []  # type words of the enclosing entries
    all_zero = True
    types: dict[str, str] = {}  # one string per type word, not one per line
    for lineno, line in numbered_lines(text):
        if not line.strip() or line.lstrip().startswith("#"):  # blank, or a note added to a capture
            continue
        where = f"{source}:{lineno}"
        match = _IOMEM_LINE.match(line.rstrip())
        if match is None:
            raise InputError(f"{where}: not an iomem line ('START-END : NAME'): {line[:60]!r}")
        indent, start_hex, end_hex, name = match.groups()
        if len(indent) % 2 or len(indent) // 2 > len(parents):
            raise InputError(f"{where}: nested by {len(indent)} spaces under {len(parents)} levels")
        depth = len(indent) // 2
        del parents[depth:]
        start, end = inclusive_span(int(start_hex, 16), int(end_hex, 16), where)
        if start or end > 1:
            all_zero = False
        name = types.get(name) or types.setdefault(name, printable(name.strip()))  # one string per type word
        if depth == 0:
            entries.append(MapEntry(start, end, name, RAM if name == "System RAM" else RESERVED, where))
        elif parents[0] == "System RAM":
            # Whatever is nested in RAM was claimed by someone (insert_resource, request_mem_region): arm64's
            # memblock reservations ("reserved"), riscv's "ELF Core hdr", an AMD GART aperture taken from RAM.
            # None of it is free, whatever its name; only the kernel's and crashkernel's have rules of their own.
            kind = classify(name)
            entries.append(MapEntry(start, end, name, RESERVED if kind == RAM else kind, where))
        parents.append(name)
    if not entries:
        raise InputError(f"{source}: no iomem entries")
    if all_zero:
        raise InputError(f"{source}: every address is zero: /proc/iomem was read without root; read it as root")
    return MemoryMap(source, "iomem", entries)
