"""Planted faults for the KHO rules: range-in-kho-scratch, range-in-kho-preserved, reserve-mem-not-requested,
kho-not-requested (kho-not-finalized and the next kernel's image: test_kho_versions.py, test_kernel_image.py)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pmpoolctl.check.rules import RULE_IDS as RULES
from tests.conftest import EXAMPLES, assert_input_error, run_cli
from tests.helpers.khotrees import GOOD, SCRATCH, compile_dts, kho_out, luo_dts, memblock_fdt

IOMEM = EXAMPLES / "memmap" / "iomem.txt"
POOL = EXAMPLES / "pool.dtb"  # 2 MiB at 4 GiB, 1 GiB at 5 GiB
BOTH = "reserve_mem=64M:4K:r1 reserve_mem=2M:4K:r2"  # what revives GOOD


def kho_check(path: Path, *extra: str, code: int | None = None) -> list[dict[str, Any]]:
    run = run_cli(["kho", "validate", str(path), "--memmap", str(IOMEM), "--json", *extra])
    assert run.stderr == "", run.stderr
    if code is not None:
        assert run.exit_code == code, (run.exit_code, run.stdout)
    findings: list[dict[str, Any]] = json.loads(run.stdout)["findings"]
    return findings


def rules(findings: list[dict[str, Any]]) -> list[str]:
    return [f["rule"] for f in findings]


# --- range-in-kho-scratch ---------------------------------------------------------------------------------------------


def test_a_reserve_mem_region_in_scratch(dtc: str, tmp_path: Path) -> None:
    """reserve_mem allocates with no regard to scratch (memblock.c: 'TODO: Allocation must be outside of scratch')."""
    out = kho_out(dtc, tmp_path / "out", regions=[*GOOD, ("inside", 0x400100000, 0x100000)])
    (finding,) = kho_check(out, code=1)
    assert finding["rule"] == "range-in-kho-scratch" and finding["severity"] == "error"
    assert finding["range"] == {"base": 0x400100000, "size": 0x100000, "end": 0x400200000}
    assert finding["conflict"] == {
        "start": SCRATCH[0][0],
        "end": SCRATCH[0][0] + SCRATCH[0][1],
        "type": "KHO scratch",
        "source": f"{out}/scratch_phys:1",
    }


def test_a_region_over_two_scratch_areas_is_one_finding(dtc: str, tmp_path: Path) -> None:
    scratch = [(0x400000000, 0x1000), (0x400001000, 0x1000)]
    out = kho_out(dtc, tmp_path / "out", regions=[("two", 0x400000000, 0x2000)], scratch=scratch)
    (finding,) = kho_check(out, code=1)
    assert [c["source"].rsplit(":", 1)[1] for c in finding["conflicts"]] == ["1", "2"]


@pytest.mark.parametrize(
    ("where", "what"),
    [({"kexec-metadata": 0x500001000}, "sub-blob kexec-metadata"), ({"memblock": 0x400000000}, "sub-blob memblock")],
)
def test_a_sub_blob_in_scratch(dtc: str, tmp_path: Path, where: dict[str, int], what: str) -> None:
    (finding,) = kho_check(kho_out(dtc, tmp_path / "out", addresses=where), code=1)
    assert finding["rule"] == "range-in-kho-scratch" and finding["message"].startswith(what)


def test_the_memory_map_in_scratch(dtc: str, tmp_path: Path) -> None:
    (finding,) = kho_check(kho_out(dtc, tmp_path / "out", memory_map=0x400002000), code=1)
    assert finding["rule"] == "range-in-kho-scratch" and "preserved memory map" in finding["message"]


def test_scratch_elsewhere_passes(dtc: str, tmp_path: Path) -> None:
    assert kho_check(kho_out(dtc, tmp_path / "out"), code=0) == []


# --- validate BLOB --kho PATH: range-in-kho-scratch, range-in-kho-preserved -------------------------------------------


def pool_check(kho: Path, *extra: str, code: int) -> list[dict[str, Any]]:
    run = run_cli(["validate", str(POOL), "--memmap", str(IOMEM), "--kho", str(kho), "--json", *extra])
    assert run.exit_code == code, (run.exit_code, run.stdout, run.stderr)
    findings: list[dict[str, Any]] = json.loads(run.stdout)["findings"]
    return findings


def test_a_pool_clear_of_kho_passes(dtc: str, tmp_path: Path) -> None:
    assert pool_check(kho_out(dtc, tmp_path / "out"), code=0) == []


def test_a_pool_range_in_scratch(dtc: str, tmp_path: Path) -> None:
    out = kho_out(dtc, tmp_path / "out", scratch=[(0x100000000, 0x1000), (0x600000000, 0x1000)])
    (finding,) = pool_check(out, code=1)
    assert (finding["rule"], finding["range"]["base"]) == ("range-in-kho-scratch", 0x100000000)
    assert finding["conflict"]["source"] == f"{out}/scratch_phys:1"


def test_a_pool_range_over_a_preserved_region(dtc: str, tmp_path: Path) -> None:
    out = kho_out(dtc, tmp_path / "out", regions=[("log", 0x150000000, 0x100000)])
    (finding,) = pool_check(out, code=1)
    assert finding["rule"] == "range-in-kho-preserved" and finding["range"]["base"] == 0x140000000
    assert finding["conflict"]["type"] == "reserve_mem log"
    assert finding["conflict"]["source"] == f"{out}/sub_fdts/memblock"


def test_a_pool_range_over_a_sub_blob(dtc: str, tmp_path: Path) -> None:
    out = kho_out(dtc, tmp_path / "out", addresses={"kexec-metadata": 0x140001000})
    (finding,) = pool_check(out, code=1)
    assert finding["rule"] == "range-in-kho-preserved"
    assert (finding["conflict"]["type"], finding["conflict"]["start"]) == ("KHO sub-blob kexec-metadata", 0x140001000)
    assert finding["conflict"]["end"] == 0x140001000 + 0x1000  # 73 bytes, one page preserved


def test_a_sub_blob_holds_the_power_of_two_pages_kho_preserves(dtc: str, tmp_path: Path) -> None:
    """kho_alloc_preserve rounds up to a power-of-two run of pages: 8448 bytes hold 16 KiB."""
    blob = (2).to_bytes(4, "little") + bytes(8448 - 4)  # kexec-metadata of a later version: raw, not decoded
    out = kho_out(dtc, tmp_path / "out", metadata=blob, addresses={"kexec-metadata": 0x13FFFD000})
    (finding,) = pool_check(out, code=1)  # its bytes end at 0x13ffff100, before the pool; its pages do not
    assert (finding["rule"], finding["conflict"]["start"], finding["conflict"]["end"]) == (
        "range-in-kho-preserved",
        0x13FFFD000,
        0x140001000,
    )


@pytest.mark.parametrize("session", ["luo-session-v1", "luo-session-v2", "luo-session-v9"])
def test_a_pool_range_over_the_memory_map_or_a_luo_table(dtc: str, tmp_path: Path, session: str) -> None:
    """The next kernel walks the memory map from its first page, and LUO its session table: 16 pages
    (LUO_SESSION_PGCNT) in every version of the session ABI, one it does not know too."""
    (finding,) = pool_check(kho_out(dtc, tmp_path / "map", memory_map=0x140010000), code=1)
    assert (finding["rule"], finding["conflict"]["type"]) == ("range-in-kho-preserved", "KHO preserved memory map")
    out = kho_out(dtc, tmp_path / "luo", luo=True)
    compile_dts(dtc, luo_dts(header=0x13FFF1000, session=session), out / "sub_fdts" / "LUO")  # blob-size holds
    (finding,) = pool_check(out, code=1)
    assert (finding["rule"], finding["conflict"]["type"]) == ("range-in-kho-preserved", "KHO LUO luo-session table")
    assert finding["conflict"]["end"] == 0x13FFF1000 + 16 * 4096


def test_validate_kho_needs_the_scratch_areas_and_every_sub_blob(dtc: str, tmp_path: Path) -> None:
    out = kho_out(dtc, tmp_path / "out")
    run = run_cli(["validate", str(POOL), "--memmap", str(IOMEM), "--kho", str(out / "fdt")])
    assert_input_error(run, "sub-blobs are not here")
    (out / "scratch_phys").unlink()
    (out / "scratch_len").unlink()
    assert_input_error(run_cli(["validate", str(POOL), "--memmap", str(IOMEM), "--kho", str(out)]), "scratch")
    unknown = kho_out(dtc, tmp_path / "v9", "kho-v9")
    assert_input_error(run_cli(["validate", str(POOL), "--memmap", str(IOMEM), "--kho", str(unknown)]), "kho-v9")


# --- --next-cmdline: reserve-mem-not-requested ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cmdline",
    [
        f"{BOTH} kho=on",
        "reserve_mem=0x4000000:0x1000:r1 reserve-mem=2097152:0:r2 kho=1",  # hex, decimal, ALIGN 0, - for _
        '"reserve_mem=64M:4K:r1" reserve_mem="2M:4K:r2" KHO_SCRATCH=16M,512M,256M kho=yes',
        f"  console=ttyS0,115200n8 {BOTH}   kho=on  -- init-arg",
        f"reserve_mem=64M:1G:r1 {BOTH.split()[1]} kho=On",  # 0x200000000 is 1 GiB-aligned
        f"{BOTH} reserve_mem=2M:4K:r2 reserve_mem=8M:4K:r1 kho=on",  # later uses of a name are refused: the first holds
        f"{BOTH} kho=off kho=enabled",  # kstrtobool's 'e' (since 6.3): KHO is on
    ],
)
def test_a_command_line_that_requests_every_region(dtc: str, tmp_path: Path, cmdline: str) -> None:
    assert kho_check(kho_out(dtc, tmp_path / "out"), "--next-cmdline", cmdline, code=0) == []


@pytest.mark.parametrize(
    ("cmdline", "r1", "r2"),
    [
        ("kho=on", "does not request it", "does not request it"),
        ("reserve_mem=64M:4K:r1 reserve_mem=1M:4K:r2 kho=on", None, '"wrong size"'),
        ("reserve_mem=64M:4K:r1 reserve_mem=2M:16G:r2 kho=on", None, '"wrong alignment"'),
        ("reserve_mem=0100000000:4K:r1 reserve_mem=2M:4K:r2 kho=on", "asks for 0x1000000 bytes", None),  # octal
        ("reserve_mem=1M:4K:r1 reserve_mem=64M:4K:r1 reserve_mem=2M:4K:r2 kho=on", '"wrong size"', None),
        ("kho=on -- reserve_mem=64M:4K:r1 reserve_mem=2M:4K:r2", "does not request it", "does not request it"),
        ("reserve_mem=64M:4K reserve_mem=2M:4K:r2 kho=on", "no ':' after ALIGN", None),
        ("reserve_mem=64M:4K:r1_is_much_too_long reserve_mem=2M:4K:r2 kho=on", "does not request it", None),
        (" ".join(f"reserve_mem=4K:4K:x{i}" for i in range(8)) + f" {BOTH} kho=on", "at most 8", "at most 8"),
    ],
)
def test_regions_the_next_kernel_would_allocate_afresh(
    dtc: str, tmp_path: Path, cmdline: str, r1: str | None, r2: str | None
) -> None:
    findings = kho_check(kho_out(dtc, tmp_path / "out"), "--next-cmdline", cmdline, code=1)
    expected = [(name, why) for name, why in (("r1", r1), ("r2", r2)) if why is not None]
    assert rules(findings) == ["reserve-mem-not-requested"] * len(expected)
    for finding, (name, why) in zip(findings, expected):
        assert finding["message"].startswith(f"reserve_mem region {name} ") and why in finding["message"], finding
        assert "data is lost" in finding["message"] and "request it as reserve_mem=" in finding["message"]


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        (f"{BOTH} kho=on liveupdate=on", []),
        (f"{BOTH} kho=on liveupdate=off liveupdate=enable", []),  # kstrtobool, the last that parses
        (f"{BOTH} kho=on", [("kho-not-requested", "error", "has no liveupdate=on")]),
        (f"{BOTH} kho=on liveupdate=on liveupdate=0", [("kho-not-requested", "error", "turns live update off")]),
        (f"{BOTH} kho=on liveupdate=maybe", [("kho-not-requested", "error", "has no liveupdate=on")]),
        (f"{BOTH} kho=on -- liveupdate=on", [("kho-not-requested", "error", "has no liveupdate=on")]),
        (f"{BOTH} kho=off", [("kho-not-requested", "error", "LUO, whose state this is, drops its sessions")]),
        (BOTH, [("kho-not-requested", "error", "liveupdate=on")]),  # lost whether KHO is on or not
    ],
)
def test_luo_state_needs_liveupdate_on(
    dtc: str, tmp_path: Path, cmdline: str, expected: list[tuple[str, str, str]]
) -> None:
    """LUO is off unless the command line turns it on (luo_core.c: no config default): without liveupdate=on
    the next kernel makes no /dev/liveupdate, and the sessions it is handed cannot be retrieved."""
    findings = kho_check(kho_out(dtc, tmp_path / "out", luo=True), "--next-cmdline", cmdline)
    assert len(findings) == len(expected), findings
    for finding, (rule, severity, text) in zip(findings, expected):
        assert (finding["rule"], finding["severity"]) == (rule, severity) and text in finding["message"], finding
    if cmdline == BOTH:  # the warning that KHO may be off is said in the one finding too
        assert "; and --next-cmdline has no kho=on, and whether the next kernel has KHO on" in findings[0]["message"]
    assert kho_check(kho_out(dtc, tmp_path / "no-luo"), "--next-cmdline", f"{BOTH} kho=on", code=0) == []


def test_the_command_line_from_a_file(dtc: str, tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_text(f"BOOT_IMAGE=/vmlinuz root=/dev/sda1 {BOTH} kho=on\n")  # as /proc/cmdline prints it
    assert kho_check(kho_out(dtc, tmp_path / "out"), "--next-cmdline", f"@{cmdline}", code=0) == []
    cmdline.write_bytes(b"kho=on\0")
    run = run_cli(["kho", "validate", str(tmp_path / "out"), "--memmap", str(IOMEM), "--next-cmdline", f"@{cmdline}"])
    assert_input_error(run, str(cmdline), "NUL")
    missing = run_cli(["kho", "validate", str(tmp_path / "out"), "--memmap", str(IOMEM), "--next-cmdline", "@/no/such"])
    assert_input_error(missing, "/no/such")


def test_a_name_with_a_colon_is_requested_as_the_kernel_reads_it(dtc: str, tmp_path: Path) -> None:
    out = kho_out(dtc, tmp_path / "out", memblock=memblock_fdt([(b"dm:log", 0x200000000, 0x4000000)]))
    assert kho_check(out, "--next-cmdline", "reserve_mem=64M:4K:dm:log kho=on", code=0) == []
    (finding,) = kho_check(out, "--next-cmdline", "reserve_mem=64M:4K:dm kho=on", code=1)
    assert (
        "reserve_mem region dm:log" in finding["message"]
        and "reserve_mem=0x4000000:0x1000:dm:log" in (finding["message"])
    )


# --- --next-cmdline: kho-not-requested --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cmdline", "luo", "severity", "needle"),
    [
        (BOTH, False, "warning", "is not known"),
        (f"{BOTH} kho=maybe", False, "warning", "is not known"),  # kstrtobool refuses it: no setting
        (f"{BOTH} kho=nonsense", False, "warning", "turns KHO off"),  # kstrtobool reads 'n...' as false
        (f"{BOTH} kho=off", False, "warning", "turns KHO off ('kho=off')"),
        (f"{BOTH} kho=on kho=0", True, "error", "LUO, whose state this is, drops its sessions"),
        (f"{BOTH} kho=on kho=disabled", True, "error", "turns KHO off ('kho=disabled')"),  # 'd' since 6.3
    ],
)
def test_kho_not_turned_on(dtc: str, tmp_path: Path, cmdline: str, luo: bool, severity: str, needle: str) -> None:
    out = kho_out(dtc, tmp_path / "out", luo=luo)
    (finding,) = kho_check(out, "--next-cmdline", cmdline, code=1 if severity == "error" else 0)
    assert (finding["rule"], finding["severity"]) == ("kho-not-requested", severity) and needle in finding["message"]
    if severity == "warning":
        kho_check(out, "--next-cmdline", cmdline, "--strict", code=1)


# --- reports carry the new rules --------------------------------------------------------------------------------------


def test_junit_has_a_case_per_rule_and_fails_the_kho_ones(dtc: str, tmp_path: Path) -> None:
    out = kho_out(dtc, tmp_path / "out", "kho-v1", memory_map=0, regions=[("s", 0x400000000, 0x1000)])
    report = tmp_path / "kho.xml"
    run = run_cli(["kho", "validate", str(out), "--memmap", str(IOMEM), "--junit", str(report), "--next-cmdline", ""])
    assert run.exit_code == 1
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert [c.get("name") for c in suite.findall("testcase")] == list(RULES)
    failed = {c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None}
    assert failed == {"kho-not-finalized", "range-in-kho-scratch", "reserve-mem-not-requested"}
    assert "kho-not-requested" in run.stdout and "warning" in run.stdout


def test_zones_give_the_same_findings_on_the_fast_path_and_the_sweep() -> None:
    """validate() checks a canonical pool by bisection and any other by a sweep: zones must not tell them apart."""
    from pmpoolctl.check.validate import Zone, validate
    from pmpoolctl.memmap.model import RESERVED, MapEntry
    from pmpoolctl.pool.binding import Pool
    from pmpoolctl.ranges.rangearray import RangeArray
    from pmpoolctl.ranges.rangeset import Range

    ranges = RangeArray.from_ranges([Range(0x100000, 0x3000), Range(0x200000, 0x1000), Range(0x400000, 0x2000)])
    entries = [
        MapEntry(0x101000, 0x102000, "KHO scratch", RESERVED, "s:1"),
        MapEntry(0x3FF000, 0x401000, "x", RESERVED, "s:2"),
    ]
    zone = Zone("range-in-kho-scratch", "the scratch areas", entries)
    fast = validate(Pool("p", [], "pmpool-v1", 0x1000, ranges, canonical=True), [], [], None, zones=[zone])
    sweep = validate(Pool("p", [], "pmpool-v1", 0x1000, ranges), [], [], None, zones=[zone])
    assert fast.findings == sweep.findings
    assert [(f.rule, f.range) for f in fast.findings] == [
        ("range-in-kho-scratch", Range(0x100000, 0x3000)),
        ("range-in-kho-scratch", Range(0x400000, 0x2000)),
    ]


def test_kho_validate_draws_its_report(dtc: str, tmp_path: Path) -> None:
    """--html and --svg, as for validate: the maps, the scratch areas and the regions drawn, each finding
    marked; a run that cannot finish leaves an error page, never an old verdict."""
    bad = kho_out(dtc, tmp_path / "out", "kho-v3", [("r1", SCRATCH[0][0], 0x1000), *GOOD[1:]])
    page, picture = tmp_path / "kho.html", tmp_path / "kho.svg"
    run = run_cli(["kho", "validate", str(bad), "--memmap", str(IOMEM), "--html", str(page), "--svg", str(picture)])
    assert run.exit_code == 1, run.stdout + run.stderr
    text, svg = page.read_text(), picture.read_text()
    assert f"<title>pmpoolctl kho validate {bad}: FAIL: 1 error, 0 warnings" in text
    assert "range-in-kho-scratch" in text and "KHO scratch" in svg and "pool /memblock" in svg
    ET.fromstring(svg)
    page.write_text("<h1>OK: 0 errors</h1>")
    run = run_cli(["kho", "validate", str(tmp_path / "missing"), "--memmap", str(IOMEM), "--html", str(page)])
    assert run.exit_code == 3
    assert "NO VERDICT" in page.read_text() and "OK" not in page.read_text().replace("NO VERDICT", "")
