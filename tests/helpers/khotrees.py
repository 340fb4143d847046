"""KHO state as each kernel writes it, built for tests: FDTs by dtc from DTS, raw blobs with struct.

Every u64 is written as the kernel writes it, in the CPU's byte order (`le()`: x86 and
arm64). `kho_out()` lays a directory out like /sys/kernel/debug/kho/out of a version:

- kho-v1 (6.16-7.0): users' nodes hold `fdt`; the memory map is 0 until finalize; `finalize`;
- kho-v2 (the mm tree, short-lived): `preserved-data`, a radix root from boot, no finalize;
- kho-v3 (~7.1), kho-v4 (~7.2) and the compound `kho-v4;radix-v1;vmalloc-v1`: `preserved-data`
  and `blob-size` (the file's size), and the raw 73-byte `kexec-metadata` on every boot;
- all: `scratch_phys` and `scratch_len`, one `0x%llx` line per area.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MEMBLOCK_AT = 0x117150000
LUO_AT = 0x118000000
METADATA_AT = 0x118100000
MEMORY_MAP = 0x116BE4000
GOOD = [("r1", 0x200000000, 0x4000000), ("r2", 0x300000000, 0x200000)]
SCRATCH = [(0x400000000, 0x10000000), (0x500000000, 0x8000000)]  # clear of GOOD and the sub-blobs


def le(value: int) -> str:
    """A native little-endian u64 as DTS bytes: what the kernel writes on x86 and arm64."""
    return "[" + " ".join(f"{b:02x}" for b in value.to_bytes(8, "little")) + "]"


def compile_dts(dtc: str, source: str, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([dtc, "-I", "dts", "-O", "dtb", "-o", str(out), "-"], input=source.encode(), check=True)
    return out


def memblock_dts(regions: list[tuple[str, int, int]]) -> str:
    nodes = "".join(
        f'{name} {{ compatible = "reserve-mem-v1"; start = {le(start)}; size = {le(size)}; }};'
        for name, start, size in regions
    )
    return f'/dts-v1/;\n/ {{ compatible = "memblock-v1"; {nodes} }};\n'


def luo_dts(
    number: int = 3, header: int = 0x119000000, compatible: str = "luo-v1", session: str = "luo-session-v1"
) -> str:
    """include/linux/kho/abi/luo.h: the LUO FDT with its session node (`luo-session-v2` from 7.0)."""
    return (
        f'/dts-v1/;\n/ {{ compatible = "{compatible}"; liveupdate-number = {le(number)};\n'
        f'  luo-session {{ compatible = "{session}"; luo-session-header = {le(header)}; }}; }};\n'
    )


def kexec_metadata(version: int = 1, release: bytes = b"6.19.0-rc4-next-20260107", count: int = 1) -> bytes:
    """struct kho_kexec_metadata, packed: u32 version, char previous_release[65], u32 kexec_count."""
    return struct.pack("<I65sI", version, release, count)


@dataclass
class Layout:
    data_property: str  # fdt or preserved-data
    sizes: bool  # blob-size on every user
    metadata: bool  # kexec-metadata registered
    finalize: bool  # a kho/out/finalize file


def layout(version: str) -> Layout:
    base = version.split(";", maxsplit=1)[0]
    if base == "kho-v1":
        return Layout("fdt", False, False, True)
    if base == "kho-v2":
        return Layout("preserved-data", False, False, False)
    return Layout("preserved-data", True, True, False)


def root_dts(compatible: str, memory_map: int, users: list[tuple[str, int, int | None]], data_property: str) -> str:
    """The root FDT: compatible, preserved-memory-map, a node per user with its address (and blob-size)."""
    nodes = ""
    for name, address, size in users:
        blob_size = "" if size is None else f" blob-size = {le(size)};"
        nodes += f" {name} {{ {data_property} = {le(address)};{blob_size} }};\n"
    return f'/dts-v1/;\n/ {{\n compatible = "{compatible}";\n preserved-memory-map = {le(memory_map)};\n{nodes}}};\n'


def kho_out(
    dtc: str,
    where: Path,
    version: str = "kho-v3",
    regions: list[tuple[str, int, int]] | None = None,
    *,
    memory_map: int = MEMORY_MAP,
    luo: bool = False,
    metadata: bytes | None = None,
    scratch: list[tuple[int, int]] | None = None,
    finalize: str | None = None,
    addresses: dict[str, int] | None = None,
    memblock: bytes | None = None,
) -> Path:
    """A kho/out directory as `version`'s kernel lays it out; returns `where`.

    `regions` go to memblock's sub-FDT (or `memblock` is that sub-FDT's bytes), `luo` adds
    a LUO FDT, `metadata` replaces the kexec-metadata blob, `addresses` move sub-blobs.
    """
    shape = layout(version)
    at = {"memblock": MEMBLOCK_AT, "LUO": LUO_AT, "kexec-metadata": METADATA_AT, **(addresses or {})}
    subs = where / "sub_fdts"
    subs.mkdir(parents=True, exist_ok=True)
    if memblock is not None:  # a sub-FDT built byte by byte (names DTS cannot spell)
        (subs / "memblock").write_bytes(memblock)
    else:
        compile_dts(dtc, memblock_dts(GOOD if regions is None else regions), subs / "memblock")
    names = ["memblock"]
    if luo:
        compile_dts(dtc, luo_dts(), subs / "LUO")
        names.append("LUO")
    if shape.metadata or metadata is not None:
        (subs / "kexec-metadata").write_bytes(kexec_metadata() if metadata is None else metadata)
        names.append("kexec-metadata")
    users = [(n, at[n], (subs / n).stat().st_size if shape.sizes else None) for n in names]
    compile_dts(dtc, root_dts(version, memory_map, users, shape.data_property), where / "fdt")
    areas = SCRATCH if scratch is None else scratch
    (where / "scratch_phys").write_text("".join(f"{start:#x}\n" for start, _ in areas))
    (where / "scratch_len").write_text("".join(f"{size:#x}\n" for _, size in areas))
    if shape.finalize:
        (where / "finalize").write_text((finalize if finalize is not None else "1") + "\n")
    return where


Node = tuple[bytes, list[tuple[bytes, bytes]], list["Node"]]  # name, properties, children


def fdt_bytes(root: Node) -> bytes:
    """An FDT laid out as libfdt's sequential writer lays it out, for names DTS cannot spell (`dm:log`)."""
    strings = bytearray()
    offsets: dict[bytes, int] = {}
    structure = bytearray()

    def pad() -> None:
        structure.extend(bytes(-len(structure) % 4))

    def node(name: bytes, properties: list[tuple[bytes, bytes]], children: list[Node]) -> None:
        structure.extend(struct.pack(">I", 1) + name + b"\0")
        pad()
        for prop, value in properties:
            if prop not in offsets:
                offsets[prop] = len(strings)
                strings.extend(prop + b"\0")
            structure.extend(struct.pack(">III", 3, len(value), offsets[prop]) + value)
            pad()
        for child in children:
            node(*child)
        structure.extend(struct.pack(">I", 2))

    node(*root)
    structure.extend(struct.pack(">I", 9))
    header_size, reservations = 40, bytes(16)
    off_struct = header_size + len(reservations)
    off_strings = off_struct + len(structure)
    total = off_strings + len(strings)
    header = struct.pack(
        ">10I", 0xD00DFEED, total, off_struct, off_strings, header_size, 17, 16, 0, len(strings), len(structure)
    )
    return header + reservations + bytes(structure) + bytes(strings)


def u64(value: int) -> bytes:
    return value.to_bytes(8, "little")


def memblock_fdt(regions: list[tuple[bytes, int, int]]) -> bytes:
    """memblock's sub-FDT with the names the command line gave (any bytes but NUL: the kernel's rule)."""
    children: list[Node] = [
        (name, [(b"compatible", b"reserve-mem-v1\0"), (b"start", u64(start)), (b"size", u64(size))], [])
        for name, start, size in regions
    ]
    return fdt_bytes((b"", [(b"compatible", b"memblock-v1\0")], children))


def main(argv: list[str]) -> int:
    """`python -m tests.helpers.khotrees DIR`: write the kho-v3 example (examples/kho/v3-out) into DIR."""
    if len(argv) != 1:
        print("usage: python -m tests.helpers.khotrees DIR", file=sys.stderr)
        return 2
    kho_out(shutil.which("dtc") or "dtc", Path(argv[0]), "kho-v3", luo=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
