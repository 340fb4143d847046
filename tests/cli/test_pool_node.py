"""The pool node itself: an edit rewrites page-ranges' value and no other byte, and what the
binding forbids in the node (a unit address, `reg`, `#address-cells`, `#size-cells`) fails validate."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pmpoolctl.dtb.reader import parse_blob
from tests.conftest import DATA, run_cli
from tests.helpers.khotrees import compile_dts

IOMEM = DATA / "memmap" / "iomem.txt"
GOOD_RANGE = "/bits/ 64 <0x100000000 0x200000>"  # System RAM in IOMEM


def compile_blob(dtc: str, path: Path, pool_body: str) -> Path:
    source = f"/dts-v1/;\n/ {{\n#address-cells = <2>;\n#size-cells = <2>;\ndefault_pmpool {{\n{pool_body}\n}};\n}};\n"
    return compile_dts(dtc, source, path)


def with_name_property(dtc: str, blob: Path) -> Path:
    """An old-style tree: dtc drops a `name` property that repeats the node's name, fdtput adds one."""
    fdtput = str(Path(dtc).with_name("fdtput"))
    subprocess.run([fdtput, "-t", "s", str(blob), "/default_pmpool", "name", "default_pmpool"], check=True)
    fdtget = str(Path(dtc).with_name("fdtget"))
    listed = subprocess.run([fdtget, "-p", str(blob), "/default_pmpool"], capture_output=True, text=True, check=True)
    assert listed.stdout.split()[0] == "name"
    return blob


def outside_page_ranges(data: bytes) -> tuple[bytes, bytes, bytes]:
    """The structure block before page-ranges' length word, after its value, and the strings block."""
    blob = parse_blob(data, "x.dtb")
    pool = blob.child(blob.root, "default_pmpool")
    assert pool is not None
    prop = pool.property("page-ranges")
    assert prop is not None
    start, strings = blob.header.off_dt_struct, blob.header.off_dt_strings
    end = prop.value_offset + prop.length
    return (
        data[start : prop.offset + 4],
        data[end + (-end % 4) : blob.struct_end],
        data[strings : strings + blob.header.size_dt_strings],
    )


@pytest.mark.parametrize(
    "edit",
    [
        ["add-range", "{blob}", "0x180000000", "0x1000"],
        ["remove-range", "{blob}", "0x100000000", "0x1000"],
        ["canonicalize", "{blob}"],
    ],
)
def test_an_edit_keeps_every_byte_of_the_pool_node_but_the_ranges(dtc: str, tmp_path: Path, edit: list[str]) -> None:
    body = (
        'compatible = "pmpool-v1";\npage-size = <0x1000>;\n'
        "page-ranges = /bits/ 64 <0x100000000 0x1000>, /bits/ 64 <0x100001000 0x1000>;\n"  # touching: canonicalize
        'label-after = "kept";'
    )
    blob = with_name_property(dtc, compile_blob(dtc, tmp_path / "n.dtb", body))
    old = blob.read_bytes()
    out = tmp_path / "out.dtb"
    run = run_cli([arg.format(blob=blob) for arg in edit] + ["-o", str(out)])
    assert run.exit_code == 0, run.stderr
    new = out.read_bytes()
    assert new != old
    assert outside_page_ranges(new) == outside_page_ranges(old)
    fdtget = str(Path(dtc).with_name("fdtget"))
    name = subprocess.run([fdtget, str(out), "/default_pmpool", "name"], capture_output=True, text=True, check=True)
    assert name.stdout.strip() == "default_pmpool"


@pytest.mark.parametrize(
    "forbidden",
    [
        pytest.param("reg = <0x0 0x1000 0x0 0x1000>;", id="reg"),
        pytest.param("#address-cells = <2>;", id="address-cells"),
        pytest.param("#size-cells = <2>;", id="size-cells"),
    ],
)
def test_what_the_binding_forbids_in_the_pool_node_fails_validate(dtc: str, tmp_path: Path, forbidden: str) -> None:
    """binding.md: no `reg`, no `#address-cells`/`#size-cells` in the pool node (it carries its own
    64-bit encoding): binding-invalid, an error as a unit address is, with or without --strict."""
    body = f'compatible = "pmpool-v1";\npage-ranges = {GOOD_RANGE};\n{forbidden}'
    blob = compile_blob(dtc, tmp_path / "f.dtb", body)
    prop = forbidden.split(" ", 1)[0]
    for strict in ([], ["--strict"]):
        run = run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--json", *strict])
        assert run.exit_code == 1, run.stdout
        findings = json.loads(run.stdout)["findings"]
        assert [f["rule"] for f in findings] == ["binding-invalid"]
        assert f"/default_pmpool has '{prop}'" in findings[0]["message"]
    edit = run_cli(["add-range", str(blob), "0x180000000", "0x1000"])
    assert edit.exit_code == 3 and f"has '{prop}'" in edit.stderr
    assert run_cli(["dump", str(blob)]).exit_code == 0  # still shown, as a broken pool is


def test_dump_of_a_pool_without_a_compatible_says_so(dtc: str, tmp_path: Path) -> None:
    """It said `compatible "None"`, as if the string were None."""
    blob = compile_blob(dtc, tmp_path / "c.dtb", f"page-ranges = {GOOD_RANGE};")
    run = run_cli(["dump", str(blob)])
    assert run.exit_code == 0
    assert "Pool /default_pmpool: no compatible, page size 4096" in run.stdout and '"None"' not in run.stdout
