"""Writing edited blobs: a node spliced into the old bytes, and new minimal blobs.

Edits splice: the edited node's bytes are replaced in the structure block, new property
names are appended to the strings block, and every other byte before the structure block
(header words aside), inside it and in the strings block stays as it was. The `fdt`
package encodes the new node; this is the only module that imports it, and only for that.
"""

from __future__ import annotations

from collections.abc import Sequence

from pmpoolctl.buffers import Buffer
from pmpoolctl.dtb.format import HEADER_OFFSET, MAX_BLOB_SIZE, U32, WRITE_LAST_COMP_VERSION, WRITE_VERSION
from pmpoolctl.dtb.model import Blob, Node, Property
from pmpoolctl.errors import BindingError, BlobError


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
        # fdt silently drops properties whose names end this way (docs/design.md, "The fdt package", 6).
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


def replace_value(blob: Blob, prop: Property, value: Value) -> bytes:
    """The blob with one property's value replaced, and every other byte of the structure block
    kept: its tag, its name's offset and the node's other properties (a `name` property that the
    tree as read leaves out, NOP tags, names that share strings) stay exactly as they were."""
    header = bytearray(blob.data[prop.offset : prop.offset + 12])  # FDT_PROP, len, nameoff
    U32.pack_into(header, 4, len(value))
    parts: list[Buffer] = [bytes(header)]
    parts.extend(value.parts if isinstance(value, Pieces) else (value,))
    parts.append(bytes(-len(value) % 4))
    end = prop.value_offset + prop.length
    return _splice(blob, prop.offset, end + (-end % 4), parts, _strings_block(blob))


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

    tree = fdt.FDT(entries=[])  # never the shared default list (docs/design.md, "The fdt package", 1)
    for prop_name, value in root_properties:
        tree.root.append(fdt.PropBytes(prop_name, data=value))
    return bytes(tree.to_dtb(version=WRITE_VERSION, last_comp_version=WRITE_LAST_COMP_VERSION, boot_cpuid_phys=0))
