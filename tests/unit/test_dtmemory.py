"""A blob's memory map as the kernel reads it (issue 13): `status`, `linux,usable-memory`, and dynamic
`/reserved-memory` regions placed by the kernel, with the warning validate gives for a pool range there."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pmpoolctl.dtb.reader import parse_blob
from pmpoolctl.errors import InputError
from pmpoolctl.memmap.blobmap import blob_memory_map, blob_reservations
from pmpoolctl.memmap.model import MemoryMap
from tests.conftest import assert_input_error, run_cli
from tests.helpers.khotrees import compile_dts

U64 = 1 << 64
GIB = 1 << 30


def blob_of(dtc: str, tmp_path: Path, body: str, pool: str = "") -> Path:
    """A blob with 2/2 root cells, `body` in the root and, when given, a pool of these page ranges."""
    pool_node = (
        f'default_pmpool {{ compatible = "pmpool-v1"; page-size = <0x1000>; page-ranges = {pool}; }};' if pool else ""
    )
    source = f"/dts-v1/;\n/ {{\n#address-cells = <2>;\n#size-cells = <2>;\n{body}\n{pool_node}\n}};\n"
    return compile_dts(dtc, source, tmp_path / "m.dtb")


def memory_map(path: Path) -> MemoryMap:
    return blob_memory_map(parse_blob(path.read_bytes(), "m.dtb"))


def spans(m: MemoryMap) -> list[tuple[int, int, str, str]]:
    return [(e.start, e.end, e.type, e.kind) for e in m.entries]


MEMORY_4G = 'memory@0 { device_type = "memory"; reg = <0x0 0x0 0x1 0x0>; };'


# --- /memory nodes --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "ram"),
    [
        ("", True),
        ('status = "okay";', True),
        ('status = "ok";', True),
        ('status = "disabled";', False),
        ('status = "fail";', False),
        ('status = "reserved";', False),
    ],
)
def test_memory_node_status(dtc: str, tmp_path: Path, status: str, ram: bool) -> None:
    """The kernel skips a /memory node that is not available (of_fdt_device_is_available): not RAM."""
    body = MEMORY_4G + f'memory@100000000 {{ device_type = "memory"; reg = <0x1 0x0 0x1 0x0>; {status} }};'
    expected = [(0, 4 * GIB, "memory", "ram")] + ([(4 * GIB, 8 * GIB, "memory", "ram")] if ram else [])
    assert spans(memory_map(blob_of(dtc, tmp_path, body))) == expected


def test_only_disabled_memory_is_no_map(dtc: str, tmp_path: Path) -> None:
    path = blob_of(dtc, tmp_path, 'memory@0 { device_type = "memory"; reg = <0x0 0x0 0x1 0x0>; status = "disabled"; };')
    with pytest.raises(InputError, match="no /memory nodes that are available"):
        memory_map(path)


def test_a_pool_on_disabled_memory_is_refused(dtc: str, tmp_path: Path) -> None:
    """Without --memmap the blob's own map: a pool range on a disabled node is outside RAM (it passed before)."""
    body = MEMORY_4G + 'memory@100000000 { device_type = "memory"; reg = <0x1 0x0 0x1 0x0>; status = "disabled"; };'
    path = blob_of(dtc, tmp_path, body, pool="/bits/ 64 <0x100000000 0x200000>")
    run = run_cli(["validate", str(path), "--json"])
    assert run.exit_code == 1, run.stdout
    assert [f["rule"] for f in json.loads(run.stdout)["findings"]] == ["range-outside-ram"]


def test_linux_usable_memory_replaces_reg(dtc: str, tmp_path: Path) -> None:
    """A kdump kernel's node: the kernel takes linux,usable-memory instead of reg (early_init_dt_scan_memory)."""
    body = (
        'memory@0 { device_type = "memory"; reg = <0x0 0x0 0x2 0x0>;'
        " linux,usable-memory = <0x0 0x10000000 0x0 0x10000000>, <0x1 0x0 0x0 0x1000>; };"
    )
    assert spans(memory_map(blob_of(dtc, tmp_path, body))) == [
        (0x10000000, 0x20000000, "linux,usable-memory", "ram"),
        (0x100000000, 0x100001000, "linux,usable-memory", "ram"),
    ]
    # Present and empty, it leaves the node no memory at all, as in the kernel.
    empty = MEMORY_4G + 'memory@100000000 { device_type = "memory"; reg = <0x1 0x0 0x1 0x0>; linux,usable-memory; };'
    assert spans(memory_map(blob_of(dtc, tmp_path, empty))) == [(0, 4 * GIB, "memory", "ram")]


def test_linux_usable_memory_of_a_bad_length(dtc: str, tmp_path: Path) -> None:
    body = 'memory@0 { device_type = "memory"; reg = <0x0 0x0 0x1 0x0>; linux,usable-memory = <0x0 0x1000 0x0>; };'
    path = blob_of(dtc, tmp_path, body)
    assert_input_error(run_cli(["memmap", str(path)]), str(path), "/memory@0 linux,usable-memory", "byte offset")


# --- dynamic /reserved-memory regions -------------------------------------------------------------------------------

RESERVED = "reserved-memory {{ #address-cells = <2>; #size-cells = <2>; ranges; {children} }};"
CMA_IN_4G_TO_5G = (
    'linux,cma { compatible = "shared-dma-pool"; reusable; size = <0x0 0x4000000>; alignment = <0x0 0x400000>;'
    " alloc-ranges = <0x1 0x0 0x0 0x40000000>; };"
)
RAM_8G = 'memory@0 { device_type = "memory"; reg = <0x0 0x0 0x2 0x0>; };'


def test_dynamic_region_areas(dtc: str, tmp_path: Path) -> None:
    children = (
        CMA_IN_4G_TO_5G
        + "two { size = <0x0 0x100000>;"
        + " alloc-ranges = <0x0 0x10000000 0x0 0x1000000>, <0x0 0x30000000 0x0 0x1000000>; };"
        + "anywhere { size = <0x0 0x100000>; };"
        + "none { size = <0x0 0x100000>; alloc-ranges; };"  # the kernel cannot place it: no area
        + "static@20000000 { reg = <0x0 0x20000000 0x0 0x100000>; size = <0x0 0x1000>; };"  # reg wins
        + "nothing { no-map; };"
    )
    path = blob_of(dtc, tmp_path, RAM_8G + RESERVED.format(children=children))
    assert [e for e in spans(memory_map(path)) if e[3] != "ram"] == [
        (0, U64, "reserved-memory/anywhere (dynamic, anywhere)", "dynamic"),
        (0x10000000, 0x11000000, "reserved-memory/two (dynamic)", "dynamic"),
        (0x20000000, 0x20100000, "reserved-memory/static@20000000", "reserved"),
        (0x30000000, 0x31000000, "reserved-memory/two (dynamic)", "dynamic"),
        (0x100000000, 0x140000000, "reserved-memory/linux,cma (dynamic)", "dynamic"),
    ]
    assert len(blob_reservations(parse_blob(path.read_bytes(), "m.dtb"))) == 5
    run = run_cli(["memmap", str(path)])
    assert "dynamic" in run.stdout and "reserved-memory/linux,cma (dynamic)" in run.stdout


def test_dynamic_region_bad_alloc_ranges(dtc: str, tmp_path: Path) -> None:
    children = "cma { size = <0x0 0x100000>; alloc-ranges = <0x0 0x10000000 0x0>; };"
    path = blob_of(dtc, tmp_path, RAM_8G + RESERVED.format(children=children))
    assert_input_error(run_cli(["memmap", str(path)]), str(path), "/reserved-memory/cma alloc-ranges", "byte offset")


POOL_IN_CMA = "/bits/ 64 <0x13fff0000 0x10000>"  # the last 64 KiB of the CMA pool's alloc-ranges
POOL_CLEAR = "/bits/ 64 <0x140000000 0x10000>"  # just past them


def validate(path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    run = run_cli(["validate", str(path), "--json", *args])
    assert run.stderr == "", run.stderr
    return run.exit_code, json.loads(run.stdout)


def test_a_pool_range_where_the_kernel_may_place_a_region_is_a_warning(dtc: str, tmp_path: Path) -> None:
    path = blob_of(dtc, tmp_path, RAM_8G + RESERVED.format(children=CMA_IN_4G_TO_5G), pool=POOL_IN_CMA)
    code, document = validate(path)
    assert code == 0
    conflict = {
        "start": 0x100000000,
        "end": 0x140000000,
        "type": "reserved-memory/linux,cma (dynamic)",
        "source": f"{path}:/reserved-memory/linux,cma",
    }
    assert document["findings"] == [
        {
            "rule": "range-in-dynamic-reserved",
            "severity": "warning",
            "range": {"base": 0x13FFF0000, "size": 0x10000, "end": 0x140000000},
            "conflict": conflict,
            "conflicts": [conflict],
            "message": f"range [0x13fff0000, 0x140000000) overlaps 'reserved-memory/linux,cma (dynamic)' "
            f"[0x100000000, 0x140000000) of the blob's reservations ({path}:/reserved-memory/linux,cma), "
            "where the kernel may place that region",
        }
    ]
    assert document["summary"] == {"ranges": 1, "errors": 0, "warnings": 1}
    code, document = validate(path, "--strict")
    assert code == 1 and document["ok"] is False


def test_the_warning_comes_with_any_memory_map(dtc: str, tmp_path: Path) -> None:
    """The blob's dynamic regions are its reservations: checked with --memmap too, and in a dtb given as the map."""
    path = blob_of(dtc, tmp_path, RAM_8G + RESERVED.format(children=CMA_IN_4G_TO_5G), pool=POOL_IN_CMA)
    iomem = tmp_path / "iomem.txt"
    iomem.write_text("00000000-1ffffffff : System RAM\n")
    for args in (("--memmap", str(iomem)), ("--memmap", str(path))):
        code, document = validate(path, *args)
        assert code == 0
        assert {f["rule"] for f in document["findings"]} == {"range-in-dynamic-reserved"}, args


def test_a_range_clear_of_the_alloc_ranges_has_no_warning(dtc: str, tmp_path: Path) -> None:
    path = blob_of(dtc, tmp_path, RAM_8G + RESERVED.format(children=CMA_IN_4G_TO_5G), pool=POOL_CLEAR)
    code, document = validate(path, "--strict")
    assert (code, document["findings"]) == (0, [])


def test_a_region_without_alloc_ranges_may_be_anywhere(dtc: str, tmp_path: Path) -> None:
    """No alloc-ranges: the kernel may place it in any RAM, so every pool range gets the warning."""
    children = 'linux,cma { compatible = "shared-dma-pool"; reusable; size = <0x0 0x4000000>; };'
    pool = f"{POOL_CLEAR}, /bits/ 64 <0x180000000 0x1000>"
    path = blob_of(dtc, tmp_path, RAM_8G + RESERVED.format(children=children), pool=pool)
    code, document = validate(path)
    assert code == 0
    findings = document["findings"]
    assert [(f["rule"], f["range"]["base"], f["conflict"]["end"]) for f in findings] == [
        ("range-in-dynamic-reserved", 0x140000000, U64),
        ("range-in-dynamic-reserved", 0x180000000, U64),
    ]


@pytest.mark.parametrize(
    "areas",
    ["<0x0 0x0 0x0 0x0>", "<0x0 0x10000000 0x0 0x1000000>, <0x0 0x0 0x0 0x0>"],
    ids=["only", "after-an-area"],
)
def test_an_alloc_range_of_0_0_is_anywhere(dtc: str, tmp_path: Path, areas: str) -> None:
    """<0 0> ends at 0, which the kernel takes for no limit (early_init_dt_alloc_reserved_memory_arch:
    MEMBLOCK_ALLOC_ANYWHERE): the region may be placed anywhere, not nowhere (--strict passed before)."""
    children = f"cma {{ size = <0x0 0x4000000>; alloc-ranges = {areas}; }};"
    path = blob_of(dtc, tmp_path, RAM_8G + RESERVED.format(children=children), pool=POOL_CLEAR)
    assert [e for e in spans(memory_map(path)) if e[3] != "ram"] == [
        (0, U64, "reserved-memory/cma (dynamic, anywhere)", "dynamic")
    ]
    code, document = validate(path, "--strict")
    assert code == 1
    assert [(f["rule"], f["range"]["base"]) for f in document["findings"]] == [
        ("range-in-dynamic-reserved", 0x140000000)
    ]


def test_an_empty_alloc_range_elsewhere_is_no_area(dtc: str, tmp_path: Path) -> None:
    """<A 0> with A above 0 ends at A: an empty area, where the kernel cannot place the region."""
    children = (
        "cma { size = <0x0 0x100000>; alloc-ranges = <0x1 0x40000000 0x0 0x0>, <0x0 0x10000000 0x0 0x1000000>; };"
    )
    path = blob_of(dtc, tmp_path, RAM_8G + RESERVED.format(children=children), pool=POOL_CLEAR)
    assert [e for e in spans(memory_map(path)) if e[3] != "ram"] == [
        (0x10000000, 0x11000000, "reserved-memory/cma (dynamic)", "dynamic")
    ]
    assert validate(path, "--strict") == (0, validate(path)[1])


def compiled(dtc: str, tmp_path: Path, source: str) -> Path:
    out = tmp_path / "c.dtb"
    proc = subprocess.run(
        [dtc, "-I", "dts", "-O", "dtb", "-o", str(out), "-"], input=source.encode(), capture_output=True, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return out


def test_memory_without_the_roots_address_cells_does_not_read_one_way(dtc: str, tmp_path: Path) -> None:
    """The specification's default #address-cells is 2, Linux's for the root 1 (of_private.h): the same
    reg is 4 GiB at 4 GiB to one and two small ranges to the other. Refused, not guessed."""
    blob = compiled(
        dtc, tmp_path, '/dts-v1/;\n/ { memory@0 { device_type = "memory"; reg = <0x1 0x0 0x40000000>; }; };\n'
    )
    with pytest.raises(InputError, match=r"the root has no #address-cells, so /memory@0 reg does not read one way"):
        memory_map(blob)
    run = run_cli(["validate", str(blob)])
    assert run.exit_code == 3 and run.stdout == ""


def test_memory_without_the_roots_size_cells_reads_as_both_read_it(dtc: str, tmp_path: Path) -> None:
    """#size-cells defaults to 1 for the specification and for Linux alike."""
    source = (
        '/dts-v1/;\n/ { #address-cells = <2>; memory@0 { device_type = "memory"; reg = <0x1 0x0 0x40000000>; }; };\n'
    )
    assert spans(memory_map(compiled(dtc, tmp_path, source))) == [(0x100000000, 0x140000000, "memory", "ram")]
