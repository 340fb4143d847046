"""Nodes found as libfdt finds them: by path, and by compatible.

- `/name` is the first child called `name`, or `name@unit`, in node order: the kernel's early
  FDT code and fdtget find `/reserved-memory`, `/chosen` and a pool with fdt_path_offset. A blob
  whose `default_pmpool@1` comes before `default_pmpool` hands the next kernel the first; a check
  of the second alone passed it. fdtget is the oracle here, on blobs dtc compiled.
- a pool is a root child whose compatible list names "pmpool-v1" (fdt_stringlist_contains, as
  fdt_node_offset_by_compatible and of_device_is_compatible match): `--all-pools` checked only
  the ones whose compatible is exactly that, and passed a blob whose other pool lay over the kernel.
  Such a reader looks through the whole tree: a node deeper down that claims the binding is one
  more pool to it, which nothing checks (a pool is a child of the root), and it failed nothing.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pytest

from pmpoolctl.dtb.reader import parse_blob
from tests.conftest import DATA, run_cli
from tests.helpers.khotrees import compile_dts

IOMEM = DATA / "memmap" / "iomem.txt"
KERNEL_RANGE = "/bits/ 64 <0x1000000 0x200000>"  # over Kernel code in IOMEM
GOOD_RANGE = "/bits/ 64 <0x100000000 0x200000>"  # System RAM in IOMEM


def compile_blob(dtc: str, path: Path, body: str) -> Path:
    source = f"/dts-v1/;\n/ {{\n#address-cells = <2>;\n#size-cells = <2>;\n{body}\n}};\n"
    return compile_dts(dtc, source, path)


def fdtget_id(dtc: str, blob: Path, path: str) -> int | None:
    fdtget = str(Path(dtc).with_name("fdtget"))
    proc = subprocess.run([fdtget, "-t", "u", str(blob), path, "id"], capture_output=True, text=True, check=False)
    return int(proc.stdout) if proc.returncode == 0 else None


NAMES = ["pool", "pool@1", "pool@0", "poolx", "pool-1", "xpool@1"]


@pytest.mark.parametrize("order", list(itertools.permutations(NAMES, 3))[::7])
def test_a_child_is_found_as_fdtget_finds_it(dtc: str, tmp_path: Path, order: tuple[str, ...]) -> None:
    body = "\n".join(f"{name} {{ id = <{i}>; }};" for i, name in enumerate(order))
    blob_path = compile_blob(dtc, tmp_path / "t.dtb", body)
    blob = parse_blob(blob_path.read_bytes(), "t.dtb")
    for asked in ("pool", "pool@1", "pool@0", "poolx", "pool@"):
        node = blob.child(blob.root, asked)
        ours = None if node is None else order.index(node.name)
        assert ours == fdtget_id(dtc, blob_path, "/" + asked), (asked, order)


def pool(name: str, ranges: str) -> str:
    return f'{name} {{ compatible = "pmpool-v1"; page-size = <0x1000>; page-ranges = {ranges}; }};'


def test_a_pool_with_a_unit_address_before_the_pool_fails_the_pool_and_both_are_checked(
    dtc: str, tmp_path: Path
) -> None:
    """`--pool NAME` is the node called NAME, exactly; a `NAME@unit` before it is what a libfdt reader
    of /NAME gets instead, so the pool fails binding-invalid, and --all-pools checks each node once."""
    blob = compile_blob(
        dtc, tmp_path / "b.dtb", pool("default_pmpool@1", GOOD_RANGE) + pool("default_pmpool", KERNEL_RANGE)
    )
    fdtget = str(Path(dtc).with_name("fdtget"))
    read = subprocess.run(
        [fdtget, "-t", "x", str(blob), "/default_pmpool", "page-ranges"], capture_output=True, check=True
    )
    assert read.stdout.split() == [b"1", b"0", b"0", b"200000"]  # what a libfdt reader of /default_pmpool gets
    run = run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--json"])
    assert run.exit_code == 1
    document = json.loads(run.stdout)
    assert document["pool"] == "/default_pmpool"
    assert [f["rule"] for f in document["findings"]] == ["binding-invalid", "range-in-kernel"]
    assert "/default_pmpool@1 comes before /default_pmpool" in document["findings"][0]["message"]
    every = run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--all-pools", "--json"])
    assert every.exit_code == 1
    listed = json.loads(every.stdout)
    assert [p["path"] for p in listed["pools"]] == ["/default_pmpool@1", "/default_pmpool"]
    assert [(f["pool"], f["rule"]) for f in listed["findings"]] == [
        ("/default_pmpool@1", "binding-invalid"),
        ("/default_pmpool", "binding-invalid"),
        ("/default_pmpool", "range-in-kernel"),
    ]
    twin = run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--pool", "/default_pmpool@1", "--json"])
    assert twin.exit_code == 1 and json.loads(twin.stdout)["pool"] == "/default_pmpool@1"
    edit = run_cli(["add-range", str(blob), "0x200000000", "0x1000"])
    assert edit.exit_code == 3 and "/default_pmpool@1 comes before /default_pmpool" in edit.stderr
    assert run_cli(["create", str(tmp_path / "c.dtb"), "--from", str(blob)]).stderr.endswith(
        "already has a pool node /default_pmpool\n"
    )


def test_only_a_pool_with_a_unit_address_is_no_pool_node_and_is_named(dtc: str, tmp_path: Path) -> None:
    """The binding's pool is /default_pmpool, without a unit address: `default_pmpool@1` alone is no
    pool node (exit 3, not a pass), and the error names it for --pool, as a libfdt reader takes it."""
    blob = compile_blob(dtc, tmp_path / "u.dtb", pool("default_pmpool@1", GOOD_RANGE))
    run = run_cli(["validate", str(blob), "--memmap", str(IOMEM)])
    assert run.exit_code == 3 and run.stdout == ""
    assert run.stderr.startswith(f"error: {blob}: no pool node /default_pmpool; it has /default_pmpool@1, ")
    assert run.stderr.endswith("(--pool /default_pmpool@1 checks it)\n") and len(run.stderr.splitlines()) == 1
    named = run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--pool", "/default_pmpool@1", "--json"])
    assert named.exit_code == 1
    assert [f["rule"] for f in json.loads(named.stdout)["findings"]] == ["binding-invalid"]
    created = run_cli(["create", str(tmp_path / "c.dtb"), "--from", str(blob)])
    assert created.exit_code == 3 and not (tmp_path / "c.dtb").exists()
    assert "already has /default_pmpool@1, which a reader that looks up /default_pmpool with libfdt" in created.stderr


def test_a_pool_before_its_unit_address_twin_is_the_pool_and_the_twin_fails_all_pools(dtc: str, tmp_path: Path) -> None:
    blob = compile_blob(
        dtc, tmp_path / "b.dtb", pool("default_pmpool", GOOD_RANGE) + pool("default_pmpool@1", KERNEL_RANGE)
    )
    run = run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--json"])
    assert run.exit_code == 0, run.stdout
    assert json.loads(run.stdout)["pool"] == "/default_pmpool"
    every = run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--all-pools", "--json"])
    assert every.exit_code == 1
    rules = {(f["pool"], f["rule"]) for f in json.loads(every.stdout)["findings"]}
    assert rules == {("/default_pmpool@1", "binding-invalid"), ("/default_pmpool@1", "range-in-kernel")}


def test_reserved_memory_with_a_unit_address_is_what_the_kernel_reserves(dtc: str, tmp_path: Path) -> None:
    """fdt_scan_reserved_mem finds /reserved-memory with fdt_path_offset: `reserved-memory@0` too."""
    body = (
        'memory@0 { device_type = "memory"; reg = <0x1 0x0 0x1 0x0>; };\n'
        "reserved-memory@0 { #address-cells = <2>; #size-cells = <2>; ranges;\n"
        "  fw@100000000 { reg = <0x1 0x0 0x0 0x1000>; no-map; }; };\n" + pool("default_pmpool", GOOD_RANGE)
    )
    blob = compile_blob(dtc, tmp_path / "r.dtb", body)
    run = run_cli(["validate", str(blob), "--json"])
    assert run.exit_code == 1, run.stdout
    assert [f["rule"] for f in json.loads(run.stdout)["findings"]] == ["range-in-memreserve"]


def test_a_node_whose_compatible_list_names_the_binding_is_a_pool_and_breaks_it(dtc: str, tmp_path: Path) -> None:
    body = pool("default_pmpool", GOOD_RANGE) + pool("iommu_pmpool", KERNEL_RANGE).replace(
        'compatible = "pmpool-v1"', 'compatible = "vendor,iommu-pool", "pmpool-v1"'
    )
    blob = compile_blob(dtc, tmp_path / "l.dtb", body)
    fdtget = str(Path(dtc).with_name("fdtget"))
    listed = subprocess.run(
        [fdtget, "-t", "s", str(blob), "/iommu_pmpool", "compatible"], capture_output=True, check=True
    )
    assert listed.stdout.split() == [b"vendor,iommu-pool", b"pmpool-v1"]
    every = run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--all-pools", "--json"])
    assert every.exit_code == 1
    document = json.loads(every.stdout)
    assert [p["path"] for p in document["pools"]] == ["/default_pmpool", "/iommu_pmpool"]
    rules = [(f["pool"], f["rule"]) for f in document["findings"]]
    assert rules == [("/iommu_pmpool", "binding-invalid"), ("/iommu_pmpool", "range-in-kernel")]
    assert "Pools in this blob: 2" in run_cli(["dump", str(blob)]).stdout


NESTED = pool("x", KERNEL_RANGE)  # a pool to a reader by compatible, over the kernel


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (f"soc {{ {NESTED} }};" + pool("default_pmpool", GOOD_RANGE), "/soc/x"),
        (pool("default_pmpool", GOOD_RANGE) + f"a {{ b {{ {NESTED} }}; }};", "/a/b/x"),
        (f"soc {{ {NESTED} {pool('y', KERNEL_RANGE)} }};" + pool("default_pmpool", GOOD_RANGE), "/soc/x, /soc/y"),
    ],
    ids=["before-the-pool", "after-it-deeper", "two"],
)
def test_a_node_below_a_root_child_that_claims_the_binding_fails_every_pool(
    dtc: str, tmp_path: Path, body: str, named: str
) -> None:
    blob = compile_blob(dtc, tmp_path / "n.dtb", body)
    fdtget = str(Path(dtc).with_name("fdtget"))
    for node in named.split(", "):  # what a reader by compatible gets: a pool's properties
        got = subprocess.run([fdtget, str(blob), node, "compatible"], capture_output=True, text=True, check=True)
        assert got.stdout.split() == ["pmpool-v1"]
    for args in ([], ["--all-pools"]):
        run = run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--json", *args])
        assert run.exit_code == 1, run.stdout
        (finding,) = json.loads(run.stdout)["findings"]
        assert finding["rule"] == "binding-invalid" and finding["message"].startswith(f"{named}, below a child")
    refused = run_cli(["add-range", str(blob), "0x200000000", "2M"])
    assert refused.exit_code == 3 and named in refused.stderr


def test_the_binding_string_elsewhere_in_a_nested_node_is_no_pool(dtc: str, tmp_path: Path) -> None:
    """Only a compatible that names it counts: a nested node called pmpool-v1, or with the string in another
    property, is no pool to anyone."""
    body = 'soc { pmpool-v1 { label = "pmpool-v1"; compatible = "vendor,pmpool-v1"; }; };' + pool(
        "default_pmpool", GOOD_RANGE
    )
    blob = compile_blob(dtc, tmp_path / "s.dtb", body)
    run = run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--json"])
    assert (run.exit_code, json.loads(run.stdout)["findings"]) == (0, [])
