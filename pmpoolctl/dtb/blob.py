"""Reading FDT blobs strictly, and writing edited blobs.

`parse_blob` checks a blob before anything trusts it: the header, every block
inside `totalsize`, the reservation block terminated, and the structure block
walked once (iteratively, so depth costs no stack) with every tag, name, length
and string offset bounds-checked. The result is an index of nodes and
properties that points into the original bytes; values are never decoded here.

Edits splice: the edited node's bytes are replaced in the structure block, new
property names are appended to the strings block, and every other byte before
the structure block (header words aside), inside it and in the strings block
stays as it was. The `fdt` package encodes the new node; it is imported only
here, and only for that.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, overload

from pmpoolctl.dtb.format import (
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
    NODE_NAME_CHARS,
    PROPERTY_NAME_CHARS,
    READ_VERSIONS,
    RESERVATION_ENTRY_SIZE,
    U32,
    U32_PAIR,
    WRITE_LAST_COMP_VERSION,
    WRITE_VERSION,
    align4,
    escaped,
)
from pmpoolctl.errors import BindingError, BlobError

_TERMINATOR = bytes(RESERVATION_ENTRY_SIZE)
# Whose naming rules a blob's node and property names follow (parse_blob's `names`).
DTC_NAMES = "dtc"  # checks.c: [A-Za-z0-9,._+-] and one @ in node names, [A-Za-z0-9,._+*#?-] in property names
KERNEL_NAMES = "kernel"  # libfdt's fdt_begin_node/fdt_property: any bytes but NUL, names not empty
_PHANDLE_NAMES = frozenset({"phandle", "linux,phandle"})


@dataclass(frozen=True)
class Header:
    """The FDT header words (size_dt_struct is derived for version 16)."""

    totalsize: int
    off_dt_struct: int
    off_dt_strings: int
    off_mem_rsvmap: int
    version: int
    last_comp_version: int
    boot_cpuid_phys: int
    size_dt_strings: int
    size_dt_struct: int

    @property
    def size(self) -> int:
        """Bytes the header occupies in a blob of this version."""
        return HEADER_SIZE_V17 if self.version >= 17 else HEADER_SIZE_V16


class Reservation(NamedTuple):
    """One entry of the memory reservation block."""

    address: int
    size: int


class Reservations(Sequence[Reservation]):
    """The reservation block's entries, held as two u64 arrays (a million entries is 16 MB, not 200)."""

    __slots__ = ("addresses", "sizes")

    def __init__(self, addresses: array[int], sizes: array[int]) -> None:
        self.addresses = addresses
        self.sizes = sizes

    def __len__(self) -> int:
        return len(self.addresses)

    @overload
    def __getitem__(self, index: int) -> Reservation: ...
    @overload
    def __getitem__(self, index: slice) -> list[Reservation]: ...
    def __getitem__(self, index: int | slice) -> Reservation | list[Reservation]:
        if isinstance(index, slice):
            return list(map(Reservation, self.addresses[index], self.sizes[index]))
        return Reservation(self.addresses[index], self.sizes[index])

    def __iter__(self) -> Iterator[Reservation]:
        return map(Reservation, self.addresses, self.sizes)


@dataclass(frozen=True)
class Property:
    """A property in the structure block; its value is `blob.value(prop)`."""

    name: str
    offset: int  # of the FDT_PROP tag
    value_offset: int
    length: int


@dataclass
class Node:
    """A node in the structure block, by the offsets of its tags."""

    name: str
    parent: int  # index into Blob.nodes; -1 for the root
    depth: int
    begin: int  # offset of FDT_BEGIN_NODE
    end: int = 0  # offset just past the matching FDT_END_NODE
    properties: list[Property] = field(default_factory=list)
    children: list[int] = field(default_factory=list)

    def property(self, name: str) -> Property | None:
        """The property called `name`, or None."""
        for prop in self.properties:
            if prop.name == name:
                return prop
        return None


@dataclass
class Blob:
    """A checked blob: its bytes (exactly totalsize of them) and their index."""

    source: str
    data: bytes
    header: Header
    reservations: Reservations
    reservation_block_end: int
    nodes: list[Node]
    struct_end: int  # offset just past FDT_END

    @property
    def root(self) -> Node:
        return self.nodes[0]

    def value(self, prop: Property) -> bytes:
        """The raw bytes of a property's value."""
        return self.data[prop.value_offset : prop.value_offset + prop.length]

    def view(self, prop: Property) -> memoryview:
        """A property's value without copying it (for a value that may be 16 MB)."""
        return memoryview(self.data)[prop.value_offset : prop.value_offset + prop.length]

    def path(self, node: Node) -> str:
        """The node's full path, `/` for the root."""
        parts: list[str] = []
        while node.parent >= 0:
            parts.append(node.name)
            node = self.nodes[node.parent]
        return "/" + "/".join(reversed(parts))

    def child(self, parent: Node, name: str) -> Node | None:
        """The child of `parent` called `name` (with unit address if it has one)."""
        for index in parent.children:
            if self.nodes[index].name == name:
                return self.nodes[index]
        return None

    def children(self, parent: Node) -> list[Node]:
        return [self.nodes[index] for index in parent.children]


class _Reader:
    """One strict pass over a blob's bytes; raises BlobError on the first fault."""

    def __init__(self, data: bytes, source: str, names: str = DTC_NAMES) -> None:
        self.data = data
        self.source = source
        self.dtc_names = names == DTC_NAMES

    def fail(self, message: str, offset: int | None = None) -> BlobError:
        return BlobError(f"{self.source}: {message}", offset=offset)

    def header(self) -> Header:
        data = self.data
        if len(data) < HEADER_SIZE_V17:
            raise self.fail(f"{len(data)} bytes is too short for an FDT header (needs {HEADER_SIZE_V17})")
        words = dict(zip(HEADER_FIELDS, (U32.unpack_from(data, 4 * i)[0] for i in range(len(HEADER_FIELDS)))))
        if words["magic"] != FDT_MAGIC:
            raise self.fail(f"bad magic {words['magic']:#010x}, expected {FDT_MAGIC:#010x}: not an FDT blob", 0)
        version = words["version"]
        if version not in READ_VERSIONS:
            raise self.fail(f"header version {version} is not supported (16 and 17 are)", HEADER_OFFSET["version"])
        last_comp = words["last_comp_version"]
        if last_comp > version:
            raise self.fail(
                f"header last_comp_version {last_comp} is newer than version {version}",
                HEADER_OFFSET["last_comp_version"],
            )
        header_size = HEADER_SIZE_V17 if version >= 17 else HEADER_SIZE_V16
        total = words["totalsize"]
        if total < header_size:
            raise self.fail(f"header totalsize {total} is smaller than the header", HEADER_OFFSET["totalsize"])
        if total > MAX_BLOB_SIZE:
            raise self.fail(
                f"header totalsize {total} is over the {MAX_BLOB_SIZE >> 20} MiB limit", HEADER_OFFSET["totalsize"]
            )
        if total > len(data):
            raise self.fail(
                f"header totalsize {total} is larger than the file ({len(data)} bytes): truncated",
                HEADER_OFFSET["totalsize"],
            )
        self.data = data = data[:total]

        def block(field_name: str, start: int, size: int, alignment: int) -> None:
            if start % alignment:
                raise self.fail(
                    f"header {field_name} {start:#x} is not {alignment}-byte aligned", HEADER_OFFSET[field_name]
                )
            if start < header_size or start + size > total:
                raise self.fail(
                    f"header {field_name} {start:#x} (+{size} bytes) lies outside the blob "
                    f"[{header_size:#x}, {total:#x})",
                    HEADER_OFFSET[field_name],
                )

        block("off_mem_rsvmap", words["off_mem_rsvmap"], RESERVATION_ENTRY_SIZE, 8)
        block("off_dt_strings", words["off_dt_strings"], words["size_dt_strings"], 1)
        if version >= 17:
            if words["size_dt_struct"] % 4:
                raise self.fail(
                    f"header size_dt_struct {words['size_dt_struct']} is not a multiple of 4",
                    HEADER_OFFSET["size_dt_struct"],
                )
            block("off_dt_struct", words["off_dt_struct"], words["size_dt_struct"], 4)
            struct_size = words["size_dt_struct"]
        else:
            block("off_dt_struct", words["off_dt_struct"], 0, 4)
            struct_size = total - words["off_dt_struct"]  # bounded by FDT_END below
        struct_start, strings_start = words["off_dt_struct"], words["off_dt_strings"]
        if version >= 17 and _overlap(struct_start, struct_size, strings_start, words["size_dt_strings"]):
            raise self.fail("header: the structure and strings blocks overlap", HEADER_OFFSET["off_dt_strings"])
        return Header(
            totalsize=total,
            off_dt_struct=struct_start,
            off_dt_strings=strings_start,
            off_mem_rsvmap=words["off_mem_rsvmap"],
            version=version,
            last_comp_version=last_comp,
            boot_cpuid_phys=words["boot_cpuid_phys"],
            size_dt_strings=words["size_dt_strings"],
            size_dt_struct=struct_size,
        )

    def reservations(self, header: Header) -> tuple[Reservations, int]:
        data = self.data
        start = header.off_mem_rsvmap
        # The (0, 0) terminator is the first 16 zero bytes on an entry boundary; find() keeps
        # the scan in C even for a million entries.
        terminator = start
        while True:
            terminator = data.find(_TERMINATOR, terminator, header.totalsize)
            if terminator < 0:
                entries = (header.totalsize - start) // RESERVATION_ENTRY_SIZE
                raise self.fail(
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
            raise self.fail(
                f"memory reservation entry {index} at {addresses[index]:#x} has size 0",
                start + index * RESERVATION_ENTRY_SIZE,
            )
        offset = terminator + RESERVATION_ENTRY_SIZE
        for start, length, name in (
            (header.off_dt_struct, header.size_dt_struct if header.version >= 17 else 4, "structure"),
            (header.off_dt_strings, header.size_dt_strings, "strings"),
        ):
            if _overlap(header.off_mem_rsvmap, offset - header.off_mem_rsvmap, start, length):
                raise self.fail(f"memory reservation block runs into the {name} block", header.off_mem_rsvmap)
        return Reservations(addresses, sizes), offset

    def string(self, header: Header, name_offset: int, at: int) -> str:
        """A property name from the strings block, bounds-checked."""
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
        name = escaped(raw)
        if self.dtc_names and raw.translate(None, PROPERTY_NAME_CHARS):
            raise self.fail(f"property name '{name}' has characters dtc does not allow in a property name", at + 8)
        return name

    def structure(self, header: Header) -> tuple[list[Node], int]:
        data = self.data
        offset = header.off_dt_struct
        limit = header.off_dt_struct + header.size_dt_struct
        nodes: list[Node] = []
        stack: list[int] = []  # indexes of the open nodes
        seen_names: list[set[str]] = []  # per open node: its children's and properties' names
        names_cache: dict[int, str] = {}
        phandles: dict[int, int] = {}  # phandle value -> index of the node that holds it
        u32 = U32.unpack_from
        while True:
            if offset + 4 > limit:
                raise self.fail("structure block ends without FDT_END", offset)
            (tag,) = u32(data, offset)
            if not nodes and tag != FDT_BEGIN_NODE:
                raise self.fail(f"structure block starts with tag {tag:#x}, not the root's FDT_BEGIN_NODE", offset)
            if nodes and not stack and tag != FDT_END:
                raise self.fail(f"tag {tag:#x} after the root node closed; expected FDT_END", offset)
            if tag == FDT_NOP:
                offset += 4
            elif tag == FDT_BEGIN_NODE:
                name_start = offset + 4
                name_end = data.find(b"\0", name_start, limit)
                if name_end < 0:
                    raise self.fail("node name is not NUL-terminated inside the structure block", offset)
                raw_name = data[name_start:name_end]
                name = escaped(raw_name)
                if stack:
                    if not name:
                        raise self.fail("node has an empty name", offset)
                    if self.dtc_names and (raw_name.translate(None, NODE_NAME_CHARS) or raw_name.count(b"@") > 1):
                        raise self.fail(f"node name '{name}' has characters dtc does not allow in a node name", offset)
                    if len(stack) >= MAX_DEPTH:
                        raise self.fail(f"nodes nested deeper than {MAX_DEPTH} levels", offset)
                    siblings = seen_names[-1]
                    if "/" + name in siblings:
                        raise self.fail(f"duplicate node name '{name}' under {self._path(nodes, stack[-1])}", offset)
                    siblings.add("/" + name)
                elif nodes:
                    raise self.fail("a second root node follows the first", offset)
                node = Node(name=name, parent=stack[-1] if stack else -1, depth=len(stack), begin=offset)
                if stack:
                    nodes[stack[-1]].children.append(len(nodes))
                stack.append(len(nodes))
                seen_names.append(set())
                nodes.append(node)
                offset = align4(name_end + 1)
            elif tag == FDT_END_NODE:
                if not stack:
                    raise self.fail("FDT_END_NODE without an open node", offset)
                offset += 4
                nodes[stack.pop()].end = offset
                seen_names.pop()
            elif tag == FDT_PROP:
                if not stack:
                    raise self.fail("property outside any node", offset)
                if offset + 12 > limit:
                    raise self.fail("property header runs past the structure block", offset)
                length, name_offset = U32_PAIR.unpack_from(data, offset + 4)
                value_offset = offset + 12
                if length > limit - value_offset:
                    raise self.fail(f"property length {length} runs past the structure block", offset + 4)
                prop_name = names_cache.get(name_offset)
                if prop_name is None:
                    prop_name = names_cache[name_offset] = self.string(header, name_offset, offset)
                current = nodes[stack[-1]]
                if current.children:
                    where = self._path(nodes, stack[-1])
                    raise self.fail(f"property '{prop_name}' follows a subnode in {where}", offset)
                if prop_name in seen_names[-1]:
                    raise self.fail(f"duplicate property '{prop_name}' in {self._path(nodes, stack[-1])}", offset)
                seen_names[-1].add(prop_name)
                if prop_name in _PHANDLE_NAMES:
                    self._check_phandle(nodes, stack[-1], prop_name, data, offset, length, phandles)
                if prop_name != "name" or not self._redundant_name(nodes, stack[-1], value_offset, length, offset):
                    current.properties.append(Property(prop_name, offset, value_offset, length))
                offset = align4(value_offset + length)
            elif tag == FDT_END:
                if stack:
                    raise self.fail(f"FDT_END inside open node {self._path(nodes, stack[-1])}", offset)
                if not nodes:
                    raise self.fail("structure block has no root node", offset)
                return nodes, offset + 4
            else:
                raise self.fail(f"unknown structure tag {tag:#x}", offset)

    def _check_phandle(
        self, nodes: list[Node], index: int, name: str, data: bytes, offset: int, length: int, seen: dict[int, int]
    ) -> None:
        """dtc's explicit_phandles check: one 32-bit cell, not 0 or ~0, one node per value."""
        where = self._path(nodes, index)
        if length != 4:
            raise self.fail(f"'{name}' in {where} is {length} bytes long, expected one 32-bit cell", offset + 4)
        (value,) = U32.unpack_from(data, offset + 12)
        if value in (0, 0xFFFFFFFF):
            raise self.fail(f"'{name}' in {where} has the invalid value {value:#x}", offset + 12)
        owner = seen.setdefault(value, index)
        if owner != index:
            raise self.fail(
                f"'{name}' in {where} duplicates phandle {value:#x} of {self._path(nodes, owner)}", offset + 12
            )
        for other in nodes[index].properties:
            if other.name in _PHANDLE_NAMES and U32.unpack_from(data, other.value_offset)[0] != value:
                raise self.fail(f"'phandle' and 'linux,phandle' of {where} differ", offset + 12)

    def _redundant_name(self, nodes: list[Node], index: int, value_offset: int, length: int, offset: int) -> bool:
        """dtc's name_is_string and name_properties checks: a `name` property must be one string, the
        node's name without its unit address. dtc refuses any other and drops this one from the tree
        it reads (it is redundant), so the tree shown here drops it too; its bytes stay in the blob."""
        value = self.data[value_offset : value_offset + length]
        where = self._path(nodes, index)
        if not value.endswith(b"\0") or b"\0" in value[:-1]:
            raise self.fail(f"'name' in {where} is not a string (dtc's name_is_string check)", offset)
        basename = nodes[index].name.split("@", 1)[0]
        if value[:-1] != basename.encode("ascii"):
            raise self.fail(
                f'\'name\' in {where} is "{escaped(value[:-1])}", not the node\'s name "{basename}" '
                "(dtc's name_properties check)",
                offset,
            )
        return True

    @staticmethod
    def _path(nodes: list[Node], index: int) -> str:
        parts: list[str] = []
        while index > 0:
            parts.append(nodes[index].name)
            index = nodes[index].parent
        return "/" + "/".join(reversed(parts))


def _overlap(start_a: int, size_a: int, start_b: int, size_b: int) -> bool:
    return size_a > 0 and size_b > 0 and start_a < start_b + size_b and start_b < start_a + size_a


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
    reader = _Reader(data, source, names)
    header = reader.header()
    reservations, reservation_end = reader.reservations(header)
    nodes, struct_end = reader.structure(header)
    if header.version < 17:
        header = _with(header, size_dt_struct=struct_end - header.off_dt_struct)
        if _overlap(header.off_dt_struct, header.size_dt_struct, header.off_dt_strings, header.size_dt_strings):
            raise reader.fail("header: the structure and strings blocks overlap", HEADER_OFFSET["off_dt_strings"])
    if nodes[0].name:  # dtc refuses even "/" here (node_name_chars)
        raise reader.fail(f"root node is named '{nodes[0].name}', expected an empty name", nodes[0].begin)
    return Blob(source, reader.data, header, reservations, reservation_end, nodes, struct_end)


def _with(header: Header, **changes: int) -> Header:
    values = {name: getattr(header, name) for name in Header.__dataclass_fields__}
    values.update(changes)
    return Header(**values)


# ---------------------------------------------------------------------------
# Writing


Buffer = bytes | memoryview  # a property value: a big one is passed as a view, never copied


class Pieces:
    """A property value in pieces (views of the old blob and new bytes), joined once into the new blob."""

    __slots__ = ("parts", "size")

    def __init__(self, parts: Sequence[Buffer]) -> None:
        self.parts = tuple(parts)
        self.size = sum(len(part) for part in self.parts)

    def __len__(self) -> int:
        return self.size

    def __bytes__(self) -> bytes:
        return b"".join(self.parts)


Value = Buffer | Pieces  # what encode_node writes as a property's value
_LARGE_VALUE = 1 << 16


def encode_node(
    name: str, properties: Sequence[tuple[str, Value]], strings: bytes, version: int
) -> tuple[list[Buffer], bytes]:
    """Encode a leaf node with the `fdt` package; return (the node's parts in order, new strings block).

    fdt encodes every token. A large value (a million ranges is 16 MB) is not handed
    to it, as fdt copies a value three times while it concatenates: fdt encodes the
    property's tag with no value, the tag's length word is set, and the value itself
    is joined into the blob once, by the caller. Property names already in `strings`
    are reused; new ones are appended, so the old strings block is a prefix of the new.
    """
    import fdt  # the tree library; imported where it is used, it costs start-up time

    for prop_name, _ in properties:
        # fdt silently drops properties whose names end this way (fdt-package.md, defect 6).
        if prop_name.endswith("_with_references"):
            raise BindingError(f"cannot write property '{prop_name}' in node '{name}': its name is reserved by fdt")
    text = strings.decode("latin-1")
    shell, text, _ = fdt.Node(name).to_dtb(text, 0, version)  # FDT_BEGIN_NODE, the name, FDT_END_NODE
    parts: list[Buffer] = [bytes(shell[:-4])]
    for prop_name, value in properties:
        if not value:
            tag, text, _ = fdt.Property(prop_name).to_dtb(text, 0, version)
            parts.append(bytes(tag))
        elif len(value) < _LARGE_VALUE:
            # PropBytes keeps the exact bytes; fdt's own types would guess and re-encode.
            encoded, text, _ = fdt.PropBytes(prop_name, data=bytes(value)).to_dtb(text, 0, version)
            parts.append(bytes(encoded))
        else:
            tag, text, _ = fdt.PropBytes(prop_name, data=b"").to_dtb(text, 0, version)
            header = bytearray(tag)
            U32.pack_into(header, 4, len(value))  # FDT_PROP, len, nameoff
            parts.append(bytes(header))
            parts.extend(value.parts if isinstance(value, Pieces) else (value,))
            parts.append(bytes(-len(value) % 4))
    parts.append(bytes(shell[-4:]))
    return parts, text.encode("latin-1")


def replace_node(blob: Blob, node: Node, properties: Sequence[tuple[str, Value]]) -> bytes:
    """The blob with `node` (a leaf) rewritten to hold `properties`."""
    if node.children:
        raise BindingError(f"{blob.source}: {blob.path(node)} has subnodes; a pool node must not")
    parts, strings = encode_node(node.name, properties, _strings_block(blob), blob.header.version)
    return _splice(blob, node.begin, node.end, parts, strings)


def append_child(blob: Blob, parent: Node, name: str, properties: Sequence[tuple[str, Value]]) -> bytes:
    """The blob with a new leaf node as the last child of `parent`."""
    parts, strings = encode_node(name, properties, _strings_block(blob), blob.header.version)
    end_node_tag = parent.end - 4
    return _splice(blob, end_node_tag, end_node_tag, parts, strings)


def _strings_block(blob: Blob) -> bytes:
    start = blob.header.off_dt_strings
    return blob.data[start : start + blob.header.size_dt_strings]


def _splice(blob: Blob, start: int, end: int, insert: list[Buffer], strings: bytes) -> bytes:
    """Replace structure bytes [start, end) with `insert` and lay the blob out again.

    With the usual layout (header, reservations, structure, strings) every byte
    before the structure block is kept; the strings block follows the new
    structure block; free space that was at the end stays, so a padded blob keeps
    its totalsize when the new content fits in it.
    """
    header, data = blob.header, blob.data
    view = memoryview(data)  # the parts are joined once: a 16 MB pool is copied once, not three times
    struct_parts = (view[header.off_dt_struct : start], *insert, view[end : blob.struct_end])
    struct_size = sum(len(part) for part in struct_parts)
    usual_layout = blob.reservation_block_end <= header.off_dt_struct < header.off_dt_strings
    if usual_layout:
        prefix = bytearray(data[: header.off_dt_struct])
    else:  # an unusual layout is rewritten in the usual order
        prefix = bytearray(data[: header.size])
        prefix += bytes(-len(prefix) % 8)
        prefix += data[header.off_mem_rsvmap : blob.reservation_block_end]
    off_dt_struct = len(prefix)
    off_dt_strings = off_dt_struct + struct_size
    content_end = off_dt_strings + len(strings)
    totalsize = max(content_end, header.totalsize)
    if totalsize > MAX_BLOB_SIZE:
        raise BlobError(
            f"{blob.source}: the edited blob would be {totalsize} bytes, over the {MAX_BLOB_SIZE >> 20} MiB limit"
        )
    words = {
        "totalsize": totalsize,
        "off_dt_struct": off_dt_struct,
        "off_dt_strings": off_dt_strings,
        "off_mem_rsvmap": header.off_mem_rsvmap if usual_layout else header.size + (-header.size % 8),
        "size_dt_strings": len(strings),
    }
    if header.version >= 17:
        words["size_dt_struct"] = struct_size
    for name, value in words.items():
        U32.pack_into(prefix, HEADER_OFFSET[name], value)
    return b"".join((prefix, *struct_parts, strings, bytes(totalsize - content_end)))


def build_minimal_blob(root_properties: list[tuple[str, bytes]]) -> bytes:
    """A new version 17 blob: an empty reservation block and a root with `root_properties`."""
    import fdt

    tree = fdt.FDT(entries=[])  # never the shared default list (fdt-package.md, defect 1)
    for prop_name, value in root_properties:
        tree.root.append(fdt.PropBytes(prop_name, data=value))
    return bytes(tree.to_dtb(version=WRITE_VERSION, last_comp_version=WRITE_LAST_COMP_VERSION, boot_cpuid_phys=0))


__all__ = [
    "DTC_NAMES",
    "KERNEL_NAMES",
    "Blob",
    "Header",
    "Node",
    "Property",
    "Reservation",
    "append_child",
    "build_minimal_blob",
    "parse_blob",
    "replace_node",
]
