"""`validate` of real QEMU trees whose `/chosen` names memory: a pool over the initrd, the elfcorehdr or RAM
that `linux,usable-memory-range` leaves out is refused (each passed before); and the note a run gets when
/sys/firmware/memmap is its only map of RAM."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA, assert_input_error, required, run_cli

MIB = 1 << 20
# Each tree and where its RAM starts (its /memory node's reg).
TREES = {"qemu-virt-arm64.dtb": 0x40000000, "qemu-virt-riscv64.dtb": 0x80000000, "qemu-pseries.dtb": 0x0}
INITRD_AT = 0x8000000  # from the start of RAM, 16 MiB
CLEAR_AT = 0x10000000  # from the start of RAM: clear of the initrd and of each tree's reservations
FIRMWARE = DATA / "memmap" / "firmware-memmap"
IOMEM = DATA / "memmap" / "iomem.txt"


@pytest.fixture(scope="session")
def fdtput() -> str:
    return required(shutil.which("fdtput"), "fdtput", "apt-get install device-tree-compiler")


def tree_with(tmp_path: Path, fdtput: str, tree: str, pool_at: int, *chosen: tuple[str, ...]) -> Path:
    """A QEMU tree with a one-page pool at `pool_at` and `/chosen` properties set (fdtput -t x NAME WORDS...)."""
    blob = tmp_path / tree
    run = run_cli(["create", str(blob), "--from", str(DATA / tree), "--range", hex(pool_at), "0x1000"])
    assert run.exit_code == 0, run.stderr
    for name, *words in chosen:
        subprocess.run([fdtput, "-t", "x", str(blob), "/chosen", name, *words], check=True)
    return blob


def validate(blob: Path, *args: str, exit_code: int) -> dict[str, Any]:
    run = run_cli(["validate", str(blob), "--json", *args])
    assert run.exit_code == exit_code, (run.exit_code, run.stdout, run.stderr)
    document: dict[str, Any] = json.loads(run.stdout)
    return document


def conflicts(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f["rule"], f["conflict"]["type"], f["conflict"]["source"]) for f in document["findings"]]


def initrd(base: int, words: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """linux,initrd-start and -end at `base` + INITRD_AT, as one cell each (`words` 1) or a u64 (2)."""
    start, end = base + INITRD_AT, base + INITRD_AT + 16 * MIB

    def cells(value: int) -> tuple[str, ...]:
        return (hex(value),) if words == 1 else (hex(value >> 32), hex(value & 0xFFFFFFFF))

    return ("linux,initrd-start", *cells(start)), ("linux,initrd-end", *cells(end))


@pytest.mark.parametrize("words", [1, 2])
@pytest.mark.parametrize("tree", TREES)
def test_a_pool_over_the_initrd_is_refused(tmp_path: Path, fdtput: str, tree: str, words: int) -> None:
    """The kernel reserves the initrd /chosen names; a pool over it is range-in-memreserve, with the blob's own
    map and with any other map given; the same pool clear of it passes."""
    base = TREES[tree]
    over = tree_with(tmp_path, fdtput, tree, base + INITRD_AT + 15 * MIB, *initrd(base, words))
    expected = [("range-in-memreserve", "/chosen/linux,initrd-start", f"{over}:/chosen/linux,initrd-start")]
    assert conflicts(validate(over, exit_code=1)) == expected
    ram = tmp_path / "ram.json"
    ram.write_text(json.dumps([{"start": base, "end": base + (1 << 30), "type": "System RAM"}]))
    assert conflicts(validate(over, "--memmap", str(ram), exit_code=1)) == expected
    (tmp_path / "clear").mkdir()
    clear = tree_with(tmp_path / "clear", fdtput, tree, base + CLEAR_AT, *initrd(base, words))
    assert validate(clear, exit_code=0)["findings"] == []


def test_a_pool_over_the_elfcorehdr_is_refused(tmp_path: Path, fdtput: str) -> None:
    base = TREES["qemu-virt-arm64.dtb"]
    header = ("linux,elfcorehdr", "0x0", hex(base + INITRD_AT), "0x0", "0x10000")
    blob = tree_with(tmp_path, fdtput, "qemu-virt-arm64.dtb", base + INITRD_AT, header)
    document = validate(blob, exit_code=1)
    assert conflicts(document) == [
        ("range-in-memreserve", "/chosen/linux,elfcorehdr", f"{blob}:/chosen/linux,elfcorehdr")
    ]
    assert "/chosen/linux,elfcorehdr" in document["findings"][0]["message"]


def test_usable_memory_range_leaves_the_rest_of_ram_unusable(tmp_path: Path, fdtput: str) -> None:
    """A kdump kernel's tree: RAM is what linux,usable-memory-range leaves, so a pool in the blob's other RAM
    is outside RAM, naming /chosen; one inside the range passes."""
    base = TREES["qemu-virt-arm64.dtb"]
    usable = ("linux,usable-memory-range", "0x0", hex(base), "0x0", hex(256 * MIB))
    outside = tree_with(tmp_path, fdtput, "qemu-virt-arm64.dtb", base + 512 * MIB, usable)
    name = "/chosen/linux,usable-memory-range"
    assert conflicts(validate(outside, exit_code=1)) == [
        ("range-outside-ram", f"{name} (not usable)", f"{outside}:{name}")
    ]
    (tmp_path / "inside").mkdir()
    inside = tree_with(tmp_path / "inside", fdtput, "qemu-virt-arm64.dtb", base + 128 * MIB, usable)
    assert validate(inside, exit_code=0)["findings"] == []


@pytest.mark.parametrize(
    ("chosen", "needle"),
    [
        (
            [("linux,initrd-start", "0x0", "0x0", "0x48000000"), ("linux,initrd-end", "0x49000000")],
            "linux,initrd-start has length 12",
        ),
        ([("linux,elfcorehdr", "0x0", "0x48000000", "0x10000")], "linux,elfcorehdr has length 12, not 16"),
    ],
)
def test_a_real_tree_with_a_chosen_property_that_does_not_read(
    tmp_path: Path, fdtput: str, chosen: list[tuple[str, ...]], needle: str
) -> None:
    blob = tree_with(tmp_path, fdtput, "qemu-virt-arm64.dtb", 0x50000000, *chosen)
    run = run_cli(["validate", str(blob)])
    assert_input_error(run, f"{blob}: /chosen/{needle}", "byte offset")


# --- /sys/firmware/memmap alone -------------------------------------------------------------------------------------


FIRMWARE_NOTE = (
    f"{FIRMWARE} is the firmware's memory map, from before the kernel's own reservations (its image, crash "
    "kernel, initrd, memblock and /reserved-memory regions, e820 updates): a pass against it alone does not "
    "say the ranges are clear of those; give /proc/iomem too (read as root)"
)


@pytest.mark.parametrize(
    ("maps", "noted"),
    [([FIRMWARE], True), ([FIRMWARE, IOMEM], False), ([IOMEM], False)],
)
def test_the_firmware_map_alone_is_noted(tmp_path: Path, maps: list[Path], noted: bool) -> None:
    """It is the firmware's table, before the kernel reserved anything: said in text and JSON, and no rule is
    skipped for it in JUnit (each still ran against the map)."""
    blob = tmp_path / "p.dtb"
    assert run_cli(["create", str(blob), "--range", "0x100000000", "0x1000"]).exit_code == 0
    args = ["validate", str(blob), *(a for m in maps for a in ("--memmap", str(m)))]
    document = json.loads(run_cli([*args, "--json"]).stdout)
    assert (FIRMWARE_NOTE in document["notes"]) == noted
    assert (f"note: {FIRMWARE_NOTE}\n" in run_cli(args).stdout) == noted
    every = json.loads(run_cli([*args, "--all-pools", "--json"]).stdout)
    assert (FIRMWARE_NOTE in every["notes"]) == noted
    junit = tmp_path / "r.xml"
    run_cli([*args, "--junit", str(junit)])
    skipped = [c for c in ET.parse(junit).iter("testcase") if c.find("skipped") is not None]
    assert all(FIRMWARE_NOTE not in str(c.find("skipped").get("message")) for c in skipped)  # type: ignore[union-attr]
