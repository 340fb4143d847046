"""`pmpoolctl kho dump` and `kho validate` on KHO trees that dtc built from DTS (u64 values in native order)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import assert_input_error, check_golden, run_cli
from tests.helpers.khotrees import compile_dts, le

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "examples" / "kho" / "out"
IOMEM = REPO / "examples" / "memmap" / "iomem.txt"  # RAM 0x100000000-0x63fffffff, the kernel at 0x1000000


def kho_tree(
    dtc: str,
    where: Path,
    regions: list[tuple[str, int, int]],
    compatible: str = "kho-v1",
    address_property: str = "fdt",
    extra_root: str = "",
) -> Path:
    """A kho/out directory: the root FDT and memblock's sub-FDT holding `regions` (name, start, size)."""
    root = f"""/dts-v1/;
/ {{
    compatible = "{compatible}";
    preserved-memory-map = {le(0x116BE4000)};
    memblock {{ {address_property} = {le(0x117150000)}; }};
    {extra_root}
}};
"""
    nodes = "".join(
        f'{name} {{ compatible = "reserve-mem-v1"; start = {le(start)}; size = {le(size)}; }};'
        for name, start, size in regions
    )
    memblock = f'/dts-v1/;\n/ {{ compatible = "memblock-v1"; {nodes} }};\n'
    compile_dts(dtc, root, where / "fdt")
    compile_dts(dtc, memblock, where / "sub_fdts" / "memblock")
    return where


GOOD = [("r1", 0x200000000, 0x4000000), ("r2", 0x300000000, 0x200000)]


# --- dump ------------------------------------------------------------------------------------------------------------


def test_kernel_documentation_example_decodes() -> None:
    """examples/kho is the kernel's own example: start = <0xc06b 0x4000000> is 0x46bc00000 little-endian."""
    run = run_cli(["kho", "dump", "--json", str(EXAMPLE)])
    assert run.exit_code == 0, run
    document = json.loads(run.stdout)
    assert document["schema"] == "pmpoolctl.kho/v1"
    assert document["compatible"] == "kho-v1" and document["known"] is True
    assert document["preserved_memory_map"] == 0x116BE4000
    (memblock,) = document["subtrees"]
    assert (memblock["name"], memblock["address"], memblock["compatible"]) == ("memblock", 0x117150000, "memblock-v1")
    assert [(r["name"], r["start"], r["size"]) for r in memblock["reserve_mem"]] == [
        ("n1", 0x46BC00000, 0x4000000),
        ("n2", 0x467C00000, 0x4000000),
    ]


def test_dump_text_golden() -> None:
    run = run_cli(["kho", "dump", str(EXAMPLE)])
    assert run.exit_code == 0
    check_golden("kho-dump.txt", run.stdout.replace(str(REPO) + "/", ""))


def test_a_root_from_stdin_is_named_as_dump_names_it() -> None:
    root = (EXAMPLE / "fdt").read_bytes()
    run = run_cli(["kho", "dump", "-"], stdin=root)
    assert run.exit_code == 0 and run.stdout.startswith("<stdin>: KHO kho-v1 "), run.stdout
    assert json.loads(run_cli(["kho", "dump", "-", "--json"], stdin=root).stdout)["source"] == "<stdin>"


def test_root_file_alone_lists_users_by_address() -> None:
    document = json.loads(run_cli(["kho", "dump", "--json", str(EXAMPLE / "fdt")]).stdout)
    assert document["subtrees"] == [
        {"name": "memblock", "address": 0x117150000, "size": None, "format": None, "compatible": None, "file": None},
    ]


def test_big_endian_reads_the_same_bytes_the_other_way() -> None:
    document = json.loads(run_cli(["kho", "dump", "--json", "--byte-order", "big", str(EXAMPLE)]).stdout)
    assert document["preserved_memory_map"] == 0x0040BE1601000000
    assert document["subtrees"][0]["reserve_mem"][0]["start"] == 0x0000C06B04000000


def test_kho_v2_uses_preserved_data_and_other_users_are_listed(dtc: str, tmp_path: Path) -> None:
    extra = f"luo {{ preserved-data = {le(0xABC000)}; }};"
    tree = kho_tree(dtc, tmp_path / "out", GOOD, "kho-v2", "preserved-data", extra)
    compile_dts(dtc, '/dts-v1/;\n/ { compatible = "luo-v1"; };\n', tree / "sub_fdts" / "luo")
    compile_dts(dtc, '/dts-v1/;\n/ { compatible = "orphan-v1"; };\n', tree / "sub_fdts" / "orphan")
    document = json.loads(run_cli(["kho", "dump", "--json", str(tree)]).stdout)
    assert document["compatible"] == "kho-v2"
    users = {t["name"]: (t["address"], t["compatible"]) for t in document["subtrees"]}
    assert users == {
        "memblock": (0x117150000, "memblock-v1"),
        "luo": (0xABC000, "luo-v1"),
        "orphan": (None, "orphan-v1"),
    }
    assert "reserve_mem" not in document["subtrees"][1]


# --- input errors: exit 3 naming the file and the property -----------------------------------------------------------


def test_u64_of_the_wrong_length(dtc: str, tmp_path: Path) -> None:
    root = compile_dts(
        dtc, '/dts-v1/;\n/ { compatible = "kho-v1"; preserved-memory-map = <0x1000>; };\n', tmp_path / "f"
    )
    assert_input_error(run_cli(["kho", "dump", str(root)]), str(root), "preserved-memory-map", "4 bytes")


def test_missing_properties(dtc: str, tmp_path: Path) -> None:
    no_map = compile_dts(dtc, '/dts-v1/;\n/ { compatible = "kho-v1"; };\n', tmp_path / "a")
    assert_input_error(run_cli(["kho", "dump", str(no_map)]), str(no_map), "preserved-memory-map")
    source = f'/dts-v1/;\n/ {{ compatible = "kho-v1"; preserved-memory-map = {le(0)}; memblock {{ }}; }};\n'
    no_address = compile_dts(dtc, source, tmp_path / "b")
    assert_input_error(run_cli(["kho", "dump", str(no_address)]), str(no_address), "/memblock", "'fdt'")
    tree = kho_tree(dtc, tmp_path / "out", GOOD)
    compile_dts(
        dtc,
        f'/dts-v1/;\n/ {{ compatible = "memblock-v1"; r {{ compatible = "reserve-mem-v1"; start = {le(0)}; }}; }};\n',
        tree / "sub_fdts" / "memblock",
    )
    assert_input_error(run_cli(["kho", "dump", str(tree)]), str(tree / "sub_fdts" / "memblock"), "/r", "'size'")


def test_sub_fdt_that_is_not_an_fdt(dtc: str, tmp_path: Path) -> None:
    tree = kho_tree(dtc, tmp_path / "out", GOOD)
    (tree / "sub_fdts" / "memblock").write_bytes(b"not a device tree at all, just text\n" * 4)
    assert_input_error(run_cli(["kho", "dump", str(tree)]), str(tree / "sub_fdts" / "memblock"))
    assert_input_error(run_cli(["kho", "validate", str(tree), "--memmap", str(IOMEM)]), "sub_fdts/memblock")


def test_directory_without_a_root_fdt(tmp_path: Path) -> None:
    assert_input_error(run_cli(["kho", "dump", str(tmp_path)]), str(tmp_path), "'fdt'")


# --- validate --------------------------------------------------------------------------------------------------------


def validate(tree: Path, *extra: str) -> tuple[int, dict[str, object]]:
    run = run_cli(["kho", "validate", str(tree), "--memmap", str(IOMEM), "--json", *extra])
    assert run.stderr == "", run.stderr
    return run.exit_code, json.loads(run.stdout)


def rules(document: dict[str, object]) -> list[str]:
    findings = document["findings"]
    assert isinstance(findings, list)
    return [f["rule"] for f in findings]


def test_good_regions_pass(dtc: str, tmp_path: Path) -> None:
    code, document = validate(kho_tree(dtc, tmp_path / "out", GOOD))
    assert (code, rules(document), document["schema"]) == (0, [], "pmpoolctl.validate/v1")
    run = run_cli(["kho", "validate", str(EXAMPLE), "--memmap", str(IOMEM)])
    assert run.exit_code == 0 and run.stdout.endswith("OK: 0 errors, 0 warnings\n")


@pytest.mark.parametrize(
    ("region", "rule"),
    [
        (("kernel", 0x1000000, 0x200000), "range-in-kernel"),  # over Kernel code at 16 MiB
        (("beyond", 0x640000000, 0x1000), "range-outside-ram"),  # past the last System RAM
        (("hole", 0xC0000000, 0x1000), "range-outside-ram"),  # the PCI hole
        (("low", 0x0, 0x1000), "range-outside-ram"),  # page 0 is Reserved
        (("odd", 0x200001000, 0x800), "range-unaligned"),
        (("empty", 0x400000000, 0), "range-empty"),
        (("inside", 0x201000000, 0x1000), "range-overlap"),  # inside r1
    ],
)
def test_planted_faults(dtc: str, tmp_path: Path, region: tuple[str, int, int], rule: str) -> None:
    code, document = validate(kho_tree(dtc, tmp_path / "out", [*GOOD, region]))
    assert code == 1 and rule in rules(document), rules(document)


def test_overlap_with_a_region_that_is_not_the_neighbour(dtc: str, tmp_path: Path) -> None:
    regions = [("big", 0x200000000, 0x10000000), ("small", 0x201000000, 0x1000), ("late", 0x208000000, 0x1000)]
    code, document = validate(kho_tree(dtc, tmp_path / "out", regions))
    assert code == 1 and rules(document) == ["range-overlap", "range-overlap"]


def test_unknown_compatible_is_exit_3(dtc: str, tmp_path: Path) -> None:
    tree = kho_tree(dtc, tmp_path / "out", GOOD, compatible="kho-v9")
    assert_input_error(run_cli(["kho", "validate", str(tree), "--memmap", str(IOMEM)]), "kho-v9", "kho-v1, kho-v2")
    dumped = json.loads(run_cli(["kho", "dump", "--json", str(tree)]).stdout)  # dump still shows it
    assert dumped["known"] is False and dumped["subtrees"][0]["address"] == 0x117150000


def test_validate_needs_a_memory_map_and_writes_junit(dtc: str, tmp_path: Path) -> None:
    tree = kho_tree(dtc, tmp_path / "out", [("kernel", 0x1000000, 0x1000)])
    run = run_cli(["kho", "validate", str(tree)])
    assert run.exit_code == 2 and "--memmap SRC or --live" in run.stderr
    report = tmp_path / "kho.xml"
    run = run_cli(["kho", "validate", str(tree), "--memmap", str(IOMEM), "--junit", str(report)])
    assert run.exit_code == 1 and "range-in-kernel" in run.stdout
    assert 'type="range-in-kernel"' in report.read_text()


# --- the kho-v3 example ----------------------------------------------------------------------------------------------

V3_EXAMPLE = REPO / "examples" / "kho" / "v3-out"


def test_the_kho_v3_example_is_what_the_builder_writes(dtc: str, tmp_path: Path) -> None:
    """examples/kho/v3-out is `python -m tests.helpers.khotrees examples/kho/v3-out`: rebuilt, it is the same bytes."""
    from tests.helpers.khotrees import kho_out

    rebuilt = kho_out(dtc, tmp_path / "v3-out", "kho-v3", luo=True)
    files = sorted(p.relative_to(V3_EXAMPLE) for p in V3_EXAMPLE.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(rebuilt) for p in rebuilt.rglob("*") if p.is_file())
    for name in files:
        assert (V3_EXAMPLE / name).read_bytes() == (rebuilt / name).read_bytes(), name


def test_the_kho_v3_example_dumps_as_the_readme_shows() -> None:
    run = run_cli(["kho", "dump", str(V3_EXAMPLE)])
    assert run.exit_code == 0
    text = run.stdout.replace(str(REPO) + "/", "")
    check_golden("kho-dump-v3.txt", text)
    assert text in (REPO / "README.md").read_text()


def test_a_root_cut_short_as_debugfs_shows_it_says_why(tmp_path: Path) -> None:
    """From 6.19 kho/out/fdt keeps the root's size at boot while users added since grow the root: the
    file is its first bytes. That is refused (nothing past them can be read), saying so."""
    import shutil

    out = tmp_path / "out"
    shutil.copytree(REPO / "examples" / "kho" / "v3-out", out)
    root = (out / "fdt").read_bytes()
    (out / "fdt").write_bytes(root[:144])  # header, reservations, the root's own two properties: its size at boot
    for args in (["kho", "dump", str(out)], ["validate", str(REPO / "examples" / "pool.dtb"), "--kho", str(out)]):
        run = run_cli(
            [*args, "--memmap", str(REPO / "examples" / "memmap" / "iomem.txt")] if args[0] == "validate" else args
        )
        assert_input_error(run, f"{out / 'fdt'}: 144 bytes, but its header's totalsize (at byte offset 0x4) is 345")
        assert "6.19 and later" in run.stderr
