"""The whole tree as DTS source that dtc compiles back to the same tree.

Values are shown the way dtc guesses them (strings, 32-bit cells or bytes), with
strings escaped properly, and a pool's `page-ranges` as `/bits/ 64` pairs so that
people can read them. The walk is iterative: depth costs no stack.
"""

from __future__ import annotations

from collections.abc import Iterator

from pmpoolctl.binding import PROP_PAGE_RANGES, RANGE_ENTRY_SIZE, decode_u64_pairs
from pmpoolctl.blob import Blob, Node, Property

_CONTROL_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r"}


def _is_string_byte(byte: int) -> bool:
    return 0x20 <= byte < 0x7F or byte == 0 or byte in _CONTROL_ESCAPES


def looks_like_strings(value: bytes) -> bool:
    """dtc's guess: NUL-terminated, printable, and more text than NULs."""
    nuls = value.count(0)
    return len(value) > 0 and value[-1] == 0 and nuls <= len(value) - nuls and all(_is_string_byte(b) for b in value)


def escape_string(text: bytes) -> str:
    """A DTS string literal's inside: quotes, backslashes and controls escaped."""
    out: list[str] = []
    for byte in text:
        if byte == 0x22:
            out.append('\\"')
        elif byte == 0x5C:
            out.append("\\\\")
        elif byte in _CONTROL_ESCAPES:
            out.append(_CONTROL_ESCAPES[byte])
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def format_value(value: bytes) -> str:
    """The right-hand side of `name = …;` for a generic property."""
    if looks_like_strings(value):
        return ", ".join(f'"{escape_string(s)}"' for s in value[:-1].split(b"\0"))
    if len(value) % 4 == 0:
        cells = (int.from_bytes(value[i : i + 4], "big") for i in range(0, len(value), 4))
        return "<" + " ".join(f"{cell:#x}" for cell in cells) + ">"
    return "[" + " ".join(f"{byte:02x}" for byte in value) + "]"


def _property_line(blob: Blob, prop: Property, indent: str, in_pool: bool) -> str:
    if prop.length == 0:
        return f"{indent}{prop.name};"
    value = blob.value(prop)
    if in_pool and prop.name == PROP_PAGE_RANGES and len(value) % RANGE_ENTRY_SIZE == 0:
        pairs = [f"/bits/ 64 <{r.base:#x} {r.size:#x}>" for r in decode_u64_pairs(value)]
        continuation = ",\n" + indent + " " * (len(prop.name) + 3)
        return f"{indent}{prop.name} = {continuation.join(pairs)};"
    return f"{indent}{prop.name} = {format_value(value)};"


def render_dts(blob: Blob, pool_names: frozenset[str] = frozenset()) -> Iterator[str]:
    """The blob as DTS lines; root children named in `pool_names` get pool formatting."""
    header = blob.header
    yield "/dts-v1/;"
    yield (
        f"// version {header.version}, last_comp_version {header.last_comp_version}, "
        f"boot_cpuid_phys {header.boot_cpuid_phys:#x}"
    )
    yield ""
    for entry in blob.reservations:
        yield f"/memreserve/ {entry.address:#x} {entry.size:#x};"
    if blob.reservations:
        yield ""
    open_nodes: list[Node] = []
    for node in blob.nodes:
        while open_nodes and open_nodes[-1].depth >= node.depth:
            yield "\t" * open_nodes.pop().depth + "};"
        indent = "\t" * node.depth
        if node.depth > 0:
            yield ""
        yield f"{indent}{node.name or '/'} {{"
        in_pool = node.depth == 1 and node.name in pool_names
        for prop in node.properties:
            yield _property_line(blob, prop, indent + "\t", in_pool)
        open_nodes.append(node)
    while open_nodes:
        yield "\t" * open_nodes.pop().depth + "};"
