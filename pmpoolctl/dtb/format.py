"""The flattened device tree format as data: magic, tags, header layout, limits."""

from __future__ import annotations

import struct

FDT_MAGIC = 0xD00DFEED

FDT_BEGIN_NODE = 0x1
FDT_END_NODE = 0x2
FDT_PROP = 0x3
FDT_NOP = 0x4
FDT_END = 0x9

TAG_NAMES = {
    FDT_BEGIN_NODE: "FDT_BEGIN_NODE",
    FDT_END_NODE: "FDT_END_NODE",
    FDT_PROP: "FDT_PROP",
    FDT_NOP: "FDT_NOP",
    FDT_END: "FDT_END",
}

# Header words in order; version 17 adds size_dt_struct. Offsets are bytes.
HEADER_FIELDS = (
    "magic",
    "totalsize",
    "off_dt_struct",
    "off_dt_strings",
    "off_mem_rsvmap",
    "version",
    "last_comp_version",
    "boot_cpuid_phys",
    "size_dt_strings",
    "size_dt_struct",
)
HEADER_OFFSET = {name: 4 * index for index, name in enumerate(HEADER_FIELDS)}
# The header as dump --json and diff show it: the version first, then the sizes and offsets.
HEADER_SHOWN = (
    "version",
    "last_comp_version",
    "totalsize",
    "boot_cpuid_phys",
    "off_dt_struct",
    "off_dt_strings",
    "off_mem_rsvmap",
    "size_dt_struct",
    "size_dt_strings",
)
HEADER_SIZE_V16 = 36
HEADER_SIZE_V17 = 40
READ_VERSIONS = (16, 17)
WRITE_VERSION = 17
WRITE_LAST_COMP_VERSION = 16

U32 = struct.Struct(">I")
U32_PAIR = struct.Struct(">II")
U64_PAIR = struct.Struct(">QQ")
RESERVATION_ENTRY_SIZE = U64_PAIR.size

# The characters dtc's checks allow in names (checks.c); a blob with others is
# refused, since dtc refuses it and DTS could not spell it.
_ALNUM = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
NODE_NAME_CHARS = _ALNUM + b",._+-@"
PROPERTY_NAME_CHARS = _ALNUM + b",._+*#?-"

# Documented limits on hostile input. A blob's totalsize is a u32, so 4 GiB is
# the format's own bound; we refuse past 1 GiB (a pool of 60M ranges). Nesting
# is refused past 1024 levels: the kernel's unflattener stops at 64, and a
# deeper tree is an attack on anything that renders it with indentation.
MAX_BLOB_SIZE = 1 << 30
MAX_DEPTH = 1024
# A node costs the reader ~400 bytes of memory and a property ~150, for as little as 12 bytes of
# blob each: a 1 GiB blob of empty nodes would take ~35 GiB. The counts are refused past these,
# which keep a tree within the memory bound (150 MiB + 8 x the input) and are far above real
# trees (thousands of nodes; a pool is one property, however many ranges it holds).
MAX_NODES = 1 << 17
MAX_PROPERTIES = 1 << 19


def align4(offset: int) -> int:
    """Round up to the next multiple of 4, as the structure block requires."""
    return (offset + 3) & ~3


_SHOWN_AS_IS = frozenset(range(0x20, 0x7F)) - {0x5C}
# The bytes `escaped` shows as they are: `translate` deleting them leaves the others.
ESCAPE_FREE = bytes(sorted(_SHOWN_AS_IS))


def escaped(raw: bytes, limit: int = 256) -> str:
    """Bytes from a blob as text for messages: printable ASCII as it is, every other byte
    (controls, NUL, DEL, non-ASCII) and the backslash as an escape, so nothing a blob
    holds can split an `error:` line or reach a terminal raw. Past `limit` bytes, `...`."""
    if len(raw) > limit:
        return escaped(raw[:limit], limit) + "..."
    if all(byte in _SHOWN_AS_IS for byte in raw):
        return raw.decode("ascii")
    return "".join(chr(byte) if byte in _SHOWN_AS_IS else f"\\x{byte:02x}" for byte in raw)


def name_text(raw: bytes) -> str:
    """A node or property name as text. A name of printable ASCII (every name dtc allows) is whole, however
    long: it is matched, written back as DTS and compared with its siblings' (two long names may share
    their first 256 bytes). Any other (only the kernel's own FDTs may hold one) is `escaped`, cut short
    past 256 bytes: escaping a huge name whole would cost many times its size."""
    return escaped(raw) if raw.translate(None, ESCAPE_FREE) else raw.decode("ascii")


def shown(text: str, limit: int = 256) -> str:
    """`text` (a name or a path) for a message: past `limit` characters, cut short with `...`."""
    return text if len(text) <= limit else text[:limit] + "..."


def status_okay(value: bytes | None) -> bool:
    """A node's `status` as the kernel reads it (of_fdt_device_is_available): absent, "okay" or "ok"."""
    return value is None or value.split(b"\0", 1)[0] in (b"okay", b"ok")
