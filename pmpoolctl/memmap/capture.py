"""A host capture's file (schema `pmpoolctl.capture/v1`), read back as the maps it holds.

A capture (`pmpoolctl capture OUT`, taken by `hostcapture`) holds, as a host's kernel showed
them: `/proc/iomem` (its text), `/sys/firmware/memmap` (each entry's start, end and type as
sysfs gives them), the e820 lines of that boot's kernel log, the CPU's physical address width,
`/proc/cmdline`, whether the kernel's config turns KHO on by default, and the KHO scratch areas
and state files where present, with the host's name and the time. What could not be read is
said in its place (`"missing": why`).

Read back (`validate --memmap OUT`), a capture is the maps `--live` would read on that
host (iomem, firmware-memmap, and the e820 table when captured), its KHO scratch areas
(entries of class `kho-scratch`), and its width for `range-above-phys-limit`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from typing import Any

from pmpoolctl.errors import InputError
from pmpoolctl.files.jsoninput import load_json
from pmpoolctl.memmap.e820 import parse_e820
from pmpoolctl.memmap.iomem import parse_iomem
from pmpoolctl.memmap.model import KHO_SCRATCH, MapEntry, MemoryMap
from pmpoolctl.memmap.sysfs import firmware_memmap_of
from pmpoolctl.numbers import U64_LIMIT
from pmpoolctl.text import printable

SCHEMA = "pmpoolctl.capture/v1"
# What a capture says of a host without kho/out. Any other `missing` of its kho part means the
# directory was there (KHO on) and did not read: refused, as --live on that host refuses it.
KHO_NOT_ON_HOST = "not on this host (no KHO, or debugfs not mounted)"


def parse_capture(text: str, source: str) -> list[MemoryMap]:
    """The maps a capture holds, each named `SOURCE#part` (iomem, firmware-memmap, e820, kho), with its width."""
    document = load_json(text, source)
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        found = str(document.get("schema"))[:40] if isinstance(document, dict) else "none"
        raise InputError(f"{source}: a capture of schema {found!r}: this pmpoolctl reads {SCHEMA}")
    bits = _phys_bits(document, source)
    maps: list[MemoryMap] = []
    iomem = _part(document, "iomem", source)
    if "text" not in iomem:
        # --live on that host reads /proc/iomem or fails: without it the kernel image and the
        # crash kernel would go unchecked, so a capture without it checks nothing either.
        reason = iomem.get("missing", "not in the capture")
        raise InputError(
            f"{source}: the capture has no /proc/iomem ({str(reason)[:120]}): it cannot be checked against"
        )
    maps.append(parse_iomem(_string(iomem["text"], f"{source}#iomem"), f"{source}#iomem"))
    firmware = _part(document, "firmware_memmap", source)
    if "entries" in firmware:
        maps.append(_firmware(firmware["entries"], f"{source}#firmware-memmap"))
    e820 = _part(document, "e820", source)
    if isinstance(e820.get("lines"), list) and e820["lines"]:
        lines = [_string(line, f"{source}#e820") for line in e820["lines"]]
        maps.append(parse_e820("\n".join(lines), f"{source}#e820"))
    kho = _part(document, "kho", source)
    files = _kho_files(kho.get("files"), f"{source}#kho")
    if (isinstance(kho.get("scratch"), list) and kho["scratch"]) or files:
        scratch = _scratch(kho.get("scratch") or [], f"{source}#kho")
        maps.append(dataclasses.replace(scratch, kho_files=files))
    elif "missing" in kho and kho["missing"] != KHO_NOT_ON_HOST:
        unreadable = f"{source}#kho: {printable(str(kho['missing']))[:200]}"
        maps[0] = dataclasses.replace(maps[0], kho_unreadable=unreadable)
    else:
        maps[0] = dataclasses.replace(maps[0], kho_not_captured=_kho_was_on(document, source))
    note = f"captured on {_string(document.get('host', '?'), source)} at {_string(document.get('time', '?'), source)}"
    return [dataclasses.replace(m, note="; ".join(filter(None, (m.note, note))), phys_bits=bits) for m in maps]


def _kho_was_on(document: dict[str, Any], source: str) -> str | None:
    """What says KHO was on at the host, whose capture holds no kho/out; None when nothing does."""
    from pmpoolctl.kho.cmdline import parse_next_cmdline

    cmdline = _part(document, "cmdline", source)
    if "text" in cmdline:
        parsed = parse_next_cmdline(_string(cmdline["text"], f"{source}#cmdline").encode(), f"{source}#cmdline")
        if parsed.kho is not None:
            return f"{source}#cmdline turns KHO on ({parsed.kho_text})" if parsed.kho else None
    config = _part(document, "kernel_config", source)
    kho = config.get("kho_on_by_default")
    if kho is not None and not isinstance(kho, bool):
        raise InputError(f"{source}: kernel_config.kho_on_by_default is not true or false")
    if kho:
        return f"{source}#kernel_config turns KHO on by default and the command line has no kho="
    return None


def _part(document: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    part = document.get(key, {})
    if not isinstance(part, dict):
        raise InputError(f"{source}: {key} is not an object")
    return part


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{where}: expected a string, found {type(value).__name__}")
    return value


def _phys_bits(document: dict[str, Any], source: str) -> int | None:
    bits = _part(document, "phys_bits", source).get("bits")
    if bits is None:
        return None
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 64:
        raise InputError(f"{source}: phys_bits.bits is not a number from 1 to 64")
    return bits


def _firmware(entries: Any, source: str) -> MemoryMap:
    if not isinstance(entries, list):
        raise InputError(f"{source}: entries is not a list")
    rows = []
    for index, item in enumerate(entries):
        where = f"{source}/{index}"
        if not isinstance(item, dict):
            raise InputError(f"{where}: not an object")
        name = _string(item.get("entry", str(index)), where)
        start, end, type_word = (_string(item.get(f), f"{where} {f}") for f in ("start", "end", "type"))
        rows.append((f"{source}/{name}", start, end, type_word))
    return firmware_memmap_of(rows, source)


def _kho_files(files: Any, source: str) -> dict[str, bytes] | None:
    """The copy of kho/out's files (base64 by relative name), or None when the capture has none."""
    if files is None:
        return None
    if not isinstance(files, dict):
        raise InputError(f"{source}: files is not an object")
    found = {}
    for name, text in files.items():
        where = f"{source}/{printable(name)}"  # a name may hold anything: one line in a message
        folder, _, file = name.rpartition("/")
        if folder not in ("", "sub_fdts") or file in ("", ".", "..") or (not folder and file == "sub_fdts"):
            raise InputError(f"{where}: not a file of kho/out (its own files, or sub_fdts/NAME)")
        try:
            found[name] = base64.b64decode(_string(text, where), validate=True)
        except binascii.Error as exc:
            raise InputError(f"{where}: not base64 ({exc})") from exc
    return found or None


def _scratch(areas: list[Any], source: str) -> MemoryMap:
    entries = []
    for index, area in enumerate(areas):
        where = f"{source}:scratch[{index}]"
        start, size = (area.get(k) if isinstance(area, dict) else None for k in ("start", "size"))
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (start, size)):
            raise InputError(f'{where}: expected {{"start": N, "size": N}} with integers')
        assert isinstance(start, int) and isinstance(size, int)
        if start + size > U64_LIMIT:
            raise InputError(f"{where}: ends past 2^64")
        if size:
            entries.append(MapEntry(start, start + size, "KHO scratch", KHO_SCRATCH, where))
    return MemoryMap(source, "kho-scratch", sorted(entries, key=lambda e: (e.start, e.end)))
