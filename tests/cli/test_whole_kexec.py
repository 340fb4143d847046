"""Issue 18, the whole kexec: kexec segments as a map, every pool of a blob, canonicalize, capture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA, EXAMPLES, assert_input_error, run_cli

KEXEC = DATA / "memmap" / "kexec"
TOOL = KEXEC / "kexec-l-d.txt"
KERNEL = KEXEC / "kexec-s-d.log"
ARM64_LOG = KEXEC / "arm64-kexec-s-d.log"
IOMEM = DATA / "memmap" / "iomem.txt"
POOL = EXAMPLES / "pool.dtb"
ARM64 = DATA / "qemu-virt-arm64.dtb"


def validate(*args: str, exit_code: int) -> dict[str, Any]:
    run = run_cli(["validate", *args, "--json"])
    assert run.exit_code == exit_code, (run.exit_code, run.stdout, run.stderr)
    document: dict[str, Any] = json.loads(run.stdout)
    return document


def rules(document: dict[str, Any]) -> list[tuple[str, int, str]]:
    return [(f["rule"], f["range"]["base"], f["conflict"]["source"]) for f in document["findings"]]


def made(tmp_path: Path, base: Path, *ranges: tuple[int, int], name: str = "next.dtb") -> Path:
    """`base` (a tree without a pool) with a pool of `ranges`."""
    blob = tmp_path / name
    args = [a for base_size in ranges for a in ("--range", hex(base_size[0]), hex(base_size[1]))]
    run = run_cli(["create", str(blob), "--from", str(base), *args])
    assert run.exit_code == 0, run.stderr
    return blob


def added(tmp_path: Path, blob: Path, base: int, size: int) -> Path:
    out = tmp_path / f"added-{base:x}.dtb"
    run = run_cli(["add-range", str(blob), hex(base), hex(size), "-o", str(out)])
    assert run.exit_code == 0, run.stderr
    return out


# --- kexec segments -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("capture", [TOOL, KERNEL])
def test_kexec_segments_clean(capture: Path) -> None:
    """The example pool is clear of where the next kernel lands: no finding, and the map is listed as kexec."""
    document = validate(str(POOL), "--memmap", str(IOMEM), "--memmap", str(capture), exit_code=0)
    assert document["findings"] == []
    assert [(m["format"], m["entries"]) for m in document["memmaps"]] == [
        ("iomem", 13),
        ("kexec", 5 if capture == TOOL else 4),
    ]


@pytest.mark.parametrize("capture", [TOOL, KERNEL])
def test_range_in_kexec_segment(capture: Path, tmp_path: Path) -> None:
    """A range over the next kernel's image is refused, naming the segment's line; RAM is still held to iomem."""
    blob = added(tmp_path, POOL, 0x63E000000, 0x200000)
    document = validate(str(blob), "--memmap", str(IOMEM), "--memmap", str(capture), exit_code=1)
    line = 25 if capture == TOOL else 13
    assert rules(document) == [("range-in-kexec-segment", 0x63E000000, f"{capture}:{line}")]
    assert document["findings"][0]["conflict"]["type"] == "kexec segment 1"


def test_kexec_segments_on_a_real_qemu_tree(tmp_path: Path) -> None:
    """arm64 QEMU's tree, with the segments of a kexec -s there: a range below them passes, one over the dtb fails.

    With only a segment list, the tree's own /memory is the map of RAM: a range outside it is still refused.
    """
    good = made(tmp_path, ARM64, (0x100000000, 0x10000000), name="good.dtb")
    document = validate(str(good), "--memmap", str(ARM64_LOG), exit_code=0)
    assert [m["format"] for m in document["memmaps"]] == ["kexec", "dtb"]
    bad = made(tmp_path, ARM64, (0x100000000, 0x10000000), (0x13FFFF000, 0x1000), (0x150000000, 0x1000), name="bad.dtb")
    document = validate(str(bad), "--memmap", str(ARM64_LOG), exit_code=1)
    assert [(f["rule"], f["range"]["base"]) for f in document["findings"]] == [
        ("range-in-kexec-segment", 0x13FFFF000),
        ("range-outside-ram", 0x150000000),
    ]


def test_kexec_format_named_and_detected(tmp_path: Path) -> None:
    """--memmap-format kexec and kexec:SRC read a boot log's kexec lines; memmap shows the class."""
    boot = tmp_path / "boot.log"
    boot.write_text((DATA / "memmap" / "dmesg.txt").read_text() + KERNEL.read_text())
    for args in (["--memmap-format", "kexec", str(boot)], [f"kexec:{boot}"]):
        run = run_cli(["memmap", *args, "--json"])
        assert run.exit_code == 0, run.stderr
        document = json.loads(run.stdout)
        assert document["format"] == "kexec"
        assert {e["class"] for e in document["entries"]} == {"kexec"}
    run = run_cli(["memmap", str(TOOL)])
    assert run.exit_code == 0 and "kexec segment 4" in run.stdout


def test_corrupt_kexec_capture_is_exit_3(tmp_path: Path) -> None:
    """A bad line of the capture: one error line naming the file and line, nothing checked."""
    lines = TOOL.read_text().splitlines()
    lines[28] = "segment[2].mem   = 0x63fff8000 (cut"
    capture = tmp_path / "kexec.log"
    capture.write_text("\n".join(lines) + "\n")
    run = run_cli(["validate", str(POOL), "--memmap", str(capture)])
    assert_input_error(run, f"{capture}:29:", "segment line not as kexec-tools")
    capture.write_text("\n".join(TOOL.read_text().splitlines()[:30]) + "\n")
    assert_input_error(
        run_cli(["validate", str(POOL), "--memmap", f"kexec:{capture}"]), f"{capture}:30:", "lists 3 of its 5"
    )
    run = run_cli(["kho", "validate", str(EXAMPLES / "kho" / "v3-out"), "--memmap", str(TOOL)])
    assert run.exit_code == 2 and "no map of RAM" in run.stderr
