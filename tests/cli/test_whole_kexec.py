"""Issue 18, the whole kexec: kexec segments as a map, every pool of a blob, canonicalize, capture."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pmpoolctl.memmap.capture import parse_capture
from tests.conftest import DATA, EXAMPLES, _find_dtc, assert_input_error, run_cli

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
    assert_input_error(run, str(TOOL), "no map of RAM")


# --- every pool -----------------------------------------------------------------------------------------------------


def two_pools(tmp_path: Path, base: Path, second: list[tuple[int, int]], name: str = "two.dtb") -> Path:
    """`base` (one pool) with a second pool, /iommu_pmpool, of `second`."""
    blob = tmp_path / name
    args = [a for b, s in second for a in ("--range", hex(b), hex(s))]
    run = run_cli(["create", str(blob), "--from", str(base), "--pool", "iommu_pmpool", *args])
    assert run.exit_code == 0, run.stderr
    return blob


@pytest.mark.parametrize("tree", ["qemu-virt-arm64.dtb", "qemu-virt-riscv64.dtb", "qemu-pseries.dtb"])
def test_all_pools_on_real_trees(tree: str, tmp_path: Path) -> None:
    """Two apart pools in a real tree pass; a page held by both is pools-overlap, on the later pool."""
    ram = {"qemu-virt-arm64.dtb": 0x40000000, "qemu-virt-riscv64.dtb": 0x80000000, "qemu-pseries.dtb": 0}[tree]
    first = made(tmp_path, DATA / tree, (ram + 0x10000000, 0x4000000), (ram + 0x20000000, 0x200000), name="one.dtb")
    good = two_pools(tmp_path, first, [(ram + 0x30000000, 0x1000000)], "good.dtb")
    document = validate(str(good), "--all-pools", exit_code=0)
    assert [p["path"] for p in document["pools"]] == ["/default_pmpool", "/iommu_pmpool"]
    assert document["pool"] is None and document["summary"]["pools"] == 2 and document["findings"] == []
    bad = two_pools(tmp_path, first, [(ram + 0x13000000, 0x2000000), (ram + 0x20100000, 0x1000)], "bad.dtb")
    document = validate(str(bad), "--all-pools", exit_code=1)
    assert [(f["pool"], f["rule"], f["range"]["base"], f["conflict"]["source"]) for f in document["findings"]] == [
        ("/iommu_pmpool", "pools-overlap", ram + 0x13000000, f"{bad}:/default_pmpool"),
        ("/iommu_pmpool", "pools-overlap", ram + 0x20100000, f"{bad}:/default_pmpool"),
    ]
    # One pool at a time, each is clean: the fault is only seen with --all-pools.
    validate(str(bad), "--pool", "/iommu_pmpool", exit_code=0)
    text = run_cli(["validate", str(bad), "--all-pools"])
    assert text.exit_code == 1 and "FAIL: 2 pools, 2 errors, 0 warnings" in text.stdout


def test_all_pools_junit_has_a_suite_per_pool(tmp_path: Path) -> None:
    first = made(tmp_path, ARM64, (0x100000000, 0x200000), name="one.dtb")
    bad = two_pools(tmp_path, first, [(0x100000000, 0x1000)])
    report = tmp_path / "r.xml"
    assert run_cli(["validate", str(bad), "--all-pools", "--junit", str(report)]).exit_code == 1
    suites = ET.parse(report).getroot().findall("testsuite")
    assert [(s.get("name", "").rsplit(" ", 1)[1], s.get("failures")) for s in suites] == [
        ("/default_pmpool", "0"),
        ("/iommu_pmpool", "1"),
    ]


def test_all_pools_and_pool_exclude_each_other_and_need_a_pool(tmp_path: Path) -> None:
    run = run_cli(["validate", str(POOL), "--all-pools", "--pool", "default_pmpool"])
    assert run.exit_code == 2 and "not both" in run.stderr
    assert_input_error(run_cli(["validate", str(ARM64), "--all-pools"]), str(ARM64), "no pool node")


def test_a_broken_default_pool_is_one_of_all_pools(tmp_path: Path) -> None:
    """/default_pmpool with a wrong compatible is still checked (binding-invalid), beside the good pool."""
    first = made(tmp_path, ARM64, (0x100000000, 0x200000), name="one.dtb")
    blob = two_pools(tmp_path, first, [(0x110000000, 0x1000)])
    data = blob.read_bytes().replace(b"pmpool-v1\0", b"pmpool-v9\0", 1)
    blob.write_bytes(data)
    document = validate(str(blob), "--all-pools", exit_code=1)
    assert [(p["path"], p["errors"]) for p in document["pools"]] == [("/default_pmpool", 1), ("/iommu_pmpool", 0)]


def test_pool_by_its_path_everywhere(tmp_path: Path) -> None:
    """--pool /NAME, as dump prints a pool's path, is --pool NAME for every command that takes --pool."""
    first = made(tmp_path, ARM64, (0x100000000, 0x200000), name="one.dtb")
    blob = two_pools(tmp_path, first, [(0x110000000, 0x1000)])
    for args in (
        ["dump", str(blob), "--json"],
        ["validate", str(blob), "--json"],
        ["diff", str(blob), str(blob), "--json"],
        ["add-range", str(blob), "0x120000000", "4K", "--dry-run"],
        ["remove-range", str(blob), "0x110000000", "4K", "--dry-run"],
    ):
        by_name = run_cli([*args, "--pool", "iommu_pmpool"])
        by_path = run_cli([*args, "--pool", "/iommu_pmpool"])
        assert by_name.exit_code == by_path.exit_code and by_name.exit_code in (0, 1), (args, by_path.stderr)
        assert by_name.stdout == by_path.stdout
        assert "iommu_pmpool" in by_path.stdout
    out = tmp_path / "three.dtb"
    run = run_cli(["create", str(out), "--from", str(blob), "--pool", "/third_pmpool"])
    assert run.exit_code == 0 and "/third_pmpool" in run.stdout
    for bad in ("//iommu_pmpool", "/a/b", "/"):
        run = run_cli(["dump", str(blob), "--pool", bad])
        assert run.exit_code == 2 and "not a node name or /NAME" in run.stderr


def test_dump_lists_every_pool_and_hints_at_another(tmp_path: Path) -> None:
    only_other = tmp_path / "other.dtb"
    assert run_cli(["create", str(only_other), "--from", str(ARM64), "--pool", "iommu_pmpool"]).exit_code == 0
    run = run_cli(["dump", str(only_other)])
    assert run.exit_code == 0
    assert "Pool /default_pmpool: none\n  the blob has other pools: dump one with --pool /iommu_pmpool" in run.stdout
    assert "Pools in this blob: 1\n  /iommu_pmpool (0 ranges, 0 bytes)" in run.stdout
    assert json.loads(run_cli(["dump", str(only_other), "--json"]).stdout)["pools"] == [
        {"path": "/iommu_pmpool", "ranges": 0, "total_bytes": 0, "page_size": 4096, "valid": True}
    ]
    missing = run_cli(["validate", str(only_other)])
    assert_input_error(missing, "no pool node /default_pmpool; it has /iommu_pmpool (--pool /iommu_pmpool)")
    first = made(tmp_path, ARM64, (0x100000000, 0x200000), name="one.dtb")
    both = run_cli(["dump", str(two_pools(tmp_path, first, [(0x110000000, 0x1000)]))])
    assert "Pools in this blob: 2\n  /default_pmpool (1 range, 2097152 bytes (2 MiB))  (shown above)\n" in both.stdout
    # A blob with the one pool shows no list (the golden dumps are unchanged).
    assert "Pools in this blob" not in run_cli(["dump", str(first)]).stdout


# --- canonicalize ---------------------------------------------------------------------------------------------------


def stored(tmp_path: Path, pairs: str, name: str = "stored.dtb", extra: str = "") -> Path:
    """A blob whose pool stores `pairs` (DTS u64 cells) as they are, compiled by dtc: no edit would write it."""
    source = tmp_path / (name + ".dts")
    source.write_text(
        "/dts-v1/;\n/ {\n\t#address-cells = <2>;\n\t#size-cells = <2>;\n"
        '\tmemory@0 { device_type = "memory"; reg = <0x0 0x0 0x1 0x0>; };\n'
        f'\tdefault_pmpool {{\n\t\tcompatible = "pmpool-v1";\n{extra}'
        f"\t\tpage-ranges = /bits/ 64 <{pairs}>;\n\t}};\n}};\n"
    )
    blob = tmp_path / name
    subprocess.run([_find_dtc(), "-q", "-I", "dts", "-O", "dtb", "-o", str(blob), str(source)], check=True)
    return blob


def pool_ranges(blob: Path) -> list[tuple[int, int]]:
    run = run_cli(["dump", str(blob), "--json"])
    assert run.exit_code == 0, run.stderr
    return [(r["base"], r["size"]) for r in json.loads(run.stdout)["pool"]["ranges"]]


NON_CANONICAL = "0x20000000 0x1000 0x10000000 0x2000 0x10002000 0x1000 0x30000000 0x0"


def test_canonicalize_sorts_merges_and_drops_empty(tmp_path: Path) -> None:
    blob = stored(tmp_path, NON_CANONICAL)
    blob.chmod(0o640)
    before = blob.read_bytes()
    dry = run_cli(["canonicalize", str(blob), "--dry-run"])
    assert dry.exit_code == 0, dry.stderr
    # The same pages before and after (16 KiB in 2 canonical ranges); 4 stored pairs become 2.
    assert "  + " not in dry.stdout and "  - " not in dry.stdout and "nothing written" in dry.stdout
    assert "  before: 2 ranges, 16 KiB, 4 pages\n  after:  2 ranges, 16 KiB, 4 pages\n" in dry.stdout
    assert "  stored: 4 ranges -> 2 ranges in page-ranges\n" in dry.stdout
    assert blob.read_bytes() == before
    run = run_cli(["canonicalize", str(blob)])
    assert run.exit_code == 0, run.stderr
    assert pool_ranges(blob) == [(0x10000000, 0x3000), (0x20000000, 0x1000)]
    assert blob.stat().st_mode & 0o777 == 0o640  # the edit's atomic write keeps the mode
    assert validate(str(blob), exit_code=0)["findings"] == []
    again = run_cli(["canonicalize", str(blob)])
    assert again.exit_code == 0 and "no change" in again.stdout


def test_canonicalize_to_another_file_and_a_named_pool(tmp_path: Path) -> None:
    blob = stored(tmp_path, NON_CANONICAL)
    before = blob.read_bytes()
    out = tmp_path / "fixed.dtb"
    assert run_cli(["canonicalize", str(blob), "-o", str(out), "--pool", "/default_pmpool"]).exit_code == 0
    assert blob.read_bytes() == before and pool_ranges(out) == [(0x10000000, 0x3000), (0x20000000, 0x1000)]
    assert_input_error(run_cli(["canonicalize", str(blob), "--pool", "other"]), "no pool node /other")


def test_canonicalize_refuses_overlaps_unless_merge(tmp_path: Path) -> None:
    blob = stored(tmp_path, "0x10000000 0x2000 0x10001000 0x2000")
    before = blob.read_bytes()
    assert_input_error(run_cli(["canonicalize", str(blob)]), str(blob), "overlaps", "--merge")
    assert blob.read_bytes() == before
    assert run_cli(["canonicalize", str(blob), "--merge"]).exit_code == 0
    assert pool_ranges(blob) == [(0x10000000, 0x3000)]


@pytest.mark.parametrize(
    ("pairs", "extra", "needle"),
    [
        ("0x10000800 0x1000", "", "not page-aligned"),
        ("0xfffffffffffff000 0x2000", "", "past 2^64"),
        ("0x10000000 0x1000", "\t\tpage-size = <0x1001>;\n", "breaks the binding"),
    ],
)
def test_canonicalize_refuses_what_it_cannot_repair(tmp_path: Path, pairs: str, extra: str, needle: str) -> None:
    blob = stored(tmp_path, pairs, extra=extra)
    before = blob.read_bytes()
    assert_input_error(run_cli(["canonicalize", str(blob), "--merge"]), str(blob), needle, "cannot repair")
    assert blob.read_bytes() == before


@pytest.mark.parametrize(
    ("pairs", "hint"),
    [
        ("0x20000000 0x1000 0x10000000 0x1000", "`pmpoolctl canonicalize` rewrites it"),
        ("0x10000000 0x1000 0x20000000 0x0", "`pmpoolctl canonicalize` rewrites it"),
        ("0x10000000 0x2000 0x10001000 0x1000", "`pmpoolctl canonicalize --merge` rewrites it"),
    ],
)
def test_edits_refusing_a_non_canonical_pool_point_to_canonicalize(tmp_path: Path, pairs: str, hint: str) -> None:
    blob = stored(tmp_path, pairs)
    for args in (["add-range", str(blob), "0x40000000", "4K"], ["remove-range", str(blob), "0x10000000", "4K"]):
        assert_input_error(run_cli(args), str(blob), "refusing to edit it", hint)
    unaligned = stored(tmp_path, "0x10000800 0x1000", "unaligned.dtb")
    run = run_cli(["add-range", str(unaligned), "0x40000000", "4K"])
    assert_input_error(run, "range-unaligned")
    assert "canonicalize" not in run.stderr  # it cannot repair that: no pointer to it


# --- capture --------------------------------------------------------------------------------------------------------

MEMMAP = DATA / "memmap"


def fake_host(tmp_path: Path, *, kho: bool = True, kmsg: bool = True) -> dict[str, str]:
    """A host's /proc, /sys and kernel log as files: the real captures of tests/data, the kernel log as kmsg records."""
    proc, sysfs = tmp_path / "proc", tmp_path / "sys"
    proc.mkdir()
    shutil.copy(IOMEM, proc / "iomem")
    shutil.copy(MEMMAP / "cpuinfo-x86.txt", proc / "cpuinfo")
    (proc / "cmdline").write_text("BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro\n")
    shutil.copytree(MEMMAP / "firmware-memmap", sysfs / "firmware" / "memmap")
    if kho:
        shutil.copytree(EXAMPLES / "kho" / "v3-out", sysfs / "kernel" / "debug" / "kho" / "out")
    log = tmp_path / "kmsg"
    if kmsg:
        records = []
        for seq, line in enumerate((MEMMAP / "dmesg.txt").read_text().splitlines()):
            if not line.startswith("["):
                continue  # a message's second line
            stamp, _, message = line.partition("] ")
            usec = round(float(stamp.strip("[ ")) * 1_000_000)
            records.append(f"6,{seq},{usec},-;{message}")
        log.write_text("\n".join(records) + "\n")
    return {"PMPOOLCTL_PROC": str(proc), "PMPOOLCTL_SYSFS": str(sysfs), "PMPOOLCTL_KMSG": str(log)}


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = fake_host(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_capture_holds_what_live_reads(tmp_path: Path, host: dict[str, str]) -> None:
    out = tmp_path / "host.json"
    run = run_cli(["capture", str(out)])
    assert run.exit_code == 0, run.stderr
    assert run.stderr == "" and f"{out}: captured " in run.stdout
    document = json.loads(out.read_text())
    assert list(document)[:5] == ["schema", "host", "time", "kernel", "iomem"]
    assert document["schema"] == "pmpoolctl.capture/v1"
    assert document["iomem"]["text"] == IOMEM.read_text()
    assert [e["entry"] for e in document["firmware_memmap"]["entries"]] == sorted(
        (p.name for p in (MEMMAP / "firmware-memmap").iterdir()), key=int
    )
    assert document["phys_bits"] == {"path": f"{host['PMPOOLCTL_PROC']}/cpuinfo", "bits": 46}
    assert document["cmdline"]["text"].startswith("BOOT_IMAGE=")
    assert document["e820"]["lines"][0].startswith("[    0.000000] Linux version ")
    lines = document["e820"]["lines"]
    assert all(
        any(w in line for w in ("e820", "BIOS-", "RAM map", "Linux version", ": [mem ", "Memory: ", "Command line: "))
        for line in lines
    )
    assert any(" Memory: 3218364K/25165432K available " in line for line in lines)  # the boot got past its e820 setup
    assert lines[1].startswith("[    0.000000] Command line: console=ttyS0 ")  # add_efi_memmap is refused
    assert any("BIOS-e820: [mem " in line for line in lines) and len(lines) < 100  # not the whole log
    assert document["kho"]["scratch"] and "fdt" in document["kho"]["files"]
    assert run_cli(["capture", str(out)]).exit_code == 3  # exists: --force to overwrite
    assert run_cli(["capture", str(out), "--force"]).exit_code == 0


def test_capture_keeps_the_lines_that_take_ram_away(tmp_path: Path, host: dict[str, str]) -> None:
    """Intel graphics stolen memory, a GART aperture and the Pentium Pro hole print no e820 update: all kept."""
    quirks = [
        "Reserving Intel graphics memory at [mem 0x7b800000-0x7f7fffff]",
        "AGP: Mapping aperture over RAM [mem 0x80000000-0x83ffffff] (65536KB)",
        "AGP: e820: reserve [mem 0x84000000-0x87ffffff] for GART",
        "Applying PPro RAM bug workaround: punching 256 kB hole at 1.75 GB physical.",
    ]
    with Path(host["PMPOOLCTL_KMSG"]).open("a") as kmsg:
        kmsg.writelines(f"6,{1000 + n},50000,-;{line}\n" for n, line in enumerate(quirks))
    out = tmp_path / "host.json"
    assert run_cli(["capture", str(out)]).exit_code == 0
    lines = json.loads(out.read_text())["e820"]["lines"]
    assert [line.partition("] ")[2] for line in lines[-4:]] == quirks
    e820 = next(m for m in parse_capture(out.read_text(), str(out)) if m.format == "e820")
    taken = [(0x70000000, 0x70040000), (0x7B800000, 0x7F800000), (0x80000000, 0x84000000), (0x84000000, 0x88000000)]
    assert [
        (e.start, e.end) for e in e820.entries if e.source.endswith(tuple(f":{len(lines) - n}" for n in range(4)))
    ] == taken
    assert all(e.kind == "reserved" for e in e820.entries if (e.start, e.end) in taken)


def test_a_capture_of_a_boot_with_add_efi_memmap_is_refused(tmp_path: Path, host: dict[str, str]) -> None:
    """The kernel added the EFI map to its e820 table unprinted: the captured lines cannot say the table."""
    kmsg = Path(host["PMPOOLCTL_KMSG"])
    kmsg.write_text(kmsg.read_text().replace("Command line: console=ttyS0 ", "Command line: add_efi_memmap ", 1))
    out = tmp_path / "host.json"
    assert run_cli(["capture", str(out)]).exit_code == 0
    assert_input_error(
        run_cli(["validate", str(EXAMPLES / "pool.dtb"), "--memmap", str(out)]), f"{out}#e820:2:", "add_efi"
    )


def test_a_capture_is_the_hosts_maps(tmp_path: Path, host: dict[str, str]) -> None:
    """validate --memmap CAPTURE finds what validate against the captured files finds, and its width applies."""
    out = tmp_path / "host.json"
    assert run_cli(["capture", str(out)]).exit_code == 0
    from_capture = validate(str(POOL), "--memmap", str(out), exit_code=0)
    assert [(m["source"], m["format"]) for m in from_capture["memmaps"]] == [
        (f"{out}#iomem", "iomem"),
        (f"{out}#firmware-memmap", "firmware-memmap"),
        (f"{out}#e820", "e820"),
        (f"{out}#kho", "kho-scratch"),
    ]
    bad = Path(EXAMPLES / "bad-pool.dtb")
    direct = validate(str(bad), "--memmap", str(IOMEM), "--memmap", str(MEMMAP / "firmware-memmap"), exit_code=1)
    captured = validate(str(bad), "--memmap", str(out), exit_code=1)
    assert {(f["rule"], f["range"]["base"]) for f in captured["findings"]} >= {
        (f["rule"], f["range"]["base"]) for f in direct["findings"]
    }
    bits = json.loads(out.read_text())["phys_bits"]["bits"]
    high = added(tmp_path, POOL, 1 << bits, 0x1000)
    assert "range-above-phys-limit" in [
        f["rule"] for f in validate(str(high), "--memmap", str(out), exit_code=1)["findings"]
    ]
    # The KHO scratch areas of the capture refuse a range in them.
    scratch = json.loads(out.read_text())["kho"]["scratch"][0]
    in_scratch = added(tmp_path, POOL, scratch["start"], 0x1000)
    rules_found = [f["rule"] for f in validate(str(in_scratch), "--memmap", str(out), exit_code=1)["findings"]]
    assert "range-in-kho-scratch" in rules_found
    # What KHO preserves is read from the capture's copy of kho/out, as --kho reads the directory.
    in_region = added(tmp_path, POOL, 0x200000000, 0x1000)  # reserve_mem r1 of examples/kho/v3-out
    from_copy = validate(str(in_region), "--memmap", str(out), exit_code=1)
    kho_out = Path(host["PMPOOLCTL_SYSFS"]) / "kernel" / "debug" / "kho" / "out"
    from_dir = validate(str(in_region), "--memmap", str(IOMEM), "--kho", str(kho_out), exit_code=1)
    for checked in (from_copy, from_dir):
        assert checked["notes"] == [] and [f["rule"] for f in checked["findings"]] == ["range-in-kho-preserved"]
    (finding,) = from_copy["findings"]
    assert f"{out}#kho/sub_fdts/memblock" in json.dumps(finding)  # named where the capture holds it
    drawn = run_cli(["map", str(in_region), "--memmap", str(out)])  # map marks what validate finds
    assert drawn.exit_code == 0 and "range-in-kho-preserved" in drawn.stdout, drawn.stdout + drawn.stderr
    assert [f["message"] for f in from_dir["findings"]] == [
        f["message"].replace(f"{out}#kho", str(kho_out)) for f in from_copy["findings"]
    ]
    listed = run_cli(["memmap", str(out), "--json"])
    assert listed.exit_code == 0
    assert [m["format"] for m in json.loads(listed.stdout)["maps"]] == [
        "iomem",
        "firmware-memmap",
        "e820",
        "kho-scratch",
    ]
    # Read back, those maps would lose what KHO preserves (the region above would pass): refused.
    (tmp_path / "listed.json").write_text(listed.stdout)
    assert_input_error(
        run_cli(["validate", str(in_region), "--memmap", str(tmp_path / "listed.json")]), "holds 4 maps, not one"
    )


def captured_with(tmp_path: Path, out: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the capture `out` with its document changed by `change`."""
    document = json.loads(out.read_text())
    change(document)
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(document))
    return changed


def kho_file(document: dict[str, Any], name: str, data: bytes | None) -> None:
    files = document["kho"]["files"]
    if data is None:
        del files[name]
    else:
        files[name] = base64.b64encode(data).decode()


def test_a_capture_whose_kho_state_cannot_say_what_it_preserves(tmp_path: Path, host: dict[str, str]) -> None:
    """A copy of kho/out with no root FDT and no sub-blobs (not finalized) or of a root version not known
    here checks the scratch areas only, and says so; one with no root FDT but its sub-blobs (a kernel
    booted through KHO) holds the pool to what they show, and says what it cannot; a copy that does not
    read, or lacks a sub-blob the root hands over, is refused naming the file in the capture, as --kho
    refuses the directory."""
    out = tmp_path / "host.json"
    assert run_cli(["capture", str(out)]).exit_code == 0
    in_region = added(tmp_path, POOL, 0x200000000, 0x1000)

    def unfinalized_copy(document: dict[str, Any]) -> None:
        for name in [n for n in document["kho"]["files"] if n == "fdt" or n.startswith("sub_fdts/")]:
            kho_file(document, name, None)

    unfinalized = captured_with(tmp_path, out, unfinalized_copy)
    (note,) = validate(str(in_region), "--memmap", str(unfinalized), exit_code=0)["notes"]
    assert note.startswith(f"{unfinalized}#kho holds no root FDT 'fdt' yet (a 6.16-6.18 kernel writes it when KHO ")
    assert "range-in-kho-preserved (what KHO preserves) is not checked" in note
    booted_through_kho = captured_with(tmp_path, out, lambda d: kho_file(d, "fdt", None))
    checked = validate(str(in_region), "--memmap", str(booted_through_kho), exit_code=1)
    assert [(f["rule"], f["conflict"]["type"]) for f in checked["findings"]] == [
        ("range-in-kho-preserved", "reserve_mem r1")
    ]
    (note,) = checked["notes"]
    assert "range-in-kho-preserved is checked only against what its sub_fdts/ show (reserve_mem regions" in note
    root = base64.b64decode(json.loads(out.read_text())["kho"]["files"]["fdt"])
    newer = captured_with(tmp_path, out, lambda d: kho_file(d, "fdt", root.replace(b"kho-v3\0", b"kho-v9\0")))
    (note,) = validate(str(in_region), "--memmap", str(newer), exit_code=0)["notes"]
    assert note.startswith(f"{newer}#kho's root compatible 'kho-v9' is not one this pmpoolctl knows: ")
    broken = captured_with(tmp_path, out, lambda d: kho_file(d, "fdt", root[:100]))
    assert_input_error(run_cli(["validate", str(POOL), "--memmap", str(broken)]), f"{broken}#kho/fdt")
    partial = captured_with(tmp_path, out, lambda d: kho_file(d, "sub_fdts/memblock", None))
    run = run_cli(["validate", str(POOL), "--memmap", str(partial)])
    assert_input_error(run, f"{partial}#kho/sub_fdts/memblock: missing or not a file")
    for bad, where in (
        (lambda d: d["kho"]["files"].update({"fdt": "not base64!"}), "#kho/fdt: not base64"),
        (lambda d: d["kho"]["files"].update({"../fdt": ""}), "#kho/../fdt: not a file of kho/out"),
        (lambda d: d["kho"]["files"].update({"sub_fdts/a/b": ""}), "#kho/sub_fdts/a/b: not a file of kho/out"),
        (lambda d: d["kho"]["files"].update({"sub_fdts": ""}), "#kho/sub_fdts: not a file of kho/out"),
        (lambda d: d["kho"]["files"].update({"x/\ny": ""}), "#kho/x/\\x0ay: not a file of kho/out"),  # one line
        (lambda d: d["kho"].update({"files": []}), "#kho: files is not an object"),
    ):
        changed = captured_with(tmp_path, out, bad)
        assert_input_error(run_cli(["validate", str(POOL), "--memmap", str(changed)]), f"{changed}{where}")


def test_a_capture_of_a_kho_out_that_did_not_read_is_refused(tmp_path: Path, host: dict[str, str]) -> None:
    """The host had kho/out (KHO on), but a file of it did not read when captured: read back, the capture
    cannot hold the pool to its scratch areas or what it preserves, and is refused as --live refuses that
    host (exit 3), unless --kho gives the state; it was a silent pass."""
    scratch = Path(host["PMPOOLCTL_SYSFS"]) / "kernel" / "debug" / "kho" / "out" / "scratch_phys"
    scratch.write_text("garbage\n")
    out = tmp_path / "host.json"
    run = run_cli(["capture", str(out)])
    assert run.exit_code == 0 and "not captured: kho: " in run.stderr, run.stderr
    assert set(json.loads(out.read_text())["kho"]) == {"path", "missing"}
    assert_input_error(run_cli(["validate", str(POOL), "--memmap", str(out)]), f"{out}#kho: ", "did not read")
    scratch.write_text("0x400000000\n0x500000000\n")
    given = validate(str(POOL), "--memmap", str(out), "--kho", str(scratch.parent), exit_code=0)
    assert given["notes"] == []


def test_a_capture_whose_scratch_list_lost_its_areas_is_refused(tmp_path: Path, host: dict[str, str]) -> None:
    """range-in-kho-scratch holds the pool to the capture's scratch list: one that is not what its copy of
    scratch_phys/scratch_len says (null, gone, emptied, changed) is refused, not a pass of a pool in them."""
    out = tmp_path / "host.json"
    assert run_cli(["capture", str(out)]).exit_code == 0
    first = json.loads(out.read_text())["kho"]["scratch"][0]
    in_scratch = added(tmp_path, POOL, first["start"], 0x1000)
    assert "range-in-kho-scratch" in [
        r for r, _, _ in rules(validate(str(in_scratch), "--memmap", str(out), exit_code=1))
    ]
    for change in (
        lambda d: d["kho"].update({"scratch": None}),
        lambda d: d["kho"].pop("scratch"),
        lambda d: d["kho"].update({"scratch": []}),
        lambda d: d["kho"]["scratch"].pop(0),
        lambda d: d["kho"]["scratch"][0].update({"size": 0x1000}),
    ):
        changed = captured_with(tmp_path, out, change)
        run = run_cli(["validate", str(in_scratch), "--memmap", str(changed)])
        assert_input_error(run, f"{changed}#kho: its scratch list (", "scratch_phys/scratch_len")

    # A copy without scratch files (a kho/out that had none) and no list says the rule was not checked.
    def no_scratch(document: dict[str, Any]) -> None:
        document["kho"]["scratch"] = None
        kho_file(document, "scratch_phys", None)
        kho_file(document, "scratch_len", None)

    (note,) = validate(str(in_scratch), "--memmap", str(captured_with(tmp_path, out, no_scratch)), exit_code=0)["notes"]
    assert "range-in-kho-scratch is not checked" in note


def test_capture_says_what_it_could_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = fake_host(tmp_path, kho=False, kmsg=False)
    env["PATH"] = str(tmp_path / "no-bin")  # no dmesg either
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "host.json"
    run = run_cli(["capture", str(out)])
    assert run.exit_code == 0, run.stderr
    notes = run.stderr.splitlines()
    assert [n.split(":")[2].strip() for n in notes] == ["e820", "kho"], notes
    assert all(n.startswith("note: not captured: ") for n in notes)
    document = json.loads(out.read_text())
    assert "cannot read" in document["e820"]["missing"] and "no dmesg" in document["e820"]["missing"]
    assert validate(str(POOL), "--memmap", str(out), exit_code=0)["memmaps"][-1]["format"] == "firmware-memmap"


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d.update(schema="pmpoolctl.capture/v2"), "this pmpoolctl reads pmpoolctl.capture/v1"),
        (lambda d: d["iomem"].update(text="00000000-zzzz : System RAM\n"), "#iomem:1"),
        (lambda d: d["firmware_memmap"]["entries"][0].update(start="0xq"), "#firmware-memmap/0"),
        (lambda d: d.pop("iomem"), "the capture has no /proc/iomem"),
        (lambda d: d.update(iomem={"path": "/proc/iomem", "missing": "EACCES"}), "(EACCES)"),
        (lambda d: d["iomem"].update(text="00000000-00000000 : System RAM\n"), "read without root"),
        (lambda d: d["phys_bits"].update(bits=99), "phys_bits"),
        (lambda d: d["kho"]["scratch"].append({"start": -1, "size": 1}), "#kho:scratch[2]"),
    ],
)
def test_a_corrupt_capture_is_exit_3(tmp_path: Path, host: dict[str, str], edit: Any, needle: str) -> None:
    out = tmp_path / "host.json"
    assert run_cli(["capture", str(out)]).exit_code == 0
    document = json.loads(out.read_text())
    edit(document)
    out.write_text(json.dumps(document))
    assert_input_error(run_cli(["validate", str(POOL), "--memmap", str(out)]), str(out), needle)


def test_canonicalize_rewrites_a_pool_stored_out_of_order(tmp_path: Path) -> None:
    """Sorted, the ranges are canonical already: the stored pool is not, and is rewritten in place."""
    blob = stored(tmp_path, "0x20000000 0x1000 0x10000000 0x1000")
    run = run_cli(["canonicalize", str(blob)])
    assert run.exit_code == 0 and "/default_pmpool changed" in run.stdout, run.stdout
    assert pool_ranges(blob) == [(0x10000000, 0x1000), (0x20000000, 0x1000)]
    assert validate(str(blob), exit_code=0)["findings"] == []


def test_a_capture_taken_without_root_says_so_and_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """/proc/iomem read by another user shows every address as 0: the capture says it, and reads back as exit 3."""
    env = fake_host(tmp_path)
    zeroed = "".join(f"00000000-00000000 : {line.split(' : ', 1)[1]}\n" for line in IOMEM.read_text().splitlines())
    (tmp_path / "proc" / "iomem").write_text(zeroed)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "host.json"
    run = run_cli(["capture", str(out)])
    assert run.exit_code == 0
    assert "note: not captured: iomem: " in run.stderr and "validating against this capture is refused" in run.stderr
    assert_input_error(run_cli(["validate", str(POOL), "--memmap", str(out)]), f"{out}#iomem", "without root")


def test_the_new_documents_meet_their_schemas(tmp_path: Path, host: dict[str, str]) -> None:
    """validate --all-pools, dump's pools, a capture and memmap of a capture, and kexec maps, as docs/schemas say."""
    from tests.cli.test_schemas import assert_valid

    first = made(tmp_path, ARM64, (0x100000000, 0x200000), name="one.dtb")
    blob = two_pools(tmp_path, first, [(0x100000000, 0x1000)])
    assert_valid(validate(str(blob), "--all-pools", exit_code=1))
    assert_valid(json.loads(run_cli(["dump", str(blob), "--json"]).stdout))
    assert_valid(json.loads(run_cli(["memmap", str(TOOL), "--json"]).stdout))
    out = tmp_path / "host.json"
    assert run_cli(["capture", str(out)]).exit_code == 0
    assert_valid(json.loads(out.read_text()))
    assert_valid(json.loads(run_cli(["memmap", str(out), "--json"]).stdout))
    assert_valid(validate(str(POOL), "--memmap", str(out), exit_code=0))


def test_canonicalize_json_is_an_edit_document(tmp_path: Path) -> None:
    from tests.cli.test_schemas import assert_valid

    blob = stored(tmp_path, NON_CANONICAL)
    document = json.loads(run_cli(["canonicalize", str(blob), "--dry-run", "--json"]).stdout)
    assert_valid(document)
    assert document["changed"] and document["dry_run"]
    assert document["added"] == document["removed"] == []  # canonicalize keeps the pages
    assert document["before"] == {"ranges": 2, "total_bytes": 0x4000, "total_pages": 4, "stored_ranges": 4}
    assert document["after"] == {"ranges": 2, "total_bytes": 0x4000, "total_pages": 4, "stored_ranges": 2}


def test_live_holds_the_pool_to_this_hosts_kho(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a host with KHO on, --live is the host's KHO state too: its scratch areas and what it preserves,
    as --kho reads them; before a 6.16-6.18 kernel finalizes, the scratch areas only, and said so."""
    import pmpoolctl.kho.hostzones
    import pmpoolctl.memmap.sources

    monkeypatch.setattr(pmpoolctl.memmap.sources, "LIVE_SOURCES", (str(IOMEM), str(MEMMAP / "firmware-memmap")))
    monkeypatch.setattr(pmpoolctl.memmap.sources, "CPUINFO", str(MEMMAP / "cpuinfo-x86.txt"))
    kho_out = tmp_path / "kho-out"
    shutil.copytree(EXAMPLES / "kho" / "v3-out", kho_out)
    monkeypatch.setattr(pmpoolctl.kho.hostzones, "LIVE_KHO", str(kho_out))
    in_region = added(tmp_path, POOL, 0x200000000, 0x1000)  # reserve_mem r1
    in_scratch = added(tmp_path, POOL, 0x400000000, 0x1000)  # the first scratch area
    assert [f["rule"] for f in validate(str(in_region), "--live", exit_code=1)["findings"]] == [
        "range-in-kho-preserved"
    ]
    assert [f["rule"] for f in validate(str(in_scratch), "--live", exit_code=1)["findings"]] == ["range-in-kho-scratch"]
    passed = validate(str(POOL), "--live", exit_code=0)
    assert passed["notes"] == []
    assert passed["zones"] == [  # said in the report: what the pool was held clear of besides the maps
        {
            "rule": "range-in-kho-scratch",
            "where": f"{kho_out}'s KHO scratch areas, where the next kernel boots and allocates",
            "entries": 2,
        },
        # r1, r2, three sub-blobs, the memory map's first page, LUO's session table
        {"rule": "range-in-kho-preserved", "where": f"what {kho_out} preserves across kexec", "entries": 7},
    ]
    junit = tmp_path / "r.xml"
    run_cli(["validate", str(POOL), "--live", "--junit", str(junit)])
    zones = [p.get("value") for p in ET.parse(junit).iter("property") if p.get("name") == "zone"]
    assert zones == [
        f"range-in-kho-scratch: {kho_out}'s KHO scratch areas, where the next kernel boots and allocates (2 entries)",
        f"range-in-kho-preserved: what {kho_out} preserves across kexec (7 entries)",
    ]
    text = run_cli(["validate", str(POOL), "--live"]).stdout.splitlines()[0]
    assert text.endswith(
        f"; clear of {kho_out}'s KHO scratch areas, where the next kernel boots and allocates "
        f"(2 entries), what {kho_out} preserves across kexec (7 entries)"
    ), text
    # --kho names the state to hold the pool to: this host's is not read as well (nothing found twice).
    other = tmp_path / "other-out"
    shutil.copytree(kho_out, other)
    (other / "scratch_phys").write_text("0x600000000\n0x610000000\n")
    moved = validate(str(in_scratch), "--live", "--kho", str(other), exit_code=0)
    assert moved["findings"] == []
    # A kernel booted through KHO (6.19, 7.0) shows no root FDT, but its sub-blobs: the pool is held to
    # their regions and tables (a pass here was a false one), and what they cannot show is said.
    (kho_out / "fdt").unlink()
    (found,) = validate(str(in_region), "--live", exit_code=1)["findings"]
    assert (found["rule"], found["conflict"]["source"]) == ("range-in-kho-preserved", f"{kho_out}/sub_fdts/memblock")
    (note,) = validate(str(POOL), "--live", exit_code=0)["notes"]
    assert "range-in-kho-preserved is checked only against what its sub_fdts/ show" in note
    # A 6.16-6.18 kernel before finalize: the scratch areas are there, the root FDT and sub-blobs are not yet.
    shutil.rmtree(kho_out / "sub_fdts")
    (kho_out / "sub_fdts").mkdir()
    assert [f["rule"] for f in validate(str(in_scratch), "--live", exit_code=1)["findings"]] == ["range-in-kho-scratch"]
    (note,) = validate(str(in_region), "--live", exit_code=0)["notes"]
    assert note.startswith(f"{kho_out} holds no root FDT 'fdt' yet (a 6.16-6.18 kernel writes it when KHO is ")
    assert "range-in-kho-preserved (what KHO preserves) is not checked" in note
    # A kho/out without its scratch files (never so from a kernel): that rule is said not to be checked.
    for name in ("scratch_phys", "scratch_len"):
        (kho_out / name).unlink()
    (note, also) = validate(str(in_scratch), "--live", exit_code=0)["notes"]
    assert note == f"{kho_out} has no scratch_phys/scratch_len: range-in-kho-scratch is not checked"
    assert "range-in-kho-preserved" in also
    # A host without KHO: nothing of it is read.
    monkeypatch.setattr(pmpoolctl.kho.hostzones, "LIVE_KHO", str(tmp_path / "no-kho"))
    assert validate(str(POOL), "--live", exit_code=0)["zones"] == []
    cmdline = tmp_path / "cmdline"
    monkeypatch.setattr(pmpoolctl.kho.hostzones, "LIVE_CMDLINE", str(cmdline))
    cmdline.write_text("BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 kho=off\n")
    assert validate(str(in_scratch), "--live", exit_code=0)["notes"] == []
    # One whose command line turns KHO on, with debugfs not mounted: neither KHO rule can be checked.
    cmdline.write_text("BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 kho=on\n")
    (note,) = validate(str(in_scratch), "--live", exit_code=0)["notes"]
    assert note.startswith(f"{cmdline} turns KHO on (kho=on), but {tmp_path / 'no-kho'} is not there ")
    assert "range-in-kho-scratch and range-in-kho-preserved are not checked" in note


@pytest.mark.parametrize("gzipped", [False, True])
def test_live_kho_on_by_default_with_no_kho_out_says_what_was_not_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gzipped: bool
) -> None:
    """A kernel built with KHO on by default and no kho= has KHO on; without kho/out nothing of it reads."""
    import gzip

    import pmpoolctl.kho.hostzones

    monkeypatch.setattr(pmpoolctl.kho.hostzones, "LIVE_KHO", str(tmp_path / "no-kho"))
    cmdline = tmp_path / "cmdline"
    monkeypatch.setattr(pmpoolctl.kho.hostzones, "LIVE_CMDLINE", str(cmdline))
    config = tmp_path / ("config.gz" if gzipped else "config-7.0.0")
    missing = tmp_path / "no-config"
    monkeypatch.setattr(pmpoolctl.kho.hostzones, "LIVE_CONFIGS", (str(missing), str(config)))

    def write_config(text: str) -> None:
        config.write_bytes(gzip.compress(text.encode()) if gzipped else text.encode())

    write_config("CONFIG_KEXEC_HANDOVER=y\nCONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT=y\nCONFIG_KEXEC_HANDOVER_DEBUGFS=y")
    for line in ("BOOT_IMAGE=/boot/vmlinuz ro", "kho=bogus"):  # no kho=, or none that kstrtobool reads
        cmdline.write_text(line + "\n")
        (note,) = validate(str(POOL), "--live", exit_code=0)["notes"]
        assert note.startswith(f"{config} turns KHO on by default (CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT=y) and ")
        assert "range-in-kho-scratch and range-in-kho-preserved are not checked" in note
    cmdline.write_text("ro kho=off\n")  # the command line wins
    assert validate(str(POOL), "--live", exit_code=0)["notes"] == []
    cmdline.write_text("ro\n")
    write_config("CONFIG_KEXEC_HANDOVER=y\n# CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT is not set\n")
    assert validate(str(POOL), "--live", exit_code=0)["notes"] == []
    config.write_bytes(b"\x1f\x8b garbage")  # a config that does not read says nothing either way
    assert validate(str(POOL), "--live", exit_code=0)["notes"] == []


def test_a_capture_of_a_host_with_kho_on_and_no_kho_out_says_what_was_not_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host's kho= (or, without one, its kernel config's default) says KHO was on: a capture with no
    kho/out in it cannot have checked the scratch areas or what KHO preserves, and says so."""
    import gzip

    from tests.cli.test_schemas import assert_valid

    env = fake_host(tmp_path, kho=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cmdline = Path(env["PMPOOLCTL_PROC"]) / "cmdline"
    out = tmp_path / "host.json"

    def captured_notes(line: str, config: str | None) -> list[str]:
        cmdline.write_text(line + "\n")
        config_gz = Path(env["PMPOOLCTL_PROC"]) / "config.gz"
        if config is None:
            config_gz.unlink(missing_ok=True)
        else:
            config_gz.write_bytes(gzip.compress(config.encode()))
        assert run_cli(["capture", str(out), "--force"]).exit_code == 0
        assert_valid(json.loads(out.read_text()))
        notes: list[str] = validate(str(POOL), "--memmap", str(out), exit_code=0)["notes"]
        return notes

    (note,) = captured_notes("ro kho=on", None)
    assert note.startswith(f"{out}#cmdline turns KHO on (kho=on), but the capture holds no kho/out ")
    assert "range-in-kho-scratch and range-in-kho-preserved are not checked" in note
    on_by_default = "CONFIG_KEXEC_HANDOVER=y\nCONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT=y\n"
    (note,) = captured_notes("ro", on_by_default)
    assert note.startswith(f"{out}#kernel_config turns KHO on by default and the command line has no kho=, ")
    assert json.loads(out.read_text())["kernel_config"] == {
        "path": str(Path(env["PMPOOLCTL_PROC"]) / "config.gz"),
        "kho_on_by_default": True,
    }
    assert captured_notes("ro kho=off", on_by_default) == []  # the command line wins
    assert captured_notes("ro", "# CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT is not set\n") == []
    assert captured_notes("ro", None) == []  # nothing says KHO was on: taken to be off, as --live takes it
    document = json.loads(out.read_text())
    document["kernel_config"] = {"path": "x", "kho_on_by_default": "yes"}
    out.write_text(json.dumps(document))
    assert_input_error(run_cli(["validate", str(POOL), "--memmap", str(out)]), "kho_on_by_default is not true or false")
