"""What KHO users hand over in their sub-blobs, decoded where the format is known.

- memblock (`include/linux/kho/abi/memblock.h`, every version): an FDT, root
  `compatible = "memblock-v1"`, a child per `reserve_mem=` region named as the
  command line named it, with `compatible = "reserve-mem-v1"`, `start`, `size`.
- LUO (6.19+, `include/linux/kho/abi/luo.h`): an FDT, `compatible = "luo-v1"`,
  `liveupdate-number` (u64), and a child per kind of state (`luo-session`, later
  `luo-flb`) with its compatible and `<child>-header`, the physical address of its
  serialized table. (The mm tree's raw `struct luo_ser` is listed as a blob.)
- kexec-metadata (kho-v3+, `include/linux/kho/abi/kexec_metadata.h`): a raw packed
  `struct kho_kexec_metadata { u32 version; char previous_release[65]; u32 kexec_count; }`,
  73 bytes, in the CPU's byte order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pmpoolctl.dtb.format import escaped
from pmpoolctl.dtb.model import Blob
from pmpoolctl.errors import InputError
from pmpoolctl.kho.values import first_string, optional_u64, raw_name, require_u64, strings

MEMBLOCK_NAME = "memblock"
MEMBLOCK_COMPATIBLE = "memblock-v1"
RESERVE_MEM_COMPATIBLE = "reserve-mem-v1"
LUO_NAME = "LUO"
LUO_COMPATIBLE = "luo-v1"
PROP_LIVEUPDATE_NUMBER = "liveupdate-number"
KEXEC_METADATA_NAME = "kexec-metadata"
KEXEC_METADATA_VERSION = 1
_METADATA = {"little": struct.Struct("<I65sI"), "big": struct.Struct(">I65sI")}
KEXEC_METADATA_SIZE = _METADATA["little"].size  # 73: the struct is __packed


@dataclass(frozen=True)
class ReserveMem:
    """A `reserve_mem=` region memblock hands over: [start, start + size)."""

    name: str  # escaped for display
    start: int
    size: int
    raw_name: bytes = b""  # the bytes the next kernel's command line must name

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True)
class LuoChild:
    """A child of the LUO FDT: `luo-session` (and later `luo-flb`), its ABI and its table's address."""

    name: str
    compatible: str | None
    header: int | None  # `<name>-header`: the physical address of the serialized table


@dataclass(frozen=True)
class Luo:
    compatible: str | None
    liveupdate_number: int | None  # None when the compatible is not luo-v1 (not decoded)
    children: list[LuoChild]


@dataclass(frozen=True)
class KexecMetadata:
    version: int
    previous_release: str | None  # None for a version this pmpoolctl does not know (not decoded)
    kexec_count: int | None


def reserve_mem_regions(blob: Blob, byte_order: str) -> list[ReserveMem]:
    """Every child's region. A child is matched as the kernel matches it (any string of its compatible);
    one that is not reserve-mem-v1 is refused: its pages are preserved, and where they are is unknown."""
    regions = []
    for node in blob.children(blob.root):
        if RESERVE_MEM_COMPATIBLE not in strings(blob, node, "compatible"):
            shown = first_string(blob, node, "compatible")
            raise InputError(
                f"{blob.source}: /{node.name}: compatible {shown!r}, not {RESERVE_MEM_COMPATIBLE!r}: memblock hands "
                "over only reserve_mem regions, and this child's cannot be read"
            )
        start = require_u64(blob, node, "start", byte_order, what="the region's physical start")
        size = require_u64(blob, node, "size", byte_order, what="the region's size")
        regions.append(ReserveMem(node.name, start, size, raw_name(blob, node)))
    return regions


def luo_state(blob: Blob, byte_order: str) -> Luo:
    compatible = first_string(blob, blob.root, "compatible")
    children = []
    for node in blob.children(blob.root):
        header = optional_u64(blob, node, f"{node.name}-header", byte_order)
        children.append(LuoChild(node.name, first_string(blob, node, "compatible"), header))
    if compatible != LUO_COMPATIBLE:
        return Luo(compatible, None, children)
    number = require_u64(blob, blob.root, PROP_LIVEUPDATE_NUMBER, byte_order, what="the live update count")
    for child in children:
        if child.header is None:
            raise InputError(f"{blob.source}: /{child.name}: no '{child.name}-header' property (its table's address)")
    return Luo(compatible, number, children)


def kexec_metadata(data: bytes, source: str, byte_order: str) -> KexecMetadata:
    """The metadata struct; a version other than 1 is shown by number only (its layout may differ)."""
    if len(data) < 4:
        raise InputError(f"{source}: {len(data)} bytes: truncated kexec-metadata (its u32 version alone is 4)")
    version = int.from_bytes(data[:4], "little" if byte_order == "little" else "big")
    if version != KEXEC_METADATA_VERSION:
        return KexecMetadata(version, None, None)
    if len(data) != KEXEC_METADATA_SIZE:
        raise InputError(
            f"{source}: {len(data)} bytes: kexec-metadata version 1 is {KEXEC_METADATA_SIZE} "
            "(packed u32 version, char[65] previous_release, u32 kexec_count)"
        )
    _, release, count = _METADATA[byte_order].unpack(data)
    return KexecMetadata(version, escaped(release.split(b"\0", 1)[0], 65), count)
