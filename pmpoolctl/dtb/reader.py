"""The strict reader: a blob's bytes checked before anything trusts them, then indexed.

`parse_blob` reads in three steps, each bounded by what the one before checked:

1. the header: the magic, the version, a totalsize within the file and the limit,
   and every block inside the blob (`_check_header`, with the version's rules in
   `_Layout`: the one place where version 16 and 17 differ);
2. the reservation block: u64 pairs up to the (0, 0) terminator (`_reservations`);
3. the structure block: `_Tokens` reads one token at a time and checks its bounds
   (a tag, a node name that ends, a property that fits); `_walk` builds the tree
   from the tokens and holds it to dtc's checks (`DTC_CHECKS`, by dtc's names), so
   that a tree read here is a tree dtc reads.

The walk is a loop, not a recursion: depth costs no stack. Every fault is a BlobError
that names the file and the byte offset.
"""

from __future__ import annotations

import gc
import struct
import sys
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from pmpoolctl.dtb.format import (
    ESCAPE_FREE,
    FDT_BEGIN_NODE,
    FDT_END,
    FDT_END_NODE,
    FDT_MAGIC,
    FDT_NOP,
    FDT_PROP,
    HEADER_FIELDS,
    HEADER_OFFSET,
    HEADER_SIZE_V16,
    HEADER_SIZE_V17,
    MAX_BLOB_SIZE,
    MAX_DEPTH,
    MAX_NODES,
    MAX_PROPERTIES,
    NODE_NAME_CHARS,
    PROPERTY_NAME_CHARS,
    READ_VERSIONS,
    RESERVATION_ENTRY_SIZE,
    U32,
    U32_PAIR,
    align4,
    escaped,
    name_text,
    shown,
)
from pmpoolctl.dtb.model import Blob, Header, Node, Property, Reservations
from pmpoolctl.errors import BlobError

# Whose naming rules a blob's node and property names follow (parse_blob's `names`).
DTC_NAMES = "dtc"  # checks.c: [A-Za-z0-9,._+-] and one @ in node names, [A-Za-z0-9,._+*#?-] in property names
KERNEL_NAMES = "kernel"  # libfdt's fdt_begin_node/fdt_property: any bytes but NUL, names not empty

_TERMINATOR = bytes(RESERVATION_ENTRY_SIZE)
_PHANDLE_NAMES = frozenset({"phandle", "linux,phandle"})


def parse_blob(data: bytes, source: str, *, names: str = DTC_NAMES) -> Blob:
    """Check `data` strictly and index it; raise BlobError naming `source` and the offset.

    Bytes past the header's totalsize (a dump buffer) are not part of the blob.
    `names` is whose rules node and property names follow: dtc's (DTC_NAMES, for
    device trees and pools), or the kernel's (KERNEL_NAMES, for the FDTs the kernel
    writes with libfdt, e.g. KHO's, whose reserve_mem children are named as the
    command line named them: `dm:log` is legal there). Every other check is the same.
    """
    if names not in (DTC_NAMES, KERNEL_NAMES):
        raise ValueError(f"names must be {DTC_NAMES!r} or {KERNEL_NAMES!r}, not {names!r}")
    fail = _Failure(source)
    header, layout = _check_header(data, fail)
    data = data[: header.totalsize]
    reservations, reservation_end = _reservations(data, header, layout, fail)
    tokens = _Tokens(data, header, names == DTC_NAMES, fail)
    # The walk makes a few objects per token and none of them refer back: the cyclic garbage
    # collector, which would otherwise traverse all of them again and again as they pile up
    # (more than the walk's own time at 100,000 nodes), has nothing to find in them.
    collecting = gc.isenabled()
    gc.disable()
    try:
        walked = _fast_or_none(tokens, fail)
        # The reference walk raises the BlobError. It runs outside the `except`, whose traceback
        # would keep the fast walk's nodes alive beside its own: twice the memory for a late fault.
        nodes, struct_end = walked if walked is not None else _walk(tokens, fail)
    finally:
        if collecting:
            gc.enable()
    header = layout.measured(header, struct_end, fail)
    if nodes[0].name:  # dtc refuses even "/" here (node_name_chars)
        raise fail(f"root node is named '{shown(nodes[0].name)}', expected an empty name", nodes[0].begin)
    return Blob(source, data, header, reservations, reservation_end, nodes, struct_end)


class _Failure(NamedTuple):
    """Makes the BlobErrors of one blob: its name, the message, the offset."""

    source: str

    def __call__(self, message: str, offset: int | None = None) -> BlobError:
        return BlobError(f"{self.source}: {message}", offset=offset)


# --- 1. the header ------------------------------------------------------------------------------------------------


class _Layout(NamedTuple):
    """What a version says about the layout: the header's size and how big the structure block is.

    Version 17 states size_dt_struct; version 16 has no such word, so the structure
    block runs to the end of the blob until FDT_END is found, and the checks that
    need its size (it must not overlap the strings) wait for the walk.
    """

    version: int

    @property
    def header_size(self) -> int:
        return HEADER_SIZE_V17 if self.version >= 17 else HEADER_SIZE_V16

    @property
    def states_struct_size(self) -> bool:
        return self.version >= 17

    def struct_size(self, words: dict[str, int]) -> int:
        return words["size_dt_struct"] if self.states_struct_size else words["totalsize"] - words["off_dt_struct"]

    def known_struct_size(self, header: Header) -> int:
        """The structure block's size as far as the reservation check may rely on it (one tag for v16)."""
        return header.size_dt_struct if self.states_struct_size else 4

    def measured(self, header: Header, struct_end: int, fail: _Failure) -> Header:
        """The header with a version 16 blob's structure size as the walk found it, checked like v17's."""
        if self.states_struct_size:
            return header
        words = header.words()
        words["size_dt_struct"] = struct_end - header.off_dt_struct
        header = Header(**words)
        if _overlap(header.off_dt_struct, header.size_dt_struct, header.off_dt_strings, header.size_dt_strings):
            raise fail("header: the structure and strings blocks overlap", HEADER_OFFSET["off_dt_strings"])
        return header


def _check_header(data: bytes, fail: _Failure) -> tuple[Header, _Layout]:
    if len(data) < HEADER_SIZE_V17:
        raise fail(f"{len(data)} bytes is too short for an FDT header (needs {HEADER_SIZE_V17})")
    words = dict(zip(HEADER_FIELDS, (U32.unpack_from(data, 4 * i)[0] for i in range(len(HEADER_FIELDS)))))
    if words["magic"] != FDT_MAGIC:
        raise fail(f"bad magic {words['magic']:#010x}, expected {FDT_MAGIC:#010x}: not an FDT blob", 0)
    version = words["version"]
    if version not in READ_VERSIONS:
        raise fail(f"header version {version} is not supported (16 and 17 are)", HEADER_OFFSET["version"])
    last_comp = words["last_comp_version"]
    if last_comp > version:
        raise fail(
            f"header last_comp_version {last_comp} is newer than version {version}", HEADER_OFFSET["last_comp_version"]
        )
    layout = _Layout(version)
    total = words["totalsize"]
    if total < layout.header_size:
        raise fail(f"header totalsize {total} is smaller than the header", HEADER_OFFSET["totalsize"])
    if total > MAX_BLOB_SIZE:
        raise fail(f"header totalsize {total} is over the {MAX_BLOB_SIZE >> 20} MiB limit", HEADER_OFFSET["totalsize"])
    if total > len(data):
        raise fail(
            f"header totalsize {total} is larger than the file ({len(data)} bytes): truncated",
            HEADER_OFFSET["totalsize"],
        )

    def block(field_name: str, start: int, size: int, alignment: int) -> None:
        if start % alignment:
            raise fail(f"header {field_name} {start:#x} is not {alignment}-byte aligned", HEADER_OFFSET[field_name])
        if start < layout.header_size or start + size > total:
            raise fail(
                f"header {field_name} {start:#x} (+{size} bytes) lies outside the blob "
                f"[{layout.header_size:#x}, {total:#x})",
                HEADER_OFFSET[field_name],
            )

    block("off_mem_rsvmap", words["off_mem_rsvmap"], RESERVATION_ENTRY_SIZE, 8)
    block("off_dt_strings", words["off_dt_strings"], words["size_dt_strings"], 1)
    if layout.states_struct_size and words["size_dt_struct"] % 4:
        raise fail(
            f"header size_dt_struct {words['size_dt_struct']} is not a multiple of 4", HEADER_OFFSET["size_dt_struct"]
        )
    block("off_dt_struct", words["off_dt_struct"], words["size_dt_struct"] if layout.states_struct_size else 0, 4)
    words["size_dt_struct"] = layout.struct_size(words)
    if layout.states_struct_size and _overlap(
        words["off_dt_struct"], words["size_dt_struct"], words["off_dt_strings"], words["size_dt_strings"]
    ):
        raise fail("header: the structure and strings blocks overlap", HEADER_OFFSET["off_dt_strings"])
    del words["magic"]
    return Header(**words), layout


def _overlap(start_a: int, size_a: int, start_b: int, size_b: int) -> bool:
    return size_a > 0 and size_b > 0 and start_a < start_b + size_b and start_b < start_a + size_a


# --- 2. the reservation block ---------------------------------------------------------------------------------------


def _reservations(data: bytes, header: Header, layout: _Layout, fail: _Failure) -> tuple[Reservations, int]:
    start = header.off_mem_rsvmap
    # The (0, 0) terminator is the first 16 zero bytes on an entry boundary; find() keeps
    # the scan in C even for a million entries.
    terminator = start
    while True:
        terminator = data.find(_TERMINATOR, terminator, header.totalsize)
        if terminator < 0:
            entries = (header.totalsize - start) // RESERVATION_ENTRY_SIZE
            raise fail(
                "memory reservation block has no (0, 0) terminator before the blob ends",
                start + entries * RESERVATION_ENTRY_SIZE,
            )
        misalignment = (terminator - start) % RESERVATION_ENTRY_SIZE
        if misalignment == 0:
            break
        terminator += RESERVATION_ENTRY_SIZE - misalignment
    words = array("Q", data[start:terminator])
    if sys.byteorder == "little":
        words.byteswap()
    addresses, sizes = words[0::2], words[1::2]
    if 0 in sizes:
        # libfdt and dtc stop at the first size 0, so later entries would be invisible to them.
        index = sizes.index(0)
        raise fail(
            f"memory reservation entry {index} at {addresses[index]:#x} has size 0",
            start + index * RESERVATION_ENTRY_SIZE,
        )
    end = terminator + RESERVATION_ENTRY_SIZE
    for block_start, length, name in (
        (header.off_dt_struct, layout.known_struct_size(header), "structure"),
        (header.off_dt_strings, header.size_dt_strings, "strings"),
    ):
        if _overlap(start, end - start, block_start, length):
            raise fail(f"memory reservation block runs into the {name} block", start)
    return Reservations(addresses, sizes), end


# --- 3. the structure block: tokens ---------------------------------------------------------------------------------


class _Token(NamedTuple):
    """One structure-block token: its tag and offset; a node's name, or a property's name and value."""

    tag: int
    offset: int
    end: int  # where the next token starts
    raw_name: bytes = b""  # FDT_BEGIN_NODE
    name: str = ""  # FDT_BEGIN_NODE (escaped, whole: format.name_text), FDT_PROP
    value_offset: int = 0  # FDT_PROP
    length: int = 0  # FDT_PROP


class _Tokens:
    """Reads the structure block token by token, each bounded by the block and its strings."""

    def __init__(self, data: bytes, header: Header, dtc_names: bool, fail: _Failure) -> None:
        self.data = data
        self.header = header
        self.start = header.off_dt_struct
        self.limit = header.off_dt_struct + header.size_dt_struct
        self.dtc_names = dtc_names
        self.fail = fail
        self._names: dict[int, str] = {}  # property names by strings offset: each is checked once

    def tag_at(self, offset: int) -> int:
        if offset + 4 > self.limit:
            raise self.fail("structure block ends without FDT_END", offset)
        tag: int = U32.unpack_from(self.data, offset)[0]
        return tag

    def read(self, tag: int, offset: int) -> _Token:
        if tag in (FDT_NOP, FDT_END_NODE, FDT_END):
            return _Token(tag, offset, offset + 4)
        if tag == FDT_BEGIN_NODE:
            name_start = offset + 4
            name_end = self.data.find(b"\0", name_start, self.limit)
            if name_end < 0:
                raise self.fail("node name is not NUL-terminated inside the structure block", offset)
            raw = self.data[name_start:name_end]
            return _Token(tag, offset, align4(name_end + 1), raw_name=raw, name=name_text(raw))
        if tag == FDT_PROP:
            if offset + 12 > self.limit:
                raise self.fail("property header runs past the structure block", offset)
            length, name_offset = U32_PAIR.unpack_from(self.data, offset + 4)
            value_offset = offset + 12
            if length > self.limit - value_offset:
                raise self.fail(f"property length {length} runs past the structure block", offset + 4)
            name = self._names.get(name_offset)
            if name is None:
                name = self._names[name_offset] = self._property_name(name_offset, offset)
            return _Token(
                tag, offset, align4(value_offset + length), name=name, value_offset=value_offset, length=length
            )
        raise self.fail(f"unknown structure tag {tag:#x}", offset)

    def _property_name(self, name_offset: int, at: int) -> str:
        """A property name from the strings block, bounds-checked."""
        header = self.header
        if name_offset >= header.size_dt_strings:
            raise self.fail(
                f"property name offset {name_offset:#x} is outside the strings block ({header.size_dt_strings} bytes)",
                at + 8,
            )
        start = header.off_dt_strings + name_offset
        end = self.data.find(b"\0", start, header.off_dt_strings + header.size_dt_strings)
        if end < 0:
            raise self.fail(f"property name at strings offset {name_offset:#x} is not NUL-terminated", at + 8)
        if end == start:
            raise self.fail(f"property name at strings offset {name_offset:#x} is empty", at + 8)
        raw = self.data[start:end]
        name = name_text(raw)
        if self.dtc_names and raw.translate(None, PROPERTY_NAME_CHARS):  # dtc's property_name_chars
            raise self.fail(
                f"property name '{shown(name)}' has characters dtc does not allow in a property name", at + 8
            )
        return name


# --- 3. the structure block: the tree, held to dtc's checks -----------------------------------------------------------


@dataclass
class _Tree:
    """The tree as the walk builds it: the nodes so far, the open ones, what each open node holds."""

    data: bytes
    dtc_names: bool
    fail: _Failure
    nodes: list[Node] = field(default_factory=list)
    open: list[int] = field(default_factory=list)  # indexes of the open nodes, the innermost last
    seen: list[set[str]] = field(default_factory=list)  # per open node: its children's ("/" + name) and props' names
    phandles: dict[int, int] = field(default_factory=dict)  # phandle value -> index of the node that holds it
    property_count: int = 0  # FDT_PROP tokens so far, those left out of the tree too

    @property
    def current(self) -> int:
        return self.open[-1]

    def path(self, index: int) -> str:
        parts: list[str] = []
        while index > 0:
            parts.append(self.nodes[index].name)
            index = self.nodes[index].parent
        return "/" + "/".join(reversed(parts))

    def shown_path(self, index: int) -> str:
        return shown(self.path(index))


NodeCheck = Callable[[_Tree, _Token], None]
PropertyCheck = Callable[[_Tree, _Token], bool]  # False: the property is left out of the tree


def _node_name(tree: _Tree, token: _Token) -> None:
    if not token.name:
        raise tree.fail("node has an empty name", token.offset)
    raw = token.raw_name
    if tree.dtc_names and (raw.translate(None, NODE_NAME_CHARS) or raw.count(b"@") > 1):
        raise tree.fail(
            f"node name '{shown(token.name)}' has characters dtc does not allow in a node name", token.offset
        )


def _depth(tree: _Tree, token: _Token) -> None:
    if len(tree.open) >= MAX_DEPTH:
        raise tree.fail(f"nodes nested deeper than {MAX_DEPTH} levels", token.offset)


def _node_count(tree: _Tree, token: _Token) -> None:
    if len(tree.nodes) >= MAX_NODES:
        raise tree.fail(f"more than {MAX_NODES} nodes, the limit on a tree", token.offset)


def _property_count(tree: _Tree, token: _Token) -> bool:
    tree.property_count += 1
    if tree.property_count > MAX_PROPERTIES:
        raise tree.fail(f"more than {MAX_PROPERTIES} properties, the limit on a tree", token.offset)
    return True


def _duplicate_node_name(tree: _Tree, token: _Token) -> None:
    siblings = tree.seen[-1]
    if "/" + token.name in siblings:
        raise tree.fail(
            f"duplicate node name '{shown(token.name)}' under {tree.shown_path(tree.current)}", token.offset
        )
    siblings.add("/" + token.name)


def _property_before_subnodes(tree: _Tree, token: _Token) -> bool:
    if tree.nodes[tree.current].children:
        raise tree.fail(
            f"property '{shown(token.name)}' follows a subnode in {tree.shown_path(tree.current)}", token.offset
        )
    return True


def _duplicate_property_name(tree: _Tree, token: _Token) -> bool:
    if token.name in tree.seen[-1]:
        raise tree.fail(f"duplicate property '{shown(token.name)}' in {tree.shown_path(tree.current)}", token.offset)
    tree.seen[-1].add(token.name)
    return True


def _explicit_phandles(tree: _Tree, token: _Token) -> bool:
    """One 32-bit cell, not 0 or ~0, one node per value; phandle and linux,phandle agree."""
    if token.name not in _PHANDLE_NAMES:
        return True
    where, offset, index = tree.shown_path(tree.current), token.offset, tree.current
    if token.length != 4:
        raise tree.fail(f"'{token.name}' in {where} is {token.length} bytes long, expected one 32-bit cell", offset + 4)
    (value,) = U32.unpack_from(tree.data, token.value_offset)
    if value in (0, 0xFFFFFFFF):
        raise tree.fail(f"'{token.name}' in {where} has the invalid value {value:#x}", offset + 12)
    owner = tree.phandles.setdefault(value, index)
    if owner != index:
        raise tree.fail(
            f"'{token.name}' in {where} duplicates phandle {value:#x} of {tree.shown_path(owner)}", offset + 12
        )
    for other in tree.nodes[index].properties:
        if other.name in _PHANDLE_NAMES and U32.unpack_from(tree.data, other.value_offset)[0] != value:
            raise tree.fail(f"'phandle' and 'linux,phandle' of {where} differ", offset + 12)
    return True


def _name_property(tree: _Tree, token: _Token) -> bool:
    """A `name` must be one string, the node's name without its unit address. dtc refuses any other
    and drops this one from the tree it reads (it is redundant), so the tree here drops it too; its
    bytes stay in the blob."""
    if token.name != "name":
        return True
    value = tree.data[token.value_offset : token.value_offset + token.length]
    where = tree.shown_path(tree.current)
    if not value.endswith(b"\0") or b"\0" in value[:-1]:
        raise tree.fail(f"'name' in {where} is not a string (dtc's name_is_string check)", token.offset)
    basename = tree.nodes[tree.current].name.split("@", 1)[0]
    if value[:-1] != basename.encode("ascii"):
        raise tree.fail(
            f'\'name\' in {where} is "{escaped(value[:-1])}", not the node\'s name "{shown(basename)}" '
            "(dtc's name_properties check)",
            token.offset,
        )
    return False


# The checks a tree read here is held to, in the order they are made, by dtc's names for them
# (checks.c) where they are dtc's; property_name_chars is the tokens' (`_Tokens._property_name`),
# and the root's empty name is parse_blob's.
NODE_CHECKS: tuple[tuple[str, NodeCheck], ...] = (
    ("node_name_chars, node_name_format", _node_name),
    ("(pmpoolctl: at most MAX_DEPTH levels)", _depth),
    ("(pmpoolctl: at most MAX_NODES nodes)", _node_count),
    ("duplicate_node_names", _duplicate_node_name),
)
PROPERTY_CHECKS: tuple[tuple[str, PropertyCheck], ...] = (
    ("(pmpoolctl: at most MAX_PROPERTIES properties)", _property_count),
    ("(the format: properties come before subnodes)", _property_before_subnodes),
    ("duplicate_property_names", _duplicate_property_name),
    ("explicit_phandles", _explicit_phandles),
    ("name_is_string, name_properties", _name_property),
)
_NODE_CHECKS = tuple(check for _, check in NODE_CHECKS)
_PROPERTY_CHECKS = tuple(check for _, check in PROPERTY_CHECKS)


def _walk(tokens: _Tokens, fail: _Failure) -> tuple[list[Node], int]:
    """The nodes of the structure block, in order, and the offset just past FDT_END."""
    tree = _Tree(tokens.data, tokens.dtc_names, fail)
    nodes, open_nodes = tree.nodes, tree.open
    offset = tokens.start
    while True:
        tag = tokens.tag_at(offset)
        if not nodes and tag != FDT_BEGIN_NODE:
            raise fail(f"structure block starts with tag {tag:#x}, not the root's FDT_BEGIN_NODE", offset)
        if nodes and not open_nodes and tag != FDT_END:
            raise fail(f"tag {tag:#x} after the root node closed; expected FDT_END", offset)
        token = tokens.read(tag, offset)
        if tag == FDT_BEGIN_NODE:
            if open_nodes:
                for node_check in _NODE_CHECKS:
                    node_check(tree, token)
                nodes[tree.current].children.append(len(nodes))
            elif nodes:
                raise fail("a second root node follows the first", offset)
            parent = tree.current if open_nodes else -1
            nodes.append(Node(name=token.name, parent=parent, depth=len(open_nodes), begin=offset))
            open_nodes.append(len(nodes) - 1)
            tree.seen.append(set())
        elif tag == FDT_END_NODE:
            if not open_nodes:
                raise fail("FDT_END_NODE without an open node", offset)
            nodes[open_nodes.pop()].end = token.end
            tree.seen.pop()
        elif tag == FDT_PROP:
            if not open_nodes:
                raise fail("property outside any node", offset)
            if all([property_check(tree, token) for property_check in _PROPERTY_CHECKS]):
                nodes[tree.current].properties.append(Property(token.name, offset, token.value_offset, token.length))
        elif tag == FDT_END:
            if open_nodes:
                raise fail(f"FDT_END inside open node {tree.shown_path(tree.current)}", offset)
            if not nodes:
                raise fail("structure block has no root node", offset)
            return nodes, token.end
        offset = token.end


# --- the same walk, fast ----------------------------------------------------------------------------------------------


class _Unusual(Exception):
    """The fast walk met something it leaves to `_walk`: a fault (whose BlobError `_walk` makes) or a
    case too rare to be worth a fast path."""


_THREE_WORDS = struct.Struct(">III")


def _fast_or_none(tokens: _Tokens, fail: _Failure) -> tuple[list[Node], int] | None:
    """`_walk_fast`'s result, or None where it leaves the blob to `_walk`."""
    try:
        return _walk_fast(tokens, fail)
    except _Unusual:
        return None


def _walk_fast(tokens: _Tokens, fail: _Failure) -> tuple[list[Node], int]:
    """`_walk`'s result for a blob that `_walk` accepts, with its checks made inline.

    A tree of 100,000 nodes is 300,000 tokens: a token object and a call per check each cost
    more than the whole of what this loop does for one. It holds every token to the same rules
    in the same order as `_walk` (NODE_CHECKS, PROPERTY_CHECKS; the special properties through
    their own checks), and raises _Unusual at the first fault or anything it does not handle,
    so that `_walk` makes the error exactly as it would have: what this accepts is what `_walk`
    accepts, as the same nodes. The words are read where they lie (no copy of the block: a
    pool's page-ranges can be most of it).
    """
    data, offset, limit = tokens.data, tokens.start, tokens.limit
    tag_at, three_words = U32.unpack_from, _THREE_WORDS.unpack_from
    new_tuple = tuple.__new__  # Property(...) without the named tuple's Python-level __new__
    tree = _Tree(data, tokens.dtc_names, fail)
    nodes, open_nodes, seen = tree.nodes, tree.open, tree.seen
    dtc_names = tokens.dtc_names
    property_names = tokens._names
    properties_left = MAX_PROPERTIES
    find = data.find
    special = _SPECIAL_PROPERTIES
    node_chars, plain = NODE_NAME_CHARS, ESCAPE_FREE
    if offset + 4 > limit or tag_at(data, offset)[0] != FDT_BEGIN_NODE:
        raise _Unusual
    while True:
        if offset + 12 <= limit:
            tag, length, name_offset = three_words(data, offset)  # a property's head; for others, ignored
        elif offset + 4 <= limit:
            (tag,) = tag_at(data, offset)
            if tag == FDT_PROP:
                raise _Unusual  # its header runs past the block
        else:
            raise _Unusual
        if tag == FDT_PROP:
            properties_left -= 1
            if not open_nodes or properties_left < 0:
                raise _Unusual
            value_offset = offset + 12
            if length > limit - value_offset:
                raise _Unusual
            name = property_names.get(name_offset)
            if name is None:
                try:
                    name = property_names[name_offset] = tokens._property_name(name_offset, offset)
                except BlobError:
                    raise _Unusual from None
            node = nodes[open_nodes[-1]]
            siblings = seen[-1]
            if node.children or name in siblings:
                raise _Unusual
            siblings.add(name)
            keep = True
            if name in special:
                token = _Token(tag, offset, 0, name=name, value_offset=value_offset, length=length)
                try:
                    keep = _explicit_phandles(tree, token) and _name_property(tree, token)
                except BlobError:
                    raise _Unusual from None
            if keep:
                node.properties.append(new_tuple(Property, (name, offset, value_offset, length)))
            offset = (value_offset + length + 3) & ~3
        elif tag == FDT_BEGIN_NODE:
            name_end = find(b"\0", offset + 4, limit)
            if name_end < 0:
                raise _Unusual
            raw = data[offset + 4 : name_end]
            if dtc_names and open_nodes:
                # NODE_CHECKS: node_name_chars/node_name_format (dtc's characters are all shown as they are)
                if not raw or raw.translate(None, node_chars) or raw.count(b"@") > 1:
                    raise _Unusual
                name = raw.decode("ascii")
            else:
                name = escaped(raw) if raw.translate(None, plain) else raw.decode("ascii")  # format.name_text
            if open_nodes:
                if not raw:
                    raise _Unusual
                if len(open_nodes) >= MAX_DEPTH or len(nodes) >= MAX_NODES:
                    raise _Unusual
                siblings = seen[-1]
                key = "/" + name
                if key in siblings:
                    raise _Unusual
                siblings.add(key)
                parent = open_nodes[-1]
                nodes[parent].children.append(len(nodes))
            elif nodes:
                raise _Unusual  # cannot happen: the loop ends when the root closes
            else:
                parent = -1
            nodes.append(Node(name, parent, len(open_nodes), offset, 0, [], []))
            open_nodes.append(len(nodes) - 1)
            seen.append(set())
            offset = (name_end + 4) & ~3  # align4(name_end + 1)
        elif tag == FDT_END_NODE:
            if not open_nodes:
                raise _Unusual
            offset += 4
            nodes[open_nodes.pop()].end = offset
            seen.pop()
            if not open_nodes:  # the root closed: only FDT_END may follow (no NOP either, as in _walk)
                if offset + 4 > limit or tag_at(data, offset)[0] != FDT_END:
                    raise _Unusual
                return nodes, offset + 4
        elif tag == FDT_NOP:
            offset += 4
        else:
            raise _Unusual  # FDT_END inside a node, or an unknown tag


_SPECIAL_PROPERTIES = _PHANDLE_NAMES | {"name"}
