"""Reading a memory-map source of any format: detect the format, read, parse."""

from __future__ import annotations

import os
import re

from pmpoolctl.blob import parse_blob
from pmpoolctl.dtmemory import blob_memory_map
from pmpoolctl.errors import InputError
from pmpoolctl.fdtformat import FDT_MAGIC, U32
from pmpoolctl.files import STDIN, decode_text, display_name, open_input, read_blob_bytes, read_input
from pmpoolctl.memmap import MemoryMap, parse_e820, parse_iomem, parse_json_map, read_firmware_memmap

LIVE_SOURCES = ("/proc/iomem", "/sys/firmware/memmap")

_KERNEL_LOG_LINE = re.compile(r"\s*\[\s*\d+\.\d+\]")
_IOMEM_FIRST = re.compile(r"\s*[0-9a-fA-F]+-[0-9a-fA-F]+ : ")


def detect_format(head: bytes) -> str | None:
    """The format of a file from its first bytes, or None when it cannot be told."""
    if len(head) >= 4 and U32.unpack_from(head, 0)[0] == FDT_MAGIC:
        return "dtb"
    text = head.decode("utf-8", "replace")
    if _KERNEL_LOG_LINE.match(text) or "BIOS-e820:" in text:
        return "e820"  # a timestamped log line starts with '[' too: test it before JSON
    if text.lstrip()[:1] in ("[", "{"):
        return "json"
    if _IOMEM_FIRST.match(text):
        return "iomem"
    return None


def load_memory_map(path: str, forced_format: str | None = None) -> MemoryMap:
    """The memory map in `path` (a file, a directory, or - for stdin)."""
    name = display_name(path)
    if path != STDIN and os.path.isdir(path):
        if forced_format not in (None, "firmware-memmap"):
            raise InputError(f"{name}: is a directory; only the firmware-memmap format is one")
        return read_firmware_memmap(path)
    if forced_format == "firmware-memmap":
        raise InputError(f"{name}: the firmware-memmap format is a directory like /sys/firmware/memmap")
    if forced_format == "dtb" or (forced_format is None and path != STDIN and _starts_with_fdt(path)):
        return blob_memory_map(parse_blob(read_blob_bytes(path), name))
    raw = read_input(path)
    fmt = forced_format or detect_format(raw[:4096])
    if fmt is None:
        raise InputError(
            f"{name}: cannot tell the memory-map format from line 1; name it with --memmap-format "
            "(iomem, firmware-memmap, e820, json, dtb)"
        )
    if fmt == "dtb":
        return blob_memory_map(parse_blob(raw, name))
    parser = {"iomem": parse_iomem, "e820": parse_e820, "json": parse_json_map}[fmt]
    text = decode_text(raw, name)
    del raw  # a big map is held once, as text, while it is parsed
    return parser(text, name)


def _starts_with_fdt(path: str) -> bool:
    try:
        with open_input(path) as stream:  # a FIFO is refused, never waited on
            head = stream.read(4)
    except OSError as exc:
        raise InputError(f"{display_name(path)}: cannot read: {exc.strerror or exc}") from exc
    return len(head) == 4 and U32.unpack_from(head, 0)[0] == FDT_MAGIC
