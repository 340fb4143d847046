"""The whole tree as DTS source that dtc compiles back to the same tree.

Values are shown the way dtc guesses them (strings, 32-bit cells or bytes), with
strings escaped properly, and a pool's `page-ranges` as `/bits/ 64` pairs so that
people can read them. The walk is iterative: depth costs no stack.
"""

from __future__ import annotations

import re
import sys
from array import array
from collections.abc import Iterator

from pmpoolctl.dtb.model import Blob, Node, Property
from pmpoolctl.pool.binding import PROP_PAGE_RANGES, RANGE_ENTRY_SIZE

_CONTROL_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r"}


# Bytes a DTS string may hold (escaped where needed); `translate` deleting them leaves the rest.
_STRING_BYTES = bytes(b for b in range(256) if 0x20 <= b < 0x7F or b == 0 or b in _CONTROL_ESCAPES)
_NEEDS_ESCAPE = re.compile(rb"[^\x20-\x21\x23-\x5b\x5d-\x7e]")
_ESCAPES = {bytes([b]): _CONTROL_ESCAPES.get(b, f"\\x{b:02x}").encode() for b in range(256)}
_ESCAPES[b'"'] = b'\\"'
_ESCAPES[b"\\"] = b"\\\\"
_CHUNK = 1 << 16  # cells or bytes formatted per join: a 16 MB value never becomes millions of strings at once
_PAIR_CHUNK = 8192  # page-ranges pairs formatted per `%`
_CELL_CHUNK = 16384  # 32-bit cells formatted per `%`


def looks_like_strings(value: bytes) -> bool:
    """dtc's guess: NUL-terminated, printable, and more text than NULs."""
    nuls = value.count(0)
    return len(value) > 0 and value[-1] == 0 and nuls <= len(value) - nuls and not value.translate(None, _STRING_BYTES)


def escape_string(text: bytes) -> str:
    """A DTS string literal's inside: quotes, backslashes and controls escaped."""
    return _NEEDS_ESCAPE.sub(lambda match: _ESCAPES[match.group()], text).decode("ascii")


def format_value(value: bytes) -> str:
    """The right-hand side of `name = …;` for a generic property."""
    return "".join(value_parts(value))


def value_parts(value: bytes) -> Iterator[str]:
    """`format_value` in pieces of at most _CHUNK cells, so a 16 MB value is never one string."""
    if looks_like_strings(value):
        yield ", ".join(f'"{escape_string(s)}"' for s in value[:-1].split(b"\0"))
    elif len(value) % 4 == 0:
        cells = array("I", value)
        if sys.byteorder == "little":
            cells.byteswap()
        yield "<"
        joined, joined_cells = "", 0
        for i in range(0, len(cells), _CELL_CHUNK):
            chunk = cells[i : i + _CELL_CHUNK]
            if joined_cells != len(chunk):  # one `%` per chunk, as for page-ranges
                joined, joined_cells = " ".join(["%#x"] * len(chunk)), len(chunk)
            yield (" " if i else "") + joined % tuple(chunk)
        yield ">"
    else:
        yield "["
        for i in range(0, len(value), _CHUNK):
            yield (" " if i else "") + value[i : i + _CHUNK].hex(" ")
        yield "]"


def _property_parts(blob: Blob, prop: Property, indent: str, in_pool: bool) -> Iterator[str]:
    if prop.length == 0:
        yield f"{indent}{prop.name};\n"
        return
    value = blob.value(prop)
    yield f"{indent}{prop.name} = "
    if in_pool and prop.name == PROP_PAGE_RANGES and len(value) % RANGE_ENTRY_SIZE == 0:
        words = array("Q", value)
        if sys.byteorder == "little":
            words.byteswap()
        continuation = ",\n" + indent + " " * (len(prop.name) + 3)
        # One `%` per chunk over the words as they lie (base, size, base, ...): the loop over
        # pairs is in CPython's formatter, not a format call per pair.
        pair = "/bits/ 64 <%#x %#x>"
        joined, joined_pairs = "", 0
        for i in range(0, len(words), 2 * _PAIR_CHUNK):
            chunk = words[i : i + 2 * _PAIR_CHUNK]
            if joined_pairs != len(chunk) // 2:  # the first chunk, and a shorter last one
                joined_pairs = len(chunk) // 2
                joined = continuation.replace("%", "%%").join([pair] * joined_pairs)
            yield (continuation if i else "") + joined % tuple(chunk)
    else:
        yield from value_parts(value)
    yield ";\n"


def render_dts(blob: Blob, pool_names: frozenset[str] = frozenset()) -> Iterator[str]:
    """The blob as DTS text, in pieces to write one after another; pool nodes named in `pool_names`
    (children of the root) show `page-ranges` as `/bits/ 64` pairs."""
    header = blob.header
    yield "/dts-v1/;\n"
    yield (
        f"// version {header.version}, last_comp_version {header.last_comp_version}, "
        f"boot_cpuid_phys {header.boot_cpuid_phys:#x}\n\n"
    )
    for entry in blob.reservations:
        yield f"/memreserve/ {entry.address:#x} {entry.size:#x};\n"
    if blob.reservations:
        yield "\n"
    open_nodes: list[Node] = []
    for node in blob.nodes:
        while open_nodes and open_nodes[-1].depth >= node.depth:
            yield "\t" * open_nodes.pop().depth + "};\n"
        indent = "\t" * node.depth
        if node.depth > 0:
            yield "\n"
        yield f"{indent}{node.name or '/'} {{\n"
        in_pool = node.depth == 1 and node.name in pool_names
        for prop in node.properties:
            yield from _property_parts(blob, prop, indent + "\t", in_pool)
        open_nodes.append(node)
    while open_nodes:
        yield "\t" * open_nodes.pop().depth + "};\n"
