"""A blob as read: its header words, reservation block and an index of its nodes and properties.

The index points into the blob's own bytes (a value is `blob.value(prop)`, or a view of
them); nothing here decodes a value. `reader.parse_blob` makes one from checked bytes.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, overload

from pmpoolctl.dtb.format import HEADER_FIELDS, HEADER_SIZE_V16, HEADER_SIZE_V17


@dataclass(frozen=True)
class Header:
    """The FDT header words but the magic (size_dt_struct is derived for version 16)."""

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

    def words(self) -> dict[str, int]:
        """The header's fields by name, in `format.HEADER_FIELDS` order (the magic left out)."""
        return {name: getattr(self, name) for name in HEADER_WORDS}


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


class Property(NamedTuple):
    """A property in the structure block; its value is `blob.value(prop)`.

    A named tuple, not a dataclass: a tree of 100,000 nodes has hundreds of thousands, and a
    tuple is made several times faster than a frozen dataclass (which sets each field with
    object.__setattr__)."""

    name: str
    offset: int  # of the FDT_PROP tag
    value_offset: int
    length: int


@dataclass(slots=True)
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
        """The child of `parent` that `name` means to libfdt: the first, in node order, called `name`,
        or `name@unit` when `name` has no unit address of its own.

        That is how the kernel's early FDT code (fdt_path_offset, fdt_subnode_offset) and fdtget
        find `/reserved-memory`, `/chosen` or a pool: where `name@unit` comes before `name`, they
        read it, so a check of `name` alone would check a node nobody reads.
        """
        nodes, prefix = self.nodes, None if "@" in name else name + "@"
        for index in parent.children:
            found = nodes[index].name
            if found == name or (prefix is not None and found.startswith(prefix)):
                return nodes[index]
        return None

    def children(self, parent: Node) -> list[Node]:
        return [self.nodes[index] for index in parent.children]


HEADER_WORDS = tuple(name for name in HEADER_FIELDS if name != "magic")  # what Header holds, in header order
