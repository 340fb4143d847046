"""`/proc/iomem`: the kernel's resource tree, read as a memory map."""

from __future__ import annotations

import re

from pmpoolctl.errors import InputError
from pmpoolctl.files.inputs import numbered_lines
from pmpoolctl.memmap.model import (
    CRASHKERNEL,
    KERNEL,
    NESTED_RESERVED_TYPES,
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
            kind = classify(name)
            if kind in (KERNEL, CRASHKERNEL) or name in NESTED_RESERVED_TYPES:
                entries.append(MapEntry(start, end, name, RESERVED if kind == RAM else kind, where))
        parents.append(name)
    if not entries:
        raise InputError(f"{source}: no iomem entries")
    if all_zero:
        raise InputError(f"{source}: every address is zero: /proc/iomem was read without root; read it as root")
    return MemoryMap(source, "iomem", entries)
