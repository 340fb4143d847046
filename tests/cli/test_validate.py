"""`validate`: a planted-fault corpus for every rule, boundaries against the real memory maps, several maps,
the blob's own map, --live, --phys-bits, JUnit, human output, and properties of the validator itself."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pmpoolctl.memmap.sources
from pmpoolctl.check.rules import RULE_IDS as RULES
from pmpoolctl.check.validate import overlapping_pairs, validate
from pmpoolctl.memmap.model import MapEntry, MemoryMap
from pmpoolctl.memmap.sources import load_memory_map
from pmpoolctl.pool.binding import Pool, decode_pool, encode_u64_pairs
from pmpoolctl.ranges.rangeset import Range
from tests.conftest import DATA, Run, assert_input_error, run_cli

MEMMAP = DATA / "memmap"
IOMEM = MEMMAP / "iomem.txt"
FIRMWARE = MEMMAP / "firmware-memmap"
DMESG = MEMMAP / "dmesg.txt"
EXAMPLES = Path(__file__).parents[2] / "examples"
PAGE = 0x1000
U64 = 1 << 64
PROPERTY = settings(max_examples=150, deadline=None)

# cli.md's rule table, in its order, with severities (the rules this version implements; kho-not-requested,
# which this project added, last).
CLI_MD_RULES = {
    "binding-invalid": "error",
    "range-empty": "error",
    "range-unaligned": "error",
    "range-overflow": "error",
    "range-overlap": "error",
    "ranges-unsorted": "error",
    "ranges-not-coalesced": "warning",
    "range-outside-ram": "error",
    "range-in-reserved": "error",
    "range-in-kernel": "error",
    "range-in-crashkernel": "error",
    "range-in-memreserve": "error",
    "range-above-phys-limit": "error",
    "range-in-dynamic-reserved": "warning",
    "range-in-kexec-segment": "error",
    "range-in-kho-scratch": "error",
    "range-in-kho-preserved": "error",
    "pools-overlap": "error",
    "kho-not-finalized": "error",
    "reserve-mem-not-requested": "error",
    "abi-unknown-to-next-kernel": "error",
    "kho-not-requested": "warning",
}
# Rules whose planted faults need KHO state or a kernel image built with dtc: they live with those builders.
PLANTED_ELSEWHERE = {
    "range-in-kexec-segment": "test_whole_kexec.py",
    "pools-overlap": "test_whole_kexec.py",
    "range-in-kho-scratch": "test_kho_rules.py",
    "range-in-kho-preserved": "test_kho_rules.py",
    "kho-not-finalized": "test_kho_versions.py",
    "reserve-mem-not-requested": "test_kho_rules.py",
    "abi-unknown-to-next-kernel": "test_kernel_image.py",
    "kho-not-requested": "test_kho_rules.py",
}
RULE_OF_KIND = {
    "reserved": "range-in-reserved",
    "kernel": "range-in-kernel",
    "crashkernel": "range-in-crashkernel",
    "dynamic": "range-in-dynamic-reserved",
}


def dts(
    ranges: list[tuple[int, int]],
    *,
    compatible: str = "pmpool-v1",
    page_size: str = "<0x1000>",
    page_ranges: str | None = None,
    memreserve: str = "",
    nodes: str = "",
) -> str:
    """A blob source: root with 2/2 cells, optional nodes and /memreserve/, and the pool."""
    if page_ranges is None:
        page_ranges = ", ".join(f"/bits/ 64 <{base:#x} {size:#x}>" for base, size in ranges)
    ranges_line = f"page-ranges = {page_ranges};" if page_ranges else "page-ranges;"
    size_line = f"page-size = {page_size};" if page_size else ""
    return (
        f"/dts-v1/;\n{memreserve}\n/ {{\n\t#address-cells = <2>;\n\t#size-cells = <2>;\n{nodes}\n"
        f'\tdefault_pmpool {{\n\t\tcompatible = "{compatible}";\n\t\t{size_line}\n\t\t{ranges_line}\n\t}};\n}};\n'
    )


@dataclass
class Blobs:
    """Compiles DTS text with dtc into numbered files under a directory."""

    dtc: str
    directory: Path
    count: int = field(default=0)

    def build(self, source: str, name: str | None = None) -> Path:
        self.count += 1
        out = self.directory / (name or f"blob{self.count}.dtb")
        proc = subprocess.run(
            [self.dtc, "-I", "dts", "-O", "dtb", "-o", str(out), "-"],
            input=source.encode(),
            capture_output=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        return out

    def pool(self, ranges: list[tuple[int, int]], **options: str) -> Path:
        return self.build(dts(ranges, **options))


@pytest.fixture
def blobs(dtc: str, tmp_path: Path) -> Blobs:
    return Blobs(dtc, tmp_path)


def validate_json(blob: Path, *args: str, exit_code: int | None = None) -> dict[str, Any]:
    run = run_cli(["validate", str(blob), *args, "--json"])
    assert run.stderr == "", run.stderr
    document: dict[str, Any] = json.loads(run.stdout)
    expected = (0 if document["ok"] else 1) if exit_code is None else exit_code
    assert run.exit_code == expected, (run.exit_code, run.stdout)
    assert document["ok"] is (expected == 0)
    return document


def range_json(base: int, size: int) -> dict[str, int]:
    return {"base": base, "size": size, "end": base + size}


def conflict_json(start: int, end: int, type_word: str, source: str) -> dict[str, Any]:
    return {"start": start, "end": end, "type": type_word, "source": source}


def findings_of(document: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """(rule, severity, range, conflict) of every finding, sorted (the order is not part of the contract)."""
    result = [(f["rule"], f["severity"], f.get("range"), f.get("conflict")) for f in document["findings"]]
    for finding in document["findings"]:
        assert isinstance(finding["message"], str)
        assert finding["message"]
    return sorted(result, key=lambda item: json.dumps(item, sort_keys=True))


def sort_findings(items: list[tuple[str, str, Any, Any]]) -> list[tuple[str, str, Any, Any]]:
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


# --- the planted-fault corpus -----------------------------------------------------------------------------------------


def iomem_with_line_11(path: Path, line: str) -> Path:
    """The real iomem with `line` nested under System RAM as its line 11."""
    lines = IOMEM.read_text().splitlines(keepends=True)
    path.write_text("".join([*lines[:10], line, *lines[10:]]))
    return path


@pytest.fixture
def crash_map(tmp_path: Path) -> Path:
    """A crashkernel=256M reservation."""
    return iomem_with_line_11(tmp_path / "iomem-crash.txt", "  20000000-2fffffff : Crash kernel\n")


@pytest.fixture
def reserved_map(tmp_path: Path) -> Path:
    """A memblock reservation inside RAM, as arm64 lists them."""
    return iomem_with_line_11(tmp_path / "iomem-reserved.txt", "  28000000-28ffffff : reserved\n")


@dataclass(frozen=True)
class Case:
    """One planted fault: the pool, the map, the expected findings (conflict sources as format strings)."""

    ranges: list[tuple[int, int]]
    findings: list[tuple[str, str, tuple[int, int] | None, tuple[int, int, str, str] | None]]
    options: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    memmap: str = "{iomem}"
    exit_code: int = 1


IN_RAM = 0x100000000  # the real map's RAM above 4 GiB: no zone, no reservation, no hole near it
CMA_NODE = (
    "\treserved-memory {\n\t\t#address-cells = <2>;\n\t\t#size-cells = <2>;\n\t\tranges;\n"
    '\t\tlinux,cma {\n\t\t\tcompatible = "shared-dma-pool";\n\t\t\treusable;\n'
    "\t\t\tsize = <0x0 0x4000000>;\n\t\t\talloc-ranges = <0x1 0x0 0x0 0x40000000>;\n\t\t};\n\t};\n"
)

CORPUS: dict[str, Case] = {
    "binding-invalid": Case(
        [(IN_RAM, 0x200000)], [("binding-invalid", "error", None, None)], options={"compatible": "pmpool-v2"}
    ),
    "range-empty": Case([(IN_RAM, 0)], [("range-empty", "error", (IN_RAM, 0), None)]),
    "range-unaligned": Case([(IN_RAM + 0x800, PAGE)], [("range-unaligned", "error", (IN_RAM + 0x800, PAGE), None)]),
    # Companion: no memory map has RAM past 2^64, so the part past it is outside RAM too.
    "range-overflow": Case(
        [(U64 - PAGE, 2 * PAGE)],
        [
            ("range-overflow", "error", (U64 - PAGE, 2 * PAGE), None),
            ("range-outside-ram", "error", (U64 - PAGE, 2 * PAGE), (U64 - PAGE, U64 + PAGE, "hole", "{iomem}")),
        ],
    ),
    "range-overlap": Case(
        [(IN_RAM, 2 * PAGE), (IN_RAM + PAGE, 2 * PAGE)], [("range-overlap", "error", (IN_RAM + PAGE, 2 * PAGE), None)]
    ),
    "ranges-unsorted": Case([(2 * IN_RAM, PAGE), (IN_RAM, PAGE)], [("ranges-unsorted", "error", (IN_RAM, PAGE), None)]),
    "ranges-not-coalesced": Case(
        [(IN_RAM, PAGE), (IN_RAM + PAGE, PAGE)],
        [("ranges-not-coalesced", "warning", (IN_RAM + PAGE, PAGE), None)],
        exit_code=0,
    ),
    "range-outside-ram": Case(
        [(0xC0000000, PAGE)],
        [("range-outside-ram", "error", (0xC0000000, PAGE), (0xC0000000, 0xC0001000, "hole", "{iomem}"))],
    ),
    # Memory reserved inside RAM; a top-level Reserved entry is not RAM at all (range-outside-ram, see below).
    "range-in-reserved": Case(
        [(0x28FFF000, 2 * PAGE)],
        [("range-in-reserved", "error", (0x28FFF000, 2 * PAGE), (0x28000000, 0x29000000, "reserved", "{reserved}:11"))],
        memmap="{reserved}",
    ),
    "range-in-kernel": Case(
        [(0x1000000, PAGE)],
        [("range-in-kernel", "error", (0x1000000, PAGE), (0x1000000, 0x2208D88, "Kernel code", "{iomem}:7"))],
    ),
    "range-in-crashkernel": Case(
        [(0x2FFFF000, PAGE)],
        [
            (
                "range-in-crashkernel",
                "error",
                (0x2FFFF000, PAGE),
                (0x20000000, 0x30000000, "Crash kernel", "{crash}:11"),
            )
        ],
        memmap="{crash}",
    ),
    "range-in-memreserve": Case(
        [(0x200FF000, 2 * PAGE)],
        [
            (
                "range-in-memreserve",
                "error",
                (0x200FF000, 2 * PAGE),
                (0x20000000, 0x20100000, "/memreserve/", "{blob}:memreserve[0]"),
            )
        ],
        options={"memreserve": "/memreserve/ 0x20000000 0x100000;"},
    ),
    "range-above-phys-limit": Case(
        [(0x400000000, PAGE)],
        [("range-above-phys-limit", "error", (0x400000000, PAGE), None)],
        args=("--phys-bits", "34"),
    ),
    # A CMA pool the kernel places at boot somewhere in [4 GiB, 5 GiB): a warning, exit 0 without --strict.
    "range-in-dynamic-reserved": Case(
        [(IN_RAM + 0x3FFFF000, PAGE)],
        [
            (
                "range-in-dynamic-reserved",
                "warning",
                (IN_RAM + 0x3FFFF000, PAGE),
                (
                    IN_RAM,
                    IN_RAM + 0x40000000,
                    "reserved-memory/linux,cma (dynamic)",
                    "{blob}:/reserved-memory/linux,cma",
                ),
            )
        ],
        options={"nodes": CMA_NODE},
        exit_code=0,
    ),
}


def test_corpus_covers_every_rule_of_cli_md() -> None:
    assert list(RULES) == list(CLI_MD_RULES)
    assert set(CORPUS) | set(PLANTED_ELSEWHERE) == set(CLI_MD_RULES)
    assert not set(CORPUS) & set(PLANTED_ELSEWHERE)
    for rule, module in PLANTED_ELSEWHERE.items():
        (test_file,) = Path(__file__).parents[1].glob(f"*/{module}")  # tests/unit, tests/cli, tests/system
        assert f'"{rule}"' in test_file.read_text(), (rule, module)


@pytest.mark.parametrize("rule", list(CORPUS))
def test_planted_fault(rule: str, blobs: Blobs, crash_map: Path, reserved_map: Path) -> None:
    case = CORPUS[rule]
    blob = blobs.pool(case.ranges, **case.options)
    names = {"iomem": str(IOMEM), "crash": str(crash_map), "reserved": str(reserved_map), "blob": str(blob)}
    memmap = case.memmap.format(**names)
    document = validate_json(blob, "--memmap", memmap, *case.args, exit_code=case.exit_code)
    expected = [
        (
            rule_id,
            severity,
            None if r is None else range_json(*r),
            None if c is None else conflict_json(c[0], c[1], c[2], c[3].format(**names)),
        )
        for rule_id, severity, r, c in case.findings
    ]
    assert findings_of(document) == sort_findings(expected)
    assert any(f["rule"] == rule for f in document["findings"])
    for finding in document["findings"]:
        assert finding["severity"] == CLI_MD_RULES[finding["rule"]]
    errors = sum(1 for f in case.findings if f[1] == "error")
    assert document["summary"] == {
        "ranges": len(case.ranges),
        "errors": errors,
        "warnings": len(case.findings) - errors,
    }
    assert document["schema"] == "pmpoolctl.validate/v1"
    assert document["file"] == str(blob)
    assert document["memmaps"][0]["source"] == memmap
    if case.exit_code == 0:  # the warning-only rule fails the run with --strict
        strict = validate_json(blob, "--memmap", memmap, *case.args, "--strict", exit_code=1)
        assert findings_of(strict) == findings_of(document)


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"compatible": "pmpool-v2"}, "pmpool-v2"),
        ({"page_ranges": "/bits/ 64 <0x100000000 0x1000>, <0x1>"}, "20 bytes"),
        ({"page_size": "<0x800>"}, "2048"),
        ({"page_size": "<0x3000>"}, "12288"),
        ({"page_size": "/bits/ 64 <0x1000>"}, "page-size"),
    ],
)
def test_binding_invalid_variants(blobs: Blobs, options: dict[str, str], needle: str) -> None:
    blob = blobs.pool([(IN_RAM, 0x200000)], **options)
    document = validate_json(blob, "--memmap", str(IOMEM), exit_code=1)
    assert [f["rule"] for f in document["findings"]] == ["binding-invalid"]
    assert needle in document["findings"][0]["message"]


def test_memreserve_from_reserved_memory_node(blobs: Blobs) -> None:
    nodes = (
        "\treserved-memory {\n\t\t#address-cells = <2>;\n\t\t#size-cells = <2>;\n\t\tranges;\n"
        "\t\tsecmon@30000000 { reg = <0x0 0x30000000 0x0 0x200000>; no-map; };\n\t};\n"
    )
    blob = blobs.pool([(0x301FF000, 2 * PAGE)], nodes=nodes)
    document = validate_json(blob, "--memmap", str(IOMEM), exit_code=1)
    assert findings_of(document) == [
        (
            "range-in-memreserve",
            "error",
            range_json(0x301FF000, 2 * PAGE),
            conflict_json(
                0x30000000, 0x30200000, "reserved-memory/secmon@30000000", f"{blob}:/reserved-memory/secmon@30000000"
            ),
        )
    ]


def test_clean_pool(blobs: Blobs) -> None:
    blob = blobs.pool([(IN_RAM, 0x200000), (0x140000000, 0x40000000)], memreserve="/memreserve/ 0x20000000 0x100000;")
    for maps in ([str(IOMEM)], [str(FIRMWARE)], [str(DMESG)], [str(IOMEM), str(FIRMWARE), str(DMESG)]):
        args = [arg for m in maps for arg in ("--memmap", m)]
        document = validate_json(blob, *args, "--strict", "--phys-bits", "35", exit_code=0)
        assert document["ok"] is True
        assert document["findings"] == []
        assert document["summary"] == {"ranges": 2, "errors": 0, "warnings": 0}
        assert [m["source"] for m in document["memmaps"]] == maps


def test_empty_pool_is_clean(blobs: Blobs) -> None:
    document = validate_json(blobs.pool([]), "--memmap", str(IOMEM), exit_code=0)
    assert document["findings"] == []
    assert document["summary"] == {"ranges": 0, "errors": 0, "warnings": 0}


def test_findings_from_several_rules_at_once(blobs: Blobs) -> None:
    blob = blobs.pool([(0x1000000, PAGE), (0xC0000000, PAGE), (0xC0000000, PAGE), (IN_RAM + 1, PAGE)])
    document = validate_json(blob, "--memmap", str(IOMEM), exit_code=1)
    # The range given twice is outside RAM once: one finding per range and rule.
    assert Counter(f["rule"] for f in document["findings"]) == Counter(
        {"range-in-kernel": 1, "range-outside-ram": 1, "range-overlap": 1, "range-unaligned": 1}
    )
    assert document["summary"] == {"ranges": 4, "errors": 4, "warnings": 0}


def test_a_top_level_reserved_entry_is_outside_ram_once(blobs: Blobs) -> None:
    """iomem's top-level Reserved is not RAM: one finding (range-outside-ram naming it), not one per rule."""
    document = validate_json(blobs.pool([(0xEEC00000, PAGE)]), "--memmap", str(IOMEM), exit_code=1)
    assert findings_of(document) == [
        (
            "range-outside-ram",
            "error",
            range_json(0xEEC00000, PAGE),
            conflict_json(0xEEC00000, 0xFEC00000, "Reserved", f"{IOMEM}:12"),
        )
    ]


# --- boundaries of the real map ---------------------------------------------------------------------------------------


def covered(base: int, end: int, spans: list[tuple[int, int]]) -> bool:
    cursor = base
    for start, stop in sorted(spans):
        if start > cursor:
            break
        cursor = max(cursor, stop)
    return cursor >= end


def touches(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(s < end and start < e for s, e in spans)


def oracle(base: int, end: int, entries: list[MapEntry]) -> Counter[tuple[str, Any]]:
    """The (rule, conflict) pairs one map should give for [base, end): brute force over its entries.

    A reserved entry counts for range-in-reserved only where it lies in RAM: where the map
    has no RAM under it, the range is outside RAM, and that one rule says so.
    """
    expected: Counter[tuple[str, Any]] = Counter()
    ram = [(e.start, e.end) for e in entries if e.kind == "ram"]
    if not covered(base, end, ram):
        expected[("range-outside-ram", None)] += 1
    for e in entries:
        if e.kind != "ram" and e.start < end and base < e.end:
            if e.kind == "reserved" and not touches(max(base, e.start), min(end, e.end), ram):
                continue
            expected[(RULE_OF_KIND[e.kind], (e.start, e.end, e.type, e.source))] += 1
    return expected


def outside_ram_conflict_is_sound(conflict: dict[str, Any], base: int, end: int, memory_map: MemoryMap) -> None:
    """A hole conflict lies in the range and in no entry; any other names a non-RAM entry the range overlaps."""
    if conflict["type"] == "hole":
        assert conflict["source"] == memory_map.source
        assert base <= conflict["start"] < conflict["end"] <= end
        for e in memory_map.entries:
            assert not (e.start < conflict["end"] and conflict["start"] < e.end), (conflict, e)
    else:
        candidates = [
            (e.start, e.end, e.type, e.source)
            for e in memory_map.entries
            if e.kind != "ram" and e.start < end and base < e.end
        ]
        assert (conflict["start"], conflict["end"], conflict["type"], conflict["source"]) in candidates


def observed(document: dict[str, Any]) -> Counter[tuple[str, Any]]:
    """(rule, conflict) pairs of a report: every conflict of each finding, and one finding per range and rule."""
    result: Counter[tuple[str, Any]] = Counter()
    keys = [(json.dumps(f.get("range")), f["rule"]) for f in document["findings"]]
    assert len(keys) == len(set(keys)), keys
    for f in document["findings"]:
        if f["rule"] == "range-outside-ram":
            result[(f["rule"], None)] += 1
            continue
        assert f["conflicts"][0] == f["conflict"]
        for c in f["conflicts"]:
            result[(f["rule"], (c["start"], c["end"], c["type"], c["source"]))] += 1
    return result


def align_up(value: int) -> int:
    return -(-value // PAGE) * PAGE


def align_down(value: int) -> int:
    return value // PAGE * PAGE


def test_boundaries_of_every_ram_entry(blobs: Blobs) -> None:
    memory_map = load_memory_map(str(IOMEM))
    ram = memory_map.of_kind("ram")
    assert len(ram) == 3
    for entry in ram:
        first, last = align_up(entry.start), align_down(entry.end) - PAGE
        passing = [first, last]
        failing = [first - PAGE, align_up(entry.end)]
        if entry.end % PAGE:
            failing.append(align_down(entry.end))  # the page that straddles the end
        for base in passing + failing:
            document = validate_json(blobs.pool([(base, PAGE)]), "--memmap", str(IOMEM))
            expected = oracle(base, base + PAGE, memory_map.entries)
            assert observed(document) == expected, (hex(base), document["findings"])
            if base in passing:
                assert document["findings"] == [], hex(base)
            else:
                assert expected[("range-outside-ram", None)] == 1, hex(base)
                for f in document["findings"]:
                    assert f["range"] == range_json(base, PAGE)
                    if f["rule"] == "range-outside-ram":
                        outside_ram_conflict_is_sound(f["conflict"], base, base + PAGE, memory_map)


def test_boundaries_named_by_hand(blobs: Blobs) -> None:
    """A few of the above with the conflicts spelled out."""
    cases: list[tuple[int, list[tuple[str, str, Any, Any]]]] = [
        (
            0xFFFFF000,
            [
                (
                    "range-outside-ram",
                    "error",
                    range_json(0xFFFFF000, PAGE),
                    conflict_json(0xFFFFF000, 0x100000000, "hole", str(IOMEM)),
                )
            ],
        ),
        (
            0x640000000,
            [
                (
                    "range-outside-ram",
                    "error",
                    range_json(0x640000000, PAGE),
                    conflict_json(0x640000000, 0x640001000, "hole", str(IOMEM)),
                )
            ],
        ),
        (
            0x0,
            [
                ("range-outside-ram", "error", range_json(0, PAGE), conflict_json(0, 0x1000, "Reserved", f"{IOMEM}:1")),
            ],
        ),
        (
            0x9F000,
            [
                (
                    "range-outside-ram",
                    "error",
                    range_json(0x9F000, PAGE),
                    conflict_json(0x9FC00, 0x100000, "Reserved", f"{IOMEM}:3"),
                ),
            ],
        ),
        (
            0x3C57000,
            [
                (
                    "range-in-kernel",
                    "error",
                    range_json(0x3C57000, PAGE),
                    conflict_json(0x3B34000, 0x3C58000, "Kernel bss", f"{IOMEM}:10"),
                )
            ],
        ),
    ]
    for base, expected in cases:
        document = validate_json(blobs.pool([(base, PAGE)]), "--memmap", str(IOMEM), exit_code=1)
        assert findings_of(document) == sort_findings(expected), hex(base)


def test_boundaries_of_every_kernel_entry(blobs: Blobs) -> None:
    memory_map = load_memory_map(str(IOMEM))
    for entry in memory_map.of_kind("kernel"):
        before, first, last, after = entry.start - PAGE, entry.start, align_down(entry.end - 1), align_up(entry.end)
        for base, fails in ((before, False), (first, True), (last, True), (after, False)):
            document = validate_json(blobs.pool([(base, PAGE)]), "--memmap", str(IOMEM))
            expected = (
                Counter({("range-in-kernel", (entry.start, entry.end, entry.type, entry.source)): 1})
                if fails
                else Counter()
            )
            assert observed(document) == expected, (hex(base), document["findings"])


def test_phys_bits_boundaries(blobs: Blobs, tmp_path: Path) -> None:
    ram = tmp_path / "ram.json"
    ram.write_text(
        json.dumps(
            [
                {"start": 0, "end": "0x200000000", "type": "System RAM"},
                {"start": "0xffffffff00000000", "end": U64, "type": "System RAM"},
            ]
        )
    )
    below = blobs.pool([(0xFFFFF000, PAGE)])
    across = blobs.pool([(0xFFFFF000, 2 * PAGE)])
    above = blobs.pool([(0x100000000, PAGE)])
    top = blobs.pool([(U64 - PAGE, PAGE)])
    assert validate_json(below, "--memmap", str(ram), "--phys-bits", "32", exit_code=0)["findings"] == []
    for blob, r in ((across, (0xFFFFF000, 2 * PAGE)), (above, (0x100000000, PAGE))):
        document = validate_json(blob, "--memmap", str(ram), "--phys-bits", "32", exit_code=1)
        assert findings_of(document) == [("range-above-phys-limit", "error", range_json(*r), None)]
        assert "2^32" in document["findings"][0]["message"]
    assert validate_json(above, "--memmap", str(ram), "--phys-bits", "33", exit_code=0)["findings"] == []
    assert validate_json(top, "--memmap", str(ram), "--phys-bits", "64", exit_code=0)["findings"] == []
    assert validate_json(top, "--memmap", str(ram), exit_code=0)["findings"] == []
    assert [f["rule"] for f in validate_json(top, "--memmap", str(ram), "--phys-bits", "63")["findings"]] == [
        "range-above-phys-limit"
    ]


@pytest.mark.parametrize("value", ["0", "65", "-1", "abc", "32.5"])
def test_phys_bits_out_of_range_is_a_usage_error(value: str) -> None:
    run = run_cli(["validate", str(EXAMPLES / "pool.dtb"), "--phys-bits", value])
    assert run.exit_code == 2, (run.exit_code, run.stderr)
    assert run.stdout == ""
    assert "--phys-bits" in run.stderr
    assert "Traceback" not in run.stderr


# --- several maps ---------------------------------------------------------------------------------------------------


def test_several_maps_every_one_counts(blobs: Blobs) -> None:
    blob = blobs.pool([(0x0, PAGE)])
    maps = [str(IOMEM), str(FIRMWARE), str(DMESG)]
    document = validate_json(blob, *[a for m in maps for a in ("--memmap", m)], exit_code=1)
    assert document["memmaps"] == [
        {"source": str(IOMEM), "format": "iomem", "entries": 13},
        {"source": str(FIRMWARE), "format": "firmware-memmap", "entries": 5},
        {"source": str(DMESG), "format": "e820", "entries": 6},
    ]
    # RAM in firmware-memmap (entry 0), reserved in iomem (line 1) and after dmesg's e820 update (line 19):
    # one finding that names both maps that refuse it.
    r = range_json(0, PAGE)
    assert findings_of(document) == [
        ("range-outside-ram", "error", r, conflict_json(0, PAGE, "Reserved", f"{IOMEM}:1"))
    ]
    (finding,) = document["findings"]
    assert finding["conflicts"] == [
        conflict_json(0, PAGE, "Reserved", f"{IOMEM}:1"),
        conflict_json(0, PAGE, "reserved", f"{DMESG}:19"),
    ]
    assert str(DMESG) in finding["message"] and str(IOMEM) in finding["message"]
    alone = validate_json(blob, "--memmap", str(FIRMWARE), exit_code=0)
    assert alone["findings"] == []


def test_ram_in_one_map_and_a_hole_in_another(blobs: Blobs, tmp_path: Path) -> None:
    generous = tmp_path / "generous.json"
    generous.write_text(json.dumps([{"start": 0, "end": "0x640000000", "type": "System RAM"}]))
    blob = blobs.pool([(0xC0000000, PAGE)])
    assert validate_json(blob, "--memmap", str(generous), exit_code=0)["findings"] == []
    for order in ([str(generous), str(IOMEM)], [str(IOMEM), str(generous)]):
        document = validate_json(blob, *[a for m in order for a in ("--memmap", m)], exit_code=1)
        assert findings_of(document) == [
            (
                "range-outside-ram",
                "error",
                range_json(0xC0000000, PAGE),
                conflict_json(0xC0000000, 0xC0001000, "hole", str(IOMEM)),
            )
        ]
        assert [m["format"] for m in document["memmaps"]] == ["json" if m == str(generous) else "iomem" for m in order]


def test_bad_map_among_several_is_an_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("00001000-00001fff : System RAM\nnonsense\n")
    run = run_cli(["validate", str(EXAMPLES / "pool.dtb"), "--memmap", str(IOMEM), "--memmap", str(bad), "--json"])
    assert_input_error(run, f"{bad}:2")


def test_a_one_byte_hole_between_ram_entries_is_outside_ram(blobs: Blobs, tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text(
        json.dumps(
            [
                {"start": "0x100000", "end": "0x200000", "type": "System RAM"},
                {"start": "0x200001", "end": "0x400000", "type": "System RAM"},
            ]
        )
    )
    document = validate_json(blobs.pool([(0x1FF000, 2 * PAGE)]), "--memmap", str(path), exit_code=1)
    assert findings_of(document) == [
        (
            "range-outside-ram",
            "error",
            range_json(0x1FF000, 2 * PAGE),
            conflict_json(0x200000, 0x200001, "hole", str(path)),
        )
    ]
    assert validate_json(blobs.pool([(0x201000, PAGE)]), "--memmap", str(path), exit_code=0)["findings"] == []


def test_outside_ram_conflict_names_the_reserved_entry_not_a_hole(blobs: Blobs, tmp_path: Path) -> None:
    """A range inside a big reserved entry that starts before a smaller one: the conflict is not a 'hole'."""
    path = tmp_path / "map.json"
    path.write_text(
        json.dumps(
            [
                {"start": "0x100000", "end": "0x200000", "type": "System RAM"},
                {"start": "0x200000", "end": "0x400000", "type": "Reserved"},
                {"start": "0x201000", "end": "0x202000", "type": "ACPI Tables"},
            ]
        )
    )
    document = validate_json(blobs.pool([(0x300000, PAGE)]), "--memmap", str(path), exit_code=1)
    r = range_json(0x300000, PAGE)
    assert findings_of(document) == [
        ("range-outside-ram", "error", r, conflict_json(0x200000, 0x400000, "Reserved", f"{path}#1"))
    ]


# --- the blob's own map, --live --------------------------------------------------------------------------------------

MEMORY_NODE = (
    '\tmemory@0 {\n\t\tdevice_type = "memory";\n\t\treg = <0x0 0x0 0x0 0xc0000000>, <0x1 0x0 0x5 0x40000000>;\n\t};\n'
)


def test_without_memmap_the_blobs_own_memory_serves(blobs: Blobs) -> None:
    example = EXAMPLES / "pool.dtb"
    document = validate_json(example, exit_code=0)
    assert document["memmaps"] == [{"source": str(example), "format": "dtb", "entries": 2}]
    assert document["findings"] == []

    blob = blobs.pool(
        [(0xC0000000, PAGE), (0x20000000, PAGE)], nodes=MEMORY_NODE, memreserve="/memreserve/ 0x20000000 0x100000;"
    )
    document = validate_json(blob, exit_code=1)
    assert findings_of(document) == sort_findings(
        [
            (
                "range-outside-ram",
                "error",
                range_json(0xC0000000, PAGE),
                conflict_json(0xC0000000, 0xC0001000, "hole", str(blob)),
            ),
            (
                "range-in-memreserve",
                "error",
                range_json(0x20000000, PAGE),
                conflict_json(0x20000000, 0x20100000, "/memreserve/", f"{blob}:memreserve[0]"),
            ),
            ("ranges-unsorted", "error", range_json(0x20000000, PAGE), None),
        ]
    )


def test_without_memmap_and_without_memory_nodes_is_an_input_error(blobs: Blobs) -> None:
    blob = blobs.pool([(IN_RAM, PAGE)], memreserve="/memreserve/ 0x20000000 0x100000;")
    assert_input_error(run_cli(["validate", str(blob)]), str(blob), "/memory")
    assert_input_error(run_cli(["validate", str(blob), "--json"]), str(blob), "/memory")
    # With a map given, the missing /memory node does not matter.
    assert validate_json(blob, "--memmap", str(IOMEM), exit_code=0)["findings"] == []


def test_a_blob_as_the_memory_map(blobs: Blobs) -> None:
    machine = blobs.build(dts([], memreserve="/memreserve/ 0x20000000 0x100000;", nodes=MEMORY_NODE), "machine.dtb")
    blob = blobs.pool([(0x20000000, PAGE)])
    document = validate_json(blob, "--memmap", str(machine), exit_code=1)
    assert document["memmaps"] == [{"source": str(machine), "format": "dtb", "entries": 3}]
    assert findings_of(document) == [
        (
            "range-in-reserved",
            "error",
            range_json(0x20000000, PAGE),
            conflict_json(0x20000000, 0x20100000, "/memreserve/", f"{machine}:memreserve[0]"),
        )
    ]


def test_live_uses_the_live_sources(blobs: Blobs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pmpoolctl.memmap.sources, "LIVE_SOURCES", (str(IOMEM), str(FIRMWARE)))
    monkeypatch.setattr(pmpoolctl.memmap.sources, "CPUINFO", str(MEMMAP / "cpuinfo-arm64.txt"))  # not this host's
    document = validate_json(blobs.pool([(0x0, PAGE)]), "--live", exit_code=1)
    assert document["memmaps"] == [
        {"source": str(IOMEM), "format": "iomem", "entries": 13},
        {"source": str(FIRMWARE), "format": "firmware-memmap", "entries": 5},
    ]
    assert {f["conflict"]["source"] for f in document["findings"]} == {f"{IOMEM}:1"}
    # --live adds to --memmap.
    both = validate_json(blobs.pool([(IN_RAM, PAGE)]), "--memmap", str(DMESG), "--live", exit_code=0)
    assert [m["source"] for m in both["memmaps"]] == [str(DMESG), str(IOMEM), str(FIRMWARE)]
    # --memmap-format names the format of the maps given, not of this host's.
    named = validate_json(blobs.pool([(IN_RAM, PAGE)]), "--memmap", str(DMESG), "--memmap-format", "e820", "--live")
    assert [m["format"] for m in named["memmaps"]] == ["e820", "iomem", "firmware-memmap"]
    # A host without /sys/firmware/memmap (arm64) still validates against /proc/iomem.
    monkeypatch.setattr(pmpoolctl.memmap.sources, "LIVE_SOURCES", (str(IOMEM), str(tmp_path / "no-such-dir")))
    alone = validate_json(blobs.pool([(IN_RAM, PAGE)]), "--live", exit_code=0)
    assert [m["source"] for m in alone["memmaps"]] == [str(IOMEM)]
    # An unreadable /proc/iomem is an input error, not a silently empty map.
    monkeypatch.setattr(pmpoolctl.memmap.sources, "LIVE_SOURCES", (str(tmp_path / "no-iomem"), str(FIRMWARE)))
    assert_input_error(run_cli(["validate", str(blobs.pool([(IN_RAM, PAGE)])), "--live"]), str(tmp_path / "no-iomem"))


def test_live_knows_the_cpu(blobs: Blobs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Under --live, a range past the CPU's physical address width is refused as with --phys-bits N."""
    ram_to_2_pow_48 = tmp_path / "iomem.txt"
    ram_to_2_pow_48.write_text("00001000-ffffffffffff : System RAM\n")
    monkeypatch.setattr(pmpoolctl.memmap.sources, "LIVE_SOURCES", (str(ram_to_2_pow_48), str(tmp_path / "no-such-dir")))
    monkeypatch.setattr(pmpoolctl.memmap.sources, "CPUINFO", str(MEMMAP / "cpuinfo-x86.txt"))  # 46 bits physical
    above = blobs.pool([(1 << 46, PAGE)])
    document = validate_json(above, "--live", exit_code=1)
    assert [(f["rule"], f["range"]["base"]) for f in document["findings"]] == [("range-above-phys-limit", 1 << 46)]
    assert "2^46" in document["findings"][0]["message"]
    # The last page below 2^46 is fine; --phys-bits says otherwise when given; a map by file says nothing of the CPU.
    validate_json(blobs.pool([((1 << 46) - PAGE, PAGE)]), "--live", exit_code=0)
    validate_json(above, "--live", "--phys-bits", "48", exit_code=0)
    validate_json(above, "--memmap", str(ram_to_2_pow_48), exit_code=0)
    monkeypatch.setattr(pmpoolctl.memmap.sources, "CPUINFO", str(MEMMAP / "cpuinfo-arm64.txt"))  # no width: no limit
    validate_json(above, "--live", exit_code=0)
    monkeypatch.setattr(pmpoolctl.memmap.sources, "CPUINFO", str(ram_to_2_pow_48))  # no "address sizes" line either
    validate_json(above, "--live", exit_code=0)
    # kho validate holds its regions to the same width: the example's end near 2^34.15.
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\naddress sizes\t: 34 bits physical, 48 bits virtual\n")
    monkeypatch.setattr(pmpoolctl.memmap.sources, "LIVE_SOURCES", (str(IOMEM), str(FIRMWARE)))
    monkeypatch.setattr(pmpoolctl.memmap.sources, "CPUINFO", str(cpuinfo))
    kho = ["kho", "validate", str(EXAMPLES / "kho" / "out"), "--live", "--json"]
    run = run_cli(kho)
    assert run.exit_code == 1, run.stdout + run.stderr
    assert {f["rule"] for f in json.loads(run.stdout)["findings"]} == {"range-above-phys-limit"}
    assert run_cli([*kho, "--phys-bits", "35"]).exit_code == 0
    # A cpuinfo that does not read is an input error naming its line, not a guess.
    cpuinfo.write_text("processor\t: 0\naddress sizes\t: 99 bits physical, 48 bits virtual\n")
    assert_input_error(run_cli(["validate", str(above), "--live"]), f"{cpuinfo}:2:", "address sizes")


def test_pool_option_and_missing_pool(blobs: Blobs) -> None:
    blob = blobs.build(
        "/dts-v1/;\n/ {\n\t#address-cells = <2>;\n\t#size-cells = <2>;\n"
        '\tiommu_pmpool { compatible = "pmpool-v1"; page-ranges = /bits/ 64 <0x1000000 0x1000>; };\n};\n'
    )
    assert_input_error(run_cli(["validate", str(blob), "--memmap", str(IOMEM)]), str(blob), "default_pmpool")
    document = validate_json(blob, "--memmap", str(IOMEM), "--pool", "iommu_pmpool", exit_code=1)
    assert document["pool"] == "/iommu_pmpool"
    assert [f["rule"] for f in document["findings"]] == ["range-in-kernel"]


# --- JUnit ----------------------------------------------------------------------------------------------------------


def junit(blob: Path, path: Path, *args: str) -> tuple[ET.Element, dict[str, Any]]:
    run = run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--junit", str(path), "--json", *args])
    assert run.exit_code in (0, 1), run.stderr
    return ET.parse(path).getroot(), json.loads(run.stdout)


def check_junit(root: ET.Element, document: dict[str, Any], strict: bool) -> None:
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == list(CLI_MD_RULES)
    assert suite.get("tests") == str(len(CLI_MD_RULES))
    failing_rules = {
        f["rule"] for f in document["findings"] if f["severity"] == "error" or (strict and f["severity"] == "warning")
    }
    assert suite.get("failures") == str(len(failing_rules))
    for case in cases:
        name = case.get("name")
        failures = case.findall("failure")
        assert len(failures) == (1 if name in failing_rules else 0), name
        messages = [f["message"] for f in document["findings"] if f["rule"] == name]
        if failures:
            text = failures[0].text or ""
            for message in messages:
                assert message in text
        elif messages:  # a warning that does not fail the run is still reported
            assert all(message in ET.tostring(case, encoding="unicode") for message in messages)


def test_junit_report(blobs: Blobs, tmp_path: Path) -> None:
    # ranges-unsorted (error), ranges-not-coalesced (warning), range-in-kernel (error), range-outside-ram (error)
    blob = blobs.pool(
        [(0x200000000, PAGE), (IN_RAM, PAGE), (IN_RAM + PAGE, PAGE), (0x1000000, PAGE), (0xC0000000, PAGE)]
    )
    root, document = junit(blob, tmp_path / "report.xml")
    assert {f["rule"] for f in document["findings"]} == {
        "ranges-unsorted",
        "ranges-not-coalesced",
        "range-in-kernel",
        "range-outside-ram",
    }
    check_junit(root, document, strict=False)
    root, document = junit(blob, tmp_path / "strict.xml", "--strict")
    check_junit(root, document, strict=True)
    suite = root if root.tag == "testsuite" else root.findall("testsuite")[0]
    assert suite.get("failures") == "4"


def test_junit_warning_only(blobs: Blobs, tmp_path: Path) -> None:
    blob = blobs.pool([(IN_RAM, PAGE), (IN_RAM + PAGE, PAGE)])
    root, document = junit(blob, tmp_path / "report.xml")
    assert document["ok"] is True
    check_junit(root, document, strict=False)
    suite = root if root.tag == "testsuite" else root.findall("testsuite")[0]
    assert suite.get("failures") == "0"
    root, document = junit(blob, tmp_path / "strict.xml", "--strict")
    assert document["ok"] is False
    check_junit(root, document, strict=True)


def test_junit_clean_and_unwritable(blobs: Blobs, tmp_path: Path) -> None:
    blob = blobs.pool([(IN_RAM, PAGE)])
    root, document = junit(blob, tmp_path / "report.xml")
    check_junit(root, document, strict=False)
    assert list(root.iter("failure")) == []
    run = run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--junit", str(tmp_path / "no-dir" / "r.xml")])
    assert_input_error(run, str(tmp_path / "no-dir"))
    # The failure is said once, though the error report meant to record it fails the same way.
    assert run.stderr.count("No such file") == 1 and "could not be written" not in run.stderr, run.stderr
    (tmp_path / "a-dir").mkdir()  # a directory is never a report's FILE: a usage error (tests/cli/test_report_paths.py)
    run = run_cli(["validate", str(blob), "--junit", str(tmp_path / "a-dir"), "--html", str(tmp_path / "a-dir")])
    assert run.exit_code == 2 and run.stdout == "", run
    assert run.stderr.startswith("error: --junit ") and run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.count("a-dir is not written: it is a directory") == 2, run.stderr
    html = tmp_path / "report.html"  # a report that can be written is, and the one that could not is named
    run = run_cli(["validate", str(blob), "--junit", str(tmp_path / "a-dir"), "--html", str(html)])
    assert run.exit_code == 2 and "a-dir is not written: it is a directory" in run.stderr, run
    assert html.is_file() and "a-dir" in html.read_text()


# --- human output -----------------------------------------------------------------------------------------------------

VERDICT = re.compile(r"(OK|FAIL): (\d+) errors?, (\d+) warnings?")


def last_line(run: Run) -> re.Match[str]:
    match = VERDICT.fullmatch(run.stdout.rstrip("\n").splitlines()[-1])
    assert match is not None, run.stdout
    return match


def test_human_output(blobs: Blobs) -> None:
    blob = blobs.pool([(0x1000000, PAGE), (IN_RAM, PAGE), (IN_RAM + PAGE, PAGE)])
    run = run_cli(["validate", str(blob), "--memmap", str(IOMEM)])
    assert run.exit_code == 1
    assert run.stderr == ""
    assert "range-in-kernel" in run.stdout
    assert "ranges-not-coalesced" in run.stdout
    assert "[0x1000000, 0x1001000)" in run.stdout
    assert "Kernel code" in run.stdout
    assert f"{IOMEM}:7" in run.stdout
    assert str(IOMEM) in run.stdout.splitlines()[0]
    assert last_line(run).groups() == ("FAIL", "1", "1")
    assert "\x1b[" not in run.stdout

    clean = run_cli(["validate", str(blobs.pool([(IN_RAM, PAGE)])), "--memmap", str(IOMEM)])
    assert clean.exit_code == 0
    assert last_line(clean).groups() == ("OK", "0", "0")

    warning = run_cli(["validate", str(blobs.pool([(IN_RAM, PAGE), (IN_RAM + PAGE, PAGE)])), "--memmap", str(IOMEM)])
    assert warning.exit_code == 0
    assert last_line(warning).groups() == ("OK", "0", "1")
    strict = run_cli(
        ["validate", str(blobs.pool([(IN_RAM, PAGE), (IN_RAM + PAGE, PAGE)])), "--memmap", str(IOMEM), "--strict"]
    )
    assert strict.exit_code == 1
    assert last_line(strict).groups() == ("FAIL", "0", "1")


def test_human_output_keeps_brackets(blobs: Blobs, tmp_path: Path) -> None:
    path = tmp_path / "iomem[1].txt"
    path.write_text(
        "00100000-bfffffff : System RAM\n"
        "c0000000-c0000fff : PCI ECAM 0000 [bus 00-00] [bold]x[/bold]\n"
        "100000000-13fffffff : System RAM\n"
    )
    run = run_cli(["validate", str(blobs.pool([(0xC0000000, PAGE)])), "--memmap", str(path)])
    assert run.exit_code == 1
    assert "PCI ECAM 0000 [bus 00-00] [bold]x[/bold]" in run.stdout
    assert f"{path}:2" in run.stdout
    assert "[0xc0000000, 0xc0001000)" in run.stdout


# --- properties of the validator ------------------------------------------------------------------------------------

SEGMENT_KINDS = ("ram", "reserved", "hole", "ram+kernel", "ram+crashkernel")


@dataclass(frozen=True)
class Layout:
    """A random map: the entries, and the spans inside RAM that no zone touches."""

    memory_map: MemoryMap
    safe: list[tuple[int, int]]
    boundaries: list[int]


@st.composite
def layouts(draw: st.DrawFn) -> Layout:
    cursor = draw(st.integers(0, 1 << 24)) * PAGE
    kinds = draw(st.lists(st.sampled_from(SEGMENT_KINDS), min_size=1, max_size=10))
    if not any(k.startswith("ram") for k in kinds):
        kinds.append("ram")
    entries: list[MapEntry] = []
    safe: list[tuple[int, int]] = []
    boundaries: list[int] = []
    for kind in kinds:
        pages = draw(st.integers(3, 40))
        start, end = cursor, cursor + pages * PAGE
        cursor = end
        boundaries.extend((start, end))
        line = f"map:{len(entries) + 1}"
        if kind == "hole":
            continue
        if kind == "reserved":
            entries.append(
                MapEntry(start, end, draw(st.sampled_from(["Reserved", "ACPI Tables", "PCI Bus"])), kind, line)
            )
            continue
        entries.append(MapEntry(start, end, "System RAM", "ram", line))
        if kind == "ram":
            safe.append((start, end))
            continue
        zone = kind.split("+")[1]
        first = draw(st.integers(1, pages - 2))
        last = draw(st.integers(first + 1, pages - 1))
        zone_start, zone_end = start + first * PAGE, start + last * PAGE
        type_word = "Crash kernel" if zone == "crashkernel" else draw(st.sampled_from(["Kernel code", "Kernel bss"]))
        entries.append(MapEntry(zone_start, zone_end, type_word, zone, f"map:{len(entries) + 1}"))
        boundaries.extend((zone_start, zone_end))
        safe.extend(((start, zone_start), (zone_end, end)))
    memory_map = MemoryMap("map", "json", sorted(entries, key=lambda e: (e.start, e.end)))
    return Layout(memory_map, safe, sorted(set(boundaries)))


def make_pool(ranges: list[tuple[int, int]]) -> Pool:
    encoded = encode_u64_pairs([Range(base, size) for base, size in ranges])
    return decode_pool(
        "default_pmpool",
        [("compatible", b"pmpool-v1\0"), ("page-size", PAGE.to_bytes(4, "big")), ("page-ranges", encoded)],
    )


@PROPERTY
@given(layouts(), st.data())
def test_ranges_inside_ram_give_no_findings(layout: Layout, data: st.DataObject) -> None:
    chosen = data.draw(st.lists(st.sampled_from(layout.safe), min_size=1, max_size=len(layout.safe), unique=True))
    ranges: list[tuple[int, int]] = []
    for start, end in sorted(chosen):
        pages = (end - start) // PAGE
        first = data.draw(st.integers(0, pages - 1))
        count = data.draw(st.integers(1, pages - first))
        base = start + first * PAGE
        if ranges and ranges[-1][0] + ranges[-1][1] >= base:
            continue  # keep the pool canonical: no touching
        ranges.append((base, count * PAGE))
    pool = make_pool(ranges)
    assert pool.problems == []
    report = validate(pool, [layout.memory_map, layout.memory_map], [], 64)
    assert report.findings == []


@PROPERTY
@given(layouts(), st.data())
def test_ranges_across_a_boundary_give_the_right_rules(layout: Layout, data: st.DataObject) -> None:
    boundary = data.draw(st.sampled_from(layout.boundaries))
    before = data.draw(st.integers(0 if boundary == 0 else 1, min(boundary // PAGE, 8)))
    after = data.draw(st.integers(1, 8))
    base, end = boundary - before * PAGE, boundary + after * PAGE
    report = validate(make_pool([(base, end - base)]), [layout.memory_map], [], None)
    entries = layout.memory_map.entries
    expected = oracle(base, end, entries)
    actual: Counter[tuple[str, Any]] = Counter()
    assert len({f.rule for f in report.findings}) == len(report.findings)  # one finding per range and rule
    for f in report.findings:
        assert f.range == Range(base, end - base)
        assert f.conflict is not None
        c = f.conflict
        if f.rule == "range-outside-ram":
            actual[(f.rule, None)] += 1
            outside_ram_conflict_is_sound(
                {"start": c.start, "end": c.end, "type": c.type, "source": c.source}, base, end, layout.memory_map
            )
        else:
            for c in f.conflicts:
                actual[(f.rule, (c.start, c.end, c.type, c.source))] += 1
    assert actual == expected
    # Anything but a range inside RAM clear of every zone is caught.
    inside_safe = any(s <= base and end <= e for s, e in _safe_union(layout))
    assert bool(report.findings) == (not inside_safe)


def _safe_union(layout: Layout) -> list[tuple[int, int]]:
    """Adjacent safe spans merged (two RAM entries that touch are RAM throughout)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(layout.safe):
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


small = st.integers(0, 60)


@PROPERTY
@given(
    st.lists(st.tuples(small, st.integers(0, 15)), max_size=12),
    st.lists(st.tuples(small, st.integers(1, 30), st.sampled_from(["reserved", "kernel", "ram"])), max_size=12),
)
def test_overlapping_pairs_agrees_with_brute_force(
    range_specs: list[tuple[int, int]], entry_specs: list[tuple[int, int, str]]
) -> None:
    ranges = sorted((Range(base, size) for base, size in range_specs), key=lambda r: r.base)
    entries = sorted(
        (MapEntry(start, start + size, kind, kind, f"m:{n}") for n, (start, size, kind) in enumerate(entry_specs)),
        key=lambda e: e.start,
    )
    brute = Counter((r, e) for r in ranges for e in entries if r.base < e.end and e.start < r.base + r.size)
    assert Counter(overlapping_pairs(ranges, entries)) == brute


# --- what no map says: range-in-kernel and range-in-crashkernel need /proc/iomem -------------------------------------

KERNEL_NOTE = (
    "no map places the running kernel's image or its crash kernel (Kernel code, rodata, data and bss; Crash "
    "kernel, as /proc/iomem lists them): range-in-kernel and range-in-crashkernel are not checked; give "
    "/proc/iomem too (read as root)"
)
NOTED_RULES = ("range-in-kernel", "range-in-crashkernel")


def firmware_caveat(source: Path) -> str:
    """validate's note when /sys/firmware/memmap is the only map of RAM: it is from before the kernel's reservations."""
    return (
        f"{source} is the firmware's memory map, from before the kernel's own reservations (its image, crash "
        "kernel, initrd, memblock and /reserved-memory regions, e820 updates): a pass against it alone does not "
        "say the ranges are clear of those; give /proc/iomem too (read as root)"
    )


def junit_skips(path: Path) -> dict[str, dict[str, str]]:
    """Per test suite (its name), the skipped cases' rules and messages."""
    suites = {}
    for suite in ET.parse(path).getroot().iter("testsuite"):
        cases = {}
        for case in suite.iter("testcase"):
            skipped = case.find("skipped")
            if skipped is not None:
                cases[str(case.get("name"))] = str(skipped.get("message"))
        assert suite.get("skipped") == str(len(cases))
        suites[str(suite.get("name"))] = cases
    return suites


@pytest.mark.parametrize(
    ("maps", "noted"),
    [
        ([DMESG], True),  # e820 lines: RAM and reserved, never the kernel
        ([FIRMWARE], True),  # /sys/firmware/memmap: the same
        ([], True),  # the blob's memory nodes
        ([IOMEM], False),
        ([DMESG, IOMEM], False),  # one map that says it is enough: it is checked against that one
    ],
)
def test_a_pass_says_when_no_map_knows_the_kernel_image(maps: list[Path], noted: bool, tmp_path: Path) -> None:
    """A pool over the kernel's own pages, or its crash kernel, passes against a map that cannot say where
    they are: the report says both rules were not checked, in text and JSON, so the pass is not read as
    covering them."""
    args = ["validate", str(EXAMPLES / "pool.dtb"), *(arg for m in maps for arg in ("--memmap", str(m)))]
    # The firmware's map alone has a note of its own (tests/cli/test_chosen.py), before this one.
    caveat = [firmware_caveat(FIRMWARE)] if maps == [FIRMWARE] else []
    as_json = run_cli([*args, "--json"])
    assert as_json.exit_code in (0, 1), as_json.stderr
    assert json.loads(as_json.stdout)["notes"] == caveat + ([KERNEL_NOTE] if noted else [])  # one for both rules
    text = run_cli(args).stdout
    assert (f"\nnote: {KERNEL_NOTE}\n" in text) == noted
    assert text.count("note: ") == noted + len(caveat)
    every = run_cli([*args, "--all-pools", "--json"])
    assert json.loads(every.stdout)["notes"] == caveat + ([KERNEL_NOTE] if noted else [])
    # In JUnit both rules are skipped cases, with why, not passed ones.
    for extra in ([], ["--all-pools"]):
        junit = tmp_path / "r.xml"
        run_cli([*args, *extra, "--junit", str(junit)])
        (skips,) = junit_skips(junit).values()
        for rule in NOTED_RULES:
            assert (skips.get(rule) == KERNEL_NOTE) == noted, (rule, skips)


def ram_and(tmp_path: Path, start: int, end: int, type_word: str) -> Path:
    """A JSON map: 1 TiB of RAM with one entry of `type_word` inside it."""
    memmap = tmp_path / "map.json"
    memmap.write_text(
        json.dumps(
            [{"start": 0, "end": 1 << 40, "type": "System RAM"}, {"start": start, "end": end, "type": type_word}]
        )
    )
    return memmap


def test_a_map_with_a_crash_kernel_but_no_image_notes_the_image_only(tmp_path: Path) -> None:
    memmap = ram_and(tmp_path, 0x1000000, 0x2000000, "Crash kernel")
    junit = tmp_path / "r.xml"
    run = run_cli(["validate", str(EXAMPLES / "pool.dtb"), "--memmap", str(memmap), "--json", "--junit", str(junit)])
    assert run.exit_code == 0, run.stderr
    (note,) = json.loads(run.stdout)["notes"]
    assert "running kernel's image (" in note and "range-in-kernel is not checked" in note
    assert "crash" not in note.lower()
    (skips,) = junit_skips(junit).values()
    assert skips["range-in-kernel"] == note and "range-in-crashkernel" not in skips


def test_an_e820_pass_over_the_crash_kernel_says_it_was_not_checked(tmp_path: Path) -> None:
    """The crash kernel (crashkernel=) is reserved inside RAM that e820 lines call usable: a pool over it
    fails against /proc/iomem, and against the e820 lines alone passes only with the note."""
    iomem = tmp_path / "iomem.txt"
    iomem.write_text(
        "00001000-0009fbff : System RAM\n"
        "00100000-bfffffff : System RAM\n"
        "  01000000-02208d87 : Kernel code\n"
        "100000000-63fffffff : System RAM\n"
        "  100000000-10fffffff : Crash kernel\n"
    )
    e820 = tmp_path / "dmesg.txt"
    e820.write_text(
        "[    0.000000] BIOS-provided physical RAM map:\n"
        "[    0.000000] BIOS-e820: [mem 0x0000000000001000-0x000000000009fbff] usable\n"
        "[    0.000000] BIOS-e820: [mem 0x0000000000100000-0x00000000bfffffff] usable\n"
        "[    0.000000] BIOS-e820: [mem 0x0000000100000000-0x000000063fffffff] usable\n"
        "[    0.000392] e820: update [mem 0x00000000-0x00000fff] usable ==> reserved\n"
        "[    0.000393] e820: remove [mem 0x000a0000-0x000fffff] usable\n"
        "[    0.254599] Memory: 3218364K/25165432K available (18467K kernel code, 496316K reserved)\n"
    )
    blob = str(EXAMPLES / "pool.dtb")  # [0x100000000, 0x100200000) and [0x140000000, 0x180000000)
    refused = run_cli(["validate", blob, "--memmap", str(iomem), "--json"])
    assert refused.exit_code == 1
    assert [f["rule"] for f in json.loads(refused.stdout)["findings"]] == ["range-in-crashkernel"]
    passed = run_cli(["validate", blob, "--memmap", str(e820), "--json"])
    assert passed.exit_code == 0
    assert json.loads(passed.stdout)["notes"] == [KERNEL_NOTE]


ALWAYS_SKIPPED_BY_VALIDATE = {
    "pools-overlap": "validate --all-pools's rule",
    "kho-not-finalized": "kho validate's rule",
    "reserve-mem-not-requested": "kho validate --next-cmdline's rule",
    "kho-not-requested": "kho validate --next-cmdline's rule",
}


@pytest.mark.parametrize(
    ("extra", "checked"),
    [
        ([], set()),
        (["--phys-bits", "40"], {"range-above-phys-limit"}),
        (["--memmap", f"kexec:{MEMMAP / 'kexec' / 'kexec-l-d.txt'}"], {"range-in-kexec-segment"}),
        (["--all-pools"], {"pools-overlap"}),
    ],
)
def test_junit_skips_the_rules_a_run_was_not_given_the_input_of(
    extra: list[str], checked: set[str], tmp_path: Path
) -> None:
    """A JUnit case that checked nothing is skipped with why, never passed: the rules without their
    input (a width, a kexec segment list, KHO state, the next kernel) and the other commands' rules."""
    junit = tmp_path / "r.xml"
    run = run_cli(["validate", str(EXAMPLES / "pool.dtb"), "--memmap", str(IOMEM), *extra, "--junit", str(junit)])
    assert run.exit_code in (0, 1), run.stderr
    (skips,) = junit_skips(junit).values()
    expected = {
        "range-above-phys-limit": "no physical address width given",
        "range-in-kexec-segment": "no kexec segment list given",
        "range-in-kho-scratch": "no KHO state given (--kho PATH)",
        "range-in-kho-preserved": "no KHO state given (--kho PATH)",
        "abi-unknown-to-next-kernel": "no --next-kernel IMAGE given",
        **ALWAYS_SKIPPED_BY_VALIDATE,
    }
    for rule in checked:
        del expected[rule]
    assert set(skips) == set(expected)
    for rule, why in expected.items():
        assert skips[rule].startswith(f"{rule} is not checked: {why}"), skips[rule]


def test_a_json_map_that_places_the_kernel_checks_it(tmp_path: Path) -> None:
    memmap = ram_and(tmp_path, 0x100000000, 0x100001000, "Kernel code")
    run = run_cli(["validate", str(EXAMPLES / "pool.dtb"), "--memmap", str(memmap), "--json"])
    assert run.exit_code == 1
    document = json.loads(run.stdout)
    assert document["notes"] == []
    assert [f["rule"] for f in document["findings"]] == ["range-in-kernel"]
