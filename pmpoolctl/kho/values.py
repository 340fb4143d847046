"""Values in KHO's FDTs: u64s in the CPU's byte order, first strings, names as raw bytes.

KHO uses the FDT container but not device-tree conventions: the kernel writes
each u64 with `fdt_property(..., &u64, sizeof(u64))`, in the CPU's byte order
(little-endian on x86 and arm64), and reads it back only when it is 8 bytes.
"""

from __future__ import annotations

from pmpoolctl.dtb.format import escaped
from pmpoolctl.dtb.model import Blob, Node
from pmpoolctl.errors import InputError

BYTE_ORDERS = ("little", "big")


def first_string(blob: Blob, node: Node, name: str) -> str | None:
    """The first string of a property (compatible may list several), shown escaped; None when absent."""
    prop = node.property(name)
    if prop is None:
        return None
    return escaped(blob.value(prop).split(b"\0", 1)[0], 64)  # shown to people: never raw control bytes


def strings(blob: Blob, node: Node, name: str) -> list[str]:
    """Every string of a stringlist property, escaped (the next kernel matches any of a compatible's)."""
    prop = node.property(name)
    if prop is None:
        return []
    parts = blob.value(prop).split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return [escaped(part, 64) for part in parts]


def u64_value(blob: Blob, node: Node, name: str, byte_order: str) -> int | str | None:
    """The property as a native u64; None when absent; a description of what is wrong when it is no u64."""
    prop = node.property(name)
    if prop is None:
        return None
    value = blob.value(prop)
    if len(value) != 8:
        return f"property '{name}' is {len(value)} bytes, a u64 is 8 (at byte offset {prop.value_offset:#x})"
    return int.from_bytes(value, "little" if byte_order == "little" else "big")


def require_u64(blob: Blob, node: Node, name: str, byte_order: str, *, what: str) -> int:
    """The property as a native u64, or an InputError naming the file, the node and the property."""
    value = u64_value(blob, node, name, byte_order)
    where = f"{blob.source}: {blob.path(node)}"
    if value is None:
        raise InputError(f"{where}: no '{name}' property ({what}, a u64)")
    if isinstance(value, str):
        raise InputError(f"{where}: {value}")
    return value


def optional_u64(blob: Blob, node: Node, name: str, byte_order: str) -> int | None:
    """The property as a native u64 when present; an InputError when it is there but no u64."""
    value = u64_value(blob, node, name, byte_order)
    if isinstance(value, str):
        raise InputError(f"{blob.source}: {blob.path(node)}: {value}")
    return value


def raw_name(blob: Blob, node: Node) -> bytes:
    """A node's name as the bytes the kernel wrote (Node.name is escaped for display)."""
    start = node.begin + 4
    return blob.data[start : blob.data.index(b"\0", start)]
