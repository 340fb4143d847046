"""`/sys/firmware/memmap`: the firmware's map as the kernel keeps it, one directory per entry."""

from __future__ import annotations

import os

from pmpoolctl.errors import InputError, NumberError
from pmpoolctl.files.inputs import decode_text, display_name, read_input
from pmpoolctl.memmap.model import MapEntry, MemoryMap, classify, inclusive_span
from pmpoolctl.numbers import parse_number
from pmpoolctl.text import printable

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
    rows = []
    for name in names:
        start_text, end_text, type_word = (
            _read_attribute(os.path.join(directory, name, field)) for field in ("start", "end", "type")
        )
        rows.append((os.path.join(directory, name), start_text, end_text, type_word))
    return firmware_memmap_of(rows, directory)


def firmware_memmap_of(rows: list[tuple[str, str, str, str]], source: str) -> MemoryMap:
    """The map of firmware-memmap entries given as (where, start, end, type) text: inclusive ends, any order."""
    entries: list[MapEntry] = []
    for where, start_text, end_text, type_word in rows:
        try:
            start, last = parse_number(start_text), parse_number(end_text)
        except NumberError as exc:
            raise InputError(f"{where}: {exc}") from exc
        start, end = inclusive_span(start, last, where)
        entries.append(MapEntry(start, end, printable(type_word), classify(type_word), where))
    if not entries:
        raise InputError(f"{source}: no entries")
    entries.sort(key=lambda e: (e.start, e.end))
    return MemoryMap(source, "firmware-memmap", entries)


def _read_attribute(path: str) -> str:
    """A sysfs attribute read whole (never a first part of it taken for the value), stripped."""
    return decode_text(read_input(path, SYSFS_ATTRIBUTE_LIMIT), path).strip()
