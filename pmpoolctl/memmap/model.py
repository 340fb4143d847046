"""Memory maps: every source format read into one normalised form.

A map is a list of half-open entries [start, end) with the type word the source
used, a class (`ram`, `reserved`, the forbidden zones inside RAM: `kernel`,
`crashkernel`, and `dynamic`: where the kernel may place a /reserved-memory region
of its choosing) and the source and line it came from, so a finding can point at
the line that caused it. Readers raise InputError naming the file and line. This
module reads /proc/iomem, /sys/firmware/memmap and JSON; `e820log` kernel logs and
`dtmemory` blobs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from pmpoolctl.errors import InputError, NumberError
from pmpoolctl.files.inputs import decode_text, display_name, numbered_lines, read_input
from pmpoolctl.files.jsoninput import json_integer, json_text, load_json
from pmpoolctl.numbers import U64_LIMIT, parse_number
from pmpoolctl.text import printable

RAM = "ram"
RESERVED = "reserved"
KERNEL = "kernel"
CRASHKERNEL = "crashkernel"
DYNAMIC = "dynamic"
KINDS = (RAM, RESERVED, KERNEL, CRASHKERNEL, DYNAMIC)

FORMATS = ("iomem", "firmware-memmap", "e820", "json", "dtb")

RAM_TYPES = frozenset({"System RAM", "usable"})
KERNEL_TYPES = frozenset({"Kernel code", "Kernel rodata", "Kernel data", "Kernel bss"})
CRASHKERNEL_TYPES = frozenset({"Crash kernel"})
# Nested iomem entries that mark memory inside System RAM as not for us (arm64 lists
# memblock reservations as nested "reserved"); device names nested elsewhere are not.
NESTED_RESERVED_TYPES = frozenset(
    {
        "Reserved",
        "reserved",
        "ACPI Tables",
        "ACPI Non-volatile Storage",
        "Unusable memory",
        "Persistent Memory",
        "Persistent Memory (legacy)",
        "Soft Reserved",
    }
)


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


# --- /proc/iomem ------------------------------------------------------------

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


# --- /sys/firmware/memmap ---------------------------------------------------


# An attribute is one page at most (sysfs); an entry's are a few bytes. Longer is not sysfs.
SYSFS_ATTRIBUTE_LIMIT = 4096


def read_firmware_memmap(directory: str) -> MemoryMap:
    """A `/sys/firmware/memmap` directory: entries N/{start,end,type}, inclusive ends, any order."""
    try:
        listed = os.listdir(directory)
    except OSError as exc:
        raise InputError(f"{directory}: cannot read: {exc.strerror}") from exc
    # The kernel names entries by a decimal index; `²` and `٣` are digits to str.isdigit() but no index.
    strange = [n for n in listed if n.isdigit() and not n.isascii()]
    if strange:
        raise InputError(
            f"{display_name(os.path.join(directory, strange[0]))}: not an entry of the kernel's (0, 1, 2, ...)"
        )
    names = sorted((n for n in listed if n.isascii() and n.isdigit()), key=int)  # the kernel's "%d"
    if not names:
        raise InputError(f"{directory}: no numbered entries: not a /sys/firmware/memmap directory")
    entries: list[MapEntry] = []
    for name in names:
        start_text, end_text, type_word = (
            _read_attribute(os.path.join(directory, name, field)) for field in ("start", "end", "type")
        )
        where = os.path.join(directory, name)
        try:
            start, last = parse_number(start_text), parse_number(end_text)
        except NumberError as exc:
            raise InputError(f"{where}: {exc}") from exc
        start, end = inclusive_span(start, last, where)
        entries.append(MapEntry(start, end, printable(type_word), classify(type_word), where))
    entries.sort(key=lambda e: (e.start, e.end))
    return MemoryMap(directory, "firmware-memmap", entries)


def _read_attribute(path: str) -> str:
    """A sysfs attribute read whole (never a first part of it taken for the value), stripped."""
    return decode_text(read_input(path, SYSFS_ATTRIBUTE_LIMIT), path).strip()


# --- JSON -------------------------------------------------------------------


def parse_json_map(text: str, source: str) -> MemoryMap:
    """`[{"start", "end" or "size", "type", "class"?}]`, exclusive ends; also `memmap --json` output.

    Numbers are JSON integers or number strings ("0x1000", "4G"); `class` (one of KINDS)
    is taken as given, and without it the type decides (System RAM and usable are RAM).
    """
    document = load_json(text, source)
    if isinstance(document, dict) and isinstance(document.get("entries"), list):
        document = document["entries"]
    if not isinstance(document, list):
        raise InputError(f'{source}: expected a JSON list of {{"start", "end", "type"}} objects')
    entries: list[MapEntry] = []
    # Items are taken off the end, so the parsed document shrinks as the entries grow
    # (a million JSON objects cost far more than their entries).
    document.reverse()
    for index in range(len(document)):
        item = document.pop()
        where = f"{source}: entry {index}"
        if not isinstance(item, dict) or "start" not in item or not isinstance(item.get("type"), str):
            raise InputError(f'{where}: expected an object with "start", "end" or "size", and a "type" string')
        start = json_integer(item["start"], f"{where} start", U64_LIMIT)
        if "end" in item:
            end = json_integer(item["end"], f"{where} end", U64_LIMIT)
            if "size" in item and json_integer(item["size"], f"{where} size", U64_LIMIT) != end - start:
                raise InputError(f'{where}: "size" is not "end" - "start"')
        elif "size" in item:
            end = start + json_integer(item["size"], f"{where} size", U64_LIMIT)
        else:
            raise InputError(f'{where}: needs "end" or "size"')
        if end <= start or end > U64_LIMIT:
            raise InputError(f"{where}: [{start:#x}, {end:#x}) is empty or past 2^64")
        json_text(item["type"], f"{where} type")
        kind = item.get("class", classify(item["type"]))
        if kind not in KINDS:
            raise InputError(f"{where}: unknown class {str(kind)[:40]!r} (one of {', '.join(KINDS)})")
        entries.append(MapEntry(start, end, printable(item["type"]), kind, f"{source}#{index}"))
    if not entries:
        raise InputError(f"{source}: no entries")
    entries.sort(key=lambda e: (e.start, e.end))
    return MemoryMap(source, "json", entries)


def sorted_entries(entries: Iterable[MapEntry]) -> list[MapEntry]:
    return sorted(entries, key=lambda e: (e.start, e.end))
