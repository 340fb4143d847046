"""A blob's own memory map and `/chosen` (drivers/of/fdt.c): the initrd, elfcorehdr, KHO's, IMA's and the
TPM's buffers and the UEFI memory map are not free; `linux,usable-memory-range` limits RAM; a property the
kernel would read that does not read is exit 3, naming the blob, the node and the property."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pmpoolctl.dtb.reader import parse_blob
from pmpoolctl.memmap.blobmap import blob_memory_map, blob_reservations
from pmpoolctl.memmap.model import MemoryMap
from tests.conftest import assert_input_error, run_cli
from tests.helpers.khotrees import compile_dts

GIB = 1 << 30
MEMORY_8G = 'memory@0 { device_type = "memory"; reg = <0x0 0x0 0x2 0x0>; };'
POOL = 'default_pmpool { compatible = "pmpool-v1"; page-ranges = /bits/ 64 <0x180000000 0x1000>; };'


def blob_of(dtc: str, tmp_path: Path, chosen: str, root: str = "#address-cells = <2>; #size-cells = <2>;") -> Path:
    """8 GiB of RAM at 0, a pool clear of /chosen's regions and a `/chosen` of `chosen`, the root's cells as
    `root` says."""
    source = f"/dts-v1/;\n/ {{\n{root}\n{MEMORY_8G}\nchosen {{ {chosen} }};\n{POOL}\n}};\n"
    return compile_dts(dtc, source, tmp_path / "c.dtb")


def read(path: Path) -> tuple[MemoryMap, list[tuple[int, int, str, str]]]:
    blob = parse_blob(path.read_bytes(), "c.dtb")
    reserved = [(e.start, e.end, e.type, e.source) for e in blob_reservations(blob)]
    return blob_memory_map(blob, with_reservations=False), reserved


def reserved(path: Path) -> list[tuple[int, int, str, str]]:
    """The blob's reservations only (its /memory need not read in the cells a test gives the root)."""
    return [(e.start, e.end, e.type, e.source) for e in blob_reservations(parse_blob(path.read_bytes(), "c.dtb"))]


def ram(memory_map: MemoryMap) -> list[tuple[int, int]]:
    return [(e.start, e.end) for e in memory_map.entries if e.kind == "ram"]


# --- regions that are not free --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("<0x48000000>", "<0x49000000>"),  # u32 each, as QEMU and U-Boot write them
        ("/bits/ 64 <0x48000000>", "/bits/ 64 <0x49000000>"),  # u64 each, as kexec writes them
        ("<0x48000000>", "/bits/ 64 <0x49000000>"),  # each read by its own length
    ],
)
def test_the_initrd_is_reserved(dtc: str, tmp_path: Path, start: str, end: str) -> None:
    path = blob_of(dtc, tmp_path, f"linux,initrd-start = {start}; linux,initrd-end = {end};")
    assert read(path)[1] == [(0x48000000, 0x49000000, "/chosen/linux,initrd-start", "c.dtb:/chosen/linux,initrd-start")]


def test_an_empty_initrd_reserves_nothing(dtc: str, tmp_path: Path) -> None:
    path = blob_of(dtc, tmp_path, "linux,initrd-start = <0x48000000>; linux,initrd-end = <0x48000000>;")
    assert read(path)[1] == []


@pytest.mark.parametrize(
    ("cells", "value", "region"),
    [
        ("#address-cells = <2>; #size-cells = <2>;", "<0x1 0x0 0x0 0x10000>", (4 * GIB, 4 * GIB + 0x10000)),
        ("#address-cells = <2>; #size-cells = <1>;", "<0x1 0x0 0x10000>", (4 * GIB, 4 * GIB + 0x10000)),
        ("#address-cells = <1>; #size-cells = <1>;", "<0x50000000 0x10000>", (0x50000000, 0x50010000)),
    ],
)
@pytest.mark.parametrize(
    "name",
    ["linux,elfcorehdr", "linux,kho-fdt", "linux,kho-scratch", "linux,ima-kexec-buffer", "linux,tpm-kexec-buffer"],
)
def test_address_size_regions_are_reserved_in_the_roots_cells(
    dtc: str, tmp_path: Path, name: str, cells: str, value: str, region: tuple[int, int]
) -> None:
    path = blob_of(dtc, tmp_path, f"{name} = {value};", root=cells)
    assert reserved(path) == [(*region, f"/chosen/{name}", f"c.dtb:/chosen/{name}")]


def test_the_uefi_memory_map_is_reserved_and_is_the_kernels_ram(dtc: str, tmp_path: Path) -> None:
    """efi_init reserves the UEFI map and takes RAM from it, not from /memory: the blob is no map of RAM then."""
    chosen = "linux,uefi-mmap-start = /bits/ 64 <0x7f000000>; linux,uefi-mmap-size = <0x3000>;"
    path = blob_of(dtc, tmp_path, chosen)
    blob = parse_blob(path.read_bytes(), "c.dtb")
    assert [(e.start, e.end, e.type) for e in blob_reservations(blob)] == [
        (0x7F000000, 0x7F003000, "/chosen/linux,uefi-mmap-start")
    ]
    assert_input_error(run_cli(["memmap", str(path)]), f"{path}:/chosen/linux,uefi-mmap-start", "UEFI memory map")


def test_chosen_at_a_unit_address_is_read(dtc: str, tmp_path: Path) -> None:
    """The kernel finds `/chosen@0` too (libfdt matches `chosen@...` for `/chosen`)."""
    source = (
        f"/dts-v1/;\n/ {{ #address-cells = <2>; #size-cells = <2>; {MEMORY_8G}\n"
        "chosen@0 { linux,initrd-start = <0x48000000>; linux,initrd-end = <0x49000000>; }; };\n"
    )
    out = tmp_path / "c.dtb"
    subprocess.run([dtc, "-I", "dts", "-O", "dtb", "-o", str(out), "-"], input=source.encode(), check=True)
    assert [(s, e, t) for s, e, t, _ in read(out)[1]] == [(0x48000000, 0x49000000, "/chosen@0/linux,initrd-start")]


# --- linux,usable-memory-range --------------------------------------------------------------------------------------


def test_usable_memory_range_limits_ram(dtc: str, tmp_path: Path) -> None:
    """RAM is cut to the first range, the second is usable too, a third is not read by the kernel;
    what is cut is a reserved entry that names /chosen."""
    usable = "<0x0 0x40000000 0x0 0x40000000>, <0x1 0x0 0x0 0x40000000>, <0x1 0x80000000 0x0 0x1000>"
    memory_map, _ = read(blob_of(dtc, tmp_path, f"linux,usable-memory-range = {usable};"))
    assert ram(memory_map) == [(GIB, 2 * GIB), (4 * GIB, 5 * GIB)]
    cut = [(e.start, e.end, e.type, e.source) for e in memory_map.entries if e.kind == "reserved"]
    name = "/chosen/linux,usable-memory-range"
    assert cut == [
        (0, GIB, f"{name} (not usable)", f"c.dtb:{name}"),
        (2 * GIB, 4 * GIB, f"{name} (not usable)", f"c.dtb:{name}"),
        (5 * GIB, 8 * GIB, f"{name} (not usable)", f"c.dtb:{name}"),
    ]


def test_usable_memory_range_is_ram_only_where_memory_is(dtc: str, tmp_path: Path) -> None:
    """The kernel memblock_add()s the second range whatever /memory says; here it is RAM only where both
    say so (the safe side: less RAM)."""
    usable = "<0x0 0x0 0x0 0x40000000>, <0x3 0x0 0x0 0x40000000>"
    memory_map, _ = read(blob_of(dtc, tmp_path, f"linux,usable-memory-range = {usable};"))
    assert ram(memory_map) == [(0, GIB)]


# --- what does not read is refused ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chosen", "names"),
    [
        ("linux,initrd-start = <0x0 0x0 0x48000000>; linux,initrd-end = <0x49000000>;", ["linux,initrd-start"]),
        ("linux,initrd-start = <0x48000000>; linux,initrd-end = [49 00];", ["linux,initrd-end", "length 2"]),
        ("linux,initrd-start = <0x48000000>;", ["linux,initrd-start", "without linux,initrd-end"]),
        ("linux,initrd-end = <0x49000000>;", ["linux,initrd-end", "without linux,initrd-start"]),
        ("linux,initrd-start = <0x49000000>; linux,initrd-end = <0x48000000>;", ["linux,initrd-start", "above"]),
        ("linux,elfcorehdr = <0x0 0x50000000 0x10000>;", ["linux,elfcorehdr", "length 12, not 16"]),
        ("linux,elfcorehdr = <0x0 0x50000000 0x0 0x10000 0x0>;", ["linux,elfcorehdr", "length 20"]),
        ("linux,kho-fdt = <0x1 0x0>;", ["linux,kho-fdt", "length 8"]),
        ("linux,kho-scratch = <0x1 0x0 0x0>;", ["linux,kho-scratch"]),
        ("linux,elfcorehdr = <0xffffffff 0xfffff000 0x0 0x2000>;", ["linux,elfcorehdr", "past 2^64"]),
        ("linux,usable-memory-range = <0x0 0x40000000 0x0>;", ["linux,usable-memory-range", "multiple of 16"]),
        ("linux,usable-memory-range;", ["linux,usable-memory-range", "length 0"]),
        ("linux,usable-memory-range = <0x0 0x40000000 0x0 0x0>;", ["linux,usable-memory-range", "size 0"]),
        ("linux,uefi-mmap-start = <0x7f000000>;", ["linux,uefi-mmap-start", "without linux,uefi-mmap-size"]),
        ("linux,uefi-mmap-start = [7f 00 00];", ["linux,uefi-mmap-start", "length 3"]),
    ],
)
def test_a_chosen_property_that_does_not_read_is_exit_3(
    dtc: str, tmp_path: Path, chosen: str, names: list[str]
) -> None:
    """Refused, naming the blob, the node and property, and the byte offset, with a map given or not:
    never a pass that held the pool to a region read some other way than the kernel's."""
    path = blob_of(dtc, tmp_path, chosen)
    where = f"/chosen/{names[0]}"
    assert_input_error(run_cli(["validate", str(path)]), str(path), where, *names[1:])
    iomem = tmp_path / "iomem.txt"
    iomem.write_text("00000000-1ffffffff : System RAM\n")
    assert_input_error(run_cli(["validate", str(path), "--memmap", str(iomem)]), str(path), where, "byte offset")


def test_cells_without_the_roots_address_cells_do_not_read_one_way(dtc: str, tmp_path: Path) -> None:
    """With a map given the blob's /memory is not read, its /chosen is: the specification's 2 cells and the
    kernel's 1 give two regions, so it is refused, not guessed."""
    path = blob_of(dtc, tmp_path, "linux,elfcorehdr = <0x50000000 0x10000>;", root="#size-cells = <1>;")
    iomem = tmp_path / "iomem.txt"
    iomem.write_text("00000000-1ffffffff : System RAM\n")
    run = run_cli(["validate", str(path), "--memmap", str(iomem)])
    assert_input_error(run, str(path), "/chosen/linux,elfcorehdr", "no #address-cells", "byte offset")


def test_the_initrd_does_not_need_the_roots_cells(dtc: str, tmp_path: Path) -> None:
    """linux,initrd-* are read by their length, not in cells: a root without #address-cells reads them."""
    chosen = "linux,initrd-start = <0x48000000>; linux,initrd-end = <0x49000000>;"
    assert [(s, e) for s, e, _, _ in reserved(blob_of(dtc, tmp_path, chosen, root=""))] == [(0x48000000, 0x49000000)]
