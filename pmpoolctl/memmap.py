"""Memory maps: every source format read into one normalised form.

A map is a list of half-open entries [start, end) with the type word the source
used, a class (`ram`, `reserved`, or the forbidden zones inside RAM: `kernel`,
`crashkernel`) and the source and line it came from, so a finding can point at
the line that caused it. Readers raise InputError naming the file and line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from pmpoolctl.errors import InputError, NumberError
from pmpoolctl.files import display_name, numbered_lines
from pmpoolctl.jsoninput import json_integer, json_text, load_json
from pmpoolctl.numbers import U64_LIMIT, parse_number

RAM = "ram"
RESERVED = "reserved"
KERNEL = "kernel"
CRASHKERNEL = "crashkernel"

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
    kind: str  # RAM, RESERVED, KERNEL or CRASHKERNEL
    source: str  # "file:line"


@dataclass(frozen=True)
class MemoryMap:
    source: str
    format: str
    entries: list[MapEntry]

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


def _inclusive(start: int, last: int, where: str) -> tuple[int, int]:
    if last >= U64_LIMIT:
        raise InputError(f"{where}: address {last:#x} does not fit in 64 bits")
    if last < start:
        raise InputError(f"{where}: end {last:#x} is below start {start:#x}")
    return start, last + 1


# --- /proc/iomem ------------------------------------------------------------

_IOMEM_LINE = re.compile(r"( *)([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.*)\Z")


def parse_iomem(text: str, source: str) -> MemoryMap:
    """`/proc/iomem`: inclusive hex ranges, nesting by two spaces per level."""
    entries: list[MapEntry] = []
    parents: list[str] = []  # type words of the enclosing entries
    all_zero = True
    types: dict[str, str] = {}  # one string per type word, not one per line
    for lineno, line in numbered_lines(text):
        if not line.strip():
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
        start, end = _inclusive(int(start_hex, 16), int(end_hex, 16), where)
        if start or end > 1:
            all_zero = False
        name = types.setdefault(name.strip(), name.strip())
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
    names = sorted((n for n in listed if n.isascii() and n.isdigit()), key=int)
    if not names:
        raise InputError(f"{directory}: no numbered entries: not a /sys/firmware/memmap directory")
    entries: list[MapEntry] = []
    for name in names:
        fields: dict[str, str] = {}
        for field_name in ("start", "end", "type"):
            path = os.path.join(directory, name, field_name)
            try:
                with open(path, encoding="utf-8", errors="replace") as stream:
                    fields[field_name] = stream.read(4096).strip()
            except OSError as exc:
                raise InputError(f"{path}: cannot read: {exc.strerror}") from exc
        where = os.path.join(directory, name)
        try:
            start, last = parse_number(fields["start"]), parse_number(fields["end"])
        except NumberError as exc:
            raise InputError(f"{where}: {exc}") from exc
        start, end = _inclusive(start, last, where)
        entries.append(MapEntry(start, end, fields["type"], classify(fields["type"]), where))
    entries.sort(key=lambda e: (e.start, e.end))
    return MemoryMap(directory, "firmware-memmap", entries)


# --- kernel log e820 lines --------------------------------------------------

_TIMESTAMP = r"(?:\[\s*[0-9.]+\]\s*)?"
_MEM = r"\[mem (0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)\]"
_E820_MAP = re.compile(_TIMESTAMP + r"BIOS-e820: " + _MEM + r" (.+?)\s*\Z")
_E820_UPDATE = re.compile(_TIMESTAMP + r"e820: update " + _MEM + r" (.+?) ==> (.+?)\s*\Z")
# The kernel logs `e820: remove [mem …]` with no type when it removes any type (check_type false).
_E820_REMOVE = re.compile(_TIMESTAMP + r"e820: remove " + _MEM + r"(?: (.+?))?\s*\Z")


# Each update/remove line visits every segment; this bounds a hostile log's cost to seconds.
MAX_E820_WORK = 20_000_000


def _e820_kind(type_word: str) -> str:
    return RAM if type_word == "usable" else RESERVED


def parse_e820(text: str, source: str) -> MemoryMap:
    """Kernel log lines: the BIOS-e820 map, then `e820: update`/`remove` applied in order."""
    segments: list[MapEntry] = []
    seen_map = False
    work = 0  # segments visited by update/remove lines: each visits them all
    for lineno, line in numbered_lines(text):
        where = f"{source}:{lineno}"
        if (match := _E820_MAP.search(line)) is not None:
            start, end = _inclusive(int(match[1], 16), int(match[2], 16), where)
            segments.append(MapEntry(start, end, match[3], _e820_kind(match[3]), where))
            seen_map = True
        elif (match := _E820_UPDATE.search(line) or _E820_REMOVE.search(line)) is not None:
            work += len(segments)
            if work > MAX_E820_WORK:
                raise InputError(
                    f"{where}: too many e820 update/remove lines for a table of {len(segments)} entries "
                    "(a kernel's e820 table holds a few thousand); not a kernel log"
                )
            start, end = _inclusive(int(match[1], 16), int(match[2], 16), where)
            new_type = match[4] if match.re is _E820_UPDATE else None
            segments = _retype(segments, start, end, match[3], new_type, where)
    if not seen_map:
        raise InputError(f"{source}: no 'BIOS-e820: [mem …] TYPE' lines: not an e820 kernel log")
    segments.sort(key=lambda e: (e.start, e.end))
    return MemoryMap(source, "e820", segments)


def _retype(
    segments: list[MapEntry], start: int, end: int, old_type: str | None, new_type: str | None, where: str
) -> list[MapEntry]:
    """The segments with [start, end) of `old_type` (None: any) given `new_type` (None: removed)."""
    result: list[MapEntry] = []
    for seg in segments:
        if (old_type is not None and seg.type != old_type) or seg.end <= start or end <= seg.start:
            result.append(seg)
            continue
        if seg.start < start:
            result.append(MapEntry(seg.start, start, seg.type, seg.kind, seg.source))
        if new_type is not None:
            result.append(MapEntry(max(seg.start, start), min(seg.end, end), new_type, _e820_kind(new_type), where))
        if end < seg.end:
            result.append(MapEntry(end, seg.end, seg.type, seg.kind, seg.source))
    return result


# --- JSON -------------------------------------------------------------------


def parse_json_map(text: str, source: str) -> MemoryMap:
    """`[{"start", "end" or "size", "type"}]`, exclusive ends; also `memmap --json` output."""
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
        elif "size" in item:
            end = start + json_integer(item["size"], f"{where} size", U64_LIMIT)
        else:
            raise InputError(f'{where}: needs "end" or "size"')
        if end <= start or end > U64_LIMIT:
            raise InputError(f"{where}: [{start:#x}, {end:#x}) is empty or past 2^64")
        json_text(item["type"], f"{where} type")
        kind = item.get("class", classify(item["type"]))
        if kind not in (RAM, RESERVED, KERNEL, CRASHKERNEL):
            raise InputError(f"{where}: unknown class {kind!r}")
        entries.append(MapEntry(start, end, item["type"], kind, f"{source}#{index}"))
    if not entries:
        raise InputError(f"{source}: no entries")
    entries.sort(key=lambda e: (e.start, e.end))
    return MemoryMap(source, "json", entries)


def sorted_entries(entries: Iterable[MapEntry]) -> list[MapEntry]:
    return sorted(entries, key=lambda e: (e.start, e.end))
