"""`kho dump` and `kho validate` on the state every KHO version writes (tests/khotrees.py), and corrupt copies of it."""

from __future__ import annotations

import json
import os
import random
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, assert_input_error, run_cli
from tests.helpers.khotrees import (
    GOOD,
    LUO_AT,
    MEMBLOCK_AT,
    MEMORY_MAP,
    METADATA_AT,
    compile_dts,
    kexec_metadata,
    kho_out,
    le,
    memblock_fdt,
)

IOMEM = EXAMPLES / "memmap" / "iomem.txt"
VERSIONS = ["kho-v1", "kho-v2", "kho-v3", "kho-v4", "kho-v4;radix-v1;vmalloc-v1"]


def dump(path: Path) -> dict[str, Any]:
    run = run_cli(["kho", "dump", "--json", str(path)])
    assert run.exit_code == 0, run.stderr
    document: dict[str, Any] = json.loads(run.stdout)
    return document


def check(path: Path, *extra: str) -> tuple[int, list[dict[str, Any]]]:
    run = run_cli(["kho", "validate", str(path), "--memmap", str(IOMEM), "--json", *extra])
    assert run.stderr == "", run.stderr
    return run.exit_code, json.loads(run.stdout)["findings"]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_version_decodes_and_passes(dtc: str, tmp_path: Path, version: str) -> None:
    out = kho_out(dtc, tmp_path / "out", version, luo=True)
    document = dump(out)
    base, *components = version.split(";")
    assert (document["compatible"], document["abi"], document["root_compatible"]) == (base, components, version)
    assert document["known"] is True and document["preserved_memory_map"] == MEMORY_MAP
    assert document["memory_map_format"] == ("chunk-list" if base == "kho-v1" else "radix-tree")
    assert document["finalized"] is (True if base == "kho-v1" else None)
    assert [(a["start"], a["size"]) for a in document["scratch"]] == [
        (0x400000000, 0x10000000),
        (0x500000000, 0x8000000),
    ]
    users = {t["name"]: t for t in document["subtrees"]}
    sized = base in ("kho-v3", "kho-v4")
    assert list(users) == ["memblock", "LUO", "kexec-metadata"] if sized else ["memblock", "LUO"]
    memblock = users["memblock"]
    assert (memblock["address"], memblock["format"], memblock["compatible"]) == (MEMBLOCK_AT, "fdt", "memblock-v1")
    assert [(r["name"], r["start"], r["size"]) for r in memblock["reserve_mem"]] == GOOD
    assert (memblock["size"] is not None) is sized
    luo = users["LUO"]
    assert luo["address"] == LUO_AT and luo["luo"] == {
        "compatible": "luo-v1",
        "liveupdate_number": 3,
        "children": [{"name": "luo-session", "compatible": "luo-session-v1", "header": 0x119000000}],
    }
    if sized:
        metadata = users["kexec-metadata"]
        assert {k: metadata[k] for k in ("name", "address", "size", "format")} == {
            "name": "kexec-metadata",
            "address": METADATA_AT,
            "size": 73,
            "format": "blob",
        }
        assert "compatible" not in metadata
        assert metadata["kexec_metadata"] == {
            "version": 1,
            "previous_release": "6.19.0-rc4-next-20260107",
            "kexec_count": 1,
        }
    code, findings = check(out)
    assert (code, findings) == (0, [])
    text = run_cli(["kho", "dump", str(out)]).stdout
    assert f"KHO {base} (" in text and ("; ABIs radix-v1, vmalloc-v1" in text) == bool(components)


def test_v1_before_finalize_is_refused_with_the_luo_hint(dtc: str, tmp_path: Path) -> None:
    """6.19/7.0 show kho/out/fdt from boot with preserved-memory-map 0 until finalize."""
    out = kho_out(dtc, tmp_path / "out", "kho-v1", memory_map=0, luo=True, finalize="0")
    document = dump(out)
    assert (document["preserved_memory_map"], document["finalized"]) == (0, False)
    assert "drops all KHO state (not finalized); finalize is 0" in run_cli(["kho", "dump", str(out)]).stdout
    code, findings = check(out)
    assert code == 1 and [f["rule"] for f in findings] == ["kho-not-finalized"]
    message = findings[0]["message"]
    assert "echo 1 > /sys/kernel/debug/kho/out/finalize" in message and "LUO finalizes at reboot" in message
    assert "range" not in findings[0]


def test_v1_copied_before_finalize_says_so(dtc: str, tmp_path: Path) -> None:
    out = kho_out(dtc, tmp_path / "out", "kho-v1", memory_map=0, finalize="1")
    _, findings = check(out)
    assert "copied before finalize" in findings[0]["message"]


@pytest.mark.parametrize("version", ["kho-v2", "kho-v3", "kho-v4"])
def test_a_radix_root_of_0_is_damage(dtc: str, tmp_path: Path, version: str) -> None:
    """From kho-v2 the kernel writes its radix tree's root at boot; the next kernel still drops a 0."""
    code, findings = check(kho_out(dtc, tmp_path / "out", version, memory_map=0))
    assert code == 1 and [f["rule"] for f in findings] == ["kho-not-finalized"]
    assert "damaged" in findings[0]["message"] and "finalize" not in findings[0]["message"].replace("no finalize", "")


def test_unknown_version_is_decoded_and_shown_but_not_validated(dtc: str, tmp_path: Path) -> None:
    out = kho_out(dtc, tmp_path / "out", "kho-v9")
    document = dump(out)
    assert (document["compatible"], document["known"], document["kernels"]) == ("kho-v9", False, None)
    assert [t["name"] for t in document["subtrees"]] == ["memblock", "kexec-metadata"]
    assert document["subtrees"][1]["kexec_metadata"]["kexec_count"] == 1
    assert "unknown to this pmpoolctl" in run_cli(["kho", "dump", str(out)]).stdout
    assert_input_error(run_cli(["kho", "validate", str(out), "--memmap", str(IOMEM)]), "'kho-v9'", "kho-v4")


def test_unknown_version_with_odd_values_is_noted_not_refused(dtc: str, tmp_path: Path) -> None:
    root = compile_dts(
        dtc,
        '/dts-v1/;\n/ { compatible = "kho-v9"; preserved-memory-map = <0x1000>; a { blob-size = <0x10>; }; };\n',
        tmp_path / "fdt",
    )
    document = dump(root)
    assert document["preserved_memory_map"] is None and document["subtrees"][0]["address"] is None
    assert len(document["notes"]) == 3 and "4 bytes, a u64 is 8" in document["notes"][0]


@pytest.mark.parametrize("compatible", ["kho-v4;radix-v1", "kho-v4;radix-v1;vmalloc-v1"])
def test_the_compounds_kernels_write_are_known(dtc: str, tmp_path: Path, compatible: str) -> None:
    out = kho_out(dtc, tmp_path / "out", compatible)
    assert dump(out)["known"] is True
    assert run_cli(["kho", "validate", str(out), "--memmap", str(IOMEM)]).exit_code == 0


@pytest.mark.parametrize(
    "compatible",
    [
        "kho-v4;radix-v2",  # a component no kernel pmpoolctl knows writes
        "kho-v4;vmalloc-v1;radix-v1",  # out of order: compat.h adds components alphabetically
        "kho-v4;radix-v1;radix-v1",
        "kho-v4;radix-v1;vmalloc-v1;zzz-v1",
        "kho-v3;radix-v1",  # components on a version that never had any
        "kho-v1;radix-v1",
        "kho-v4;;",
    ],
)
def test_a_compound_no_kernel_writes_is_unknown(dtc: str, tmp_path: Path, compatible: str) -> None:
    """The next kernel compares the whole string: one pmpoolctl has not seen is a root no known kernel takes."""
    out = kho_out(dtc, tmp_path / "out", compatible)
    document = dump(out)
    assert document["known"] is False and document["abi"] == compatible.split(";")[1:]
    assert "unknown to this pmpoolctl" in run_cli(["kho", "dump", str(out)]).stdout
    run = run_cli(["kho", "validate", str(out), "--memmap", str(IOMEM)])
    assert_input_error(run, repr(compatible), "kho-v4;radix-v1")


def test_a_tree_that_is_no_kho_root_is_refused() -> None:
    assert_input_error(run_cli(["kho", "dump", str(EXAMPLES / "pool.dtb")]), "not a KHO root", "no compatible")


# --- sub-blobs that are not FDTs, and their sizes --------------------------------------------------------------------


def test_blob_size_that_is_not_the_files_size_is_exit_3(dtc: str, tmp_path: Path) -> None:
    out = kho_out(dtc, tmp_path / "out", "kho-v3")
    (out / "sub_fdts" / "kexec-metadata").write_bytes(kexec_metadata()[:40])  # the root still says 73
    for command in (["kho", "dump"], ["kho", "validate", "--memmap", str(IOMEM)]):
        run = run_cli([*command[:2], str(out), *command[2:]])
        assert_input_error(run, "sub_fdts/kexec-metadata", "40 bytes", "blob-size", "73")


@pytest.mark.parametrize(
    ("data", "needle"),
    [(kexec_metadata()[:40], "kexec-metadata version 1 is 73"), (b"\1\0", "truncated kexec-metadata")],
)
def test_truncated_kexec_metadata_is_exit_3(dtc: str, tmp_path: Path, data: bytes, needle: str) -> None:
    out = kho_out(
        dtc, tmp_path / "out", "kho-v3", metadata=data
    )  # blob-size is the file's size: only the struct is short
    assert_input_error(run_cli(["kho", "dump", str(out)]), "kexec-metadata", needle)


def test_kexec_metadata_of_a_later_version_is_shown_by_number(dtc: str, tmp_path: Path) -> None:
    out = kho_out(dtc, tmp_path / "out", "kho-v3", metadata=(2).to_bytes(4, "little") + bytes(100))
    metadata = dump(out)["subtrees"][1]["kexec_metadata"]
    assert metadata == {"version": 2, "previous_release": None, "kexec_count": None}


def test_kho_v3_node_without_blob_size_is_exit_3(dtc: str, tmp_path: Path) -> None:
    out = kho_out(dtc, tmp_path / "out", "kho-v3")
    source = f'/dts-v1/;\n/ {{ compatible = "kho-v3"; preserved-memory-map = {le(MEMORY_MAP)};\n'
    source += f"memblock {{ preserved-data = {le(MEMBLOCK_AT)}; }}; }};\n"
    compile_dts(dtc, source, out / "fdt")
    assert_input_error(run_cli(["kho", "dump", str(out)]), "/memblock", "'blob-size'")


def test_interim_kho_v2_with_blob_size_may_hold_raw_blobs(dtc: str, tmp_path: Path) -> None:
    """The mm tree wrote blob-size under kho-v2 for a while: a sized sub-blob may then be raw."""
    out = kho_out(dtc, tmp_path / "out", "kho-v2")
    (out / "sub_fdts" / "kexec-metadata").write_bytes(kexec_metadata())
    source = f'/dts-v1/;\n/ {{ compatible = "kho-v2"; preserved-memory-map = {le(MEMORY_MAP)};\n'
    size = (out / "sub_fdts" / "memblock").stat().st_size
    source += f"memblock {{ preserved-data = {le(MEMBLOCK_AT)}; blob-size = {le(size)}; }};\n"
    source += f'"kexec-metadata" {{ preserved-data = {le(METADATA_AT)}; blob-size = {le(73)}; }}; }};\n'
    compile_dts(dtc, source.replace('"kexec-metadata"', "kexec-metadata"), out / "fdt")
    users = dump(out)["subtrees"]
    assert [(u["name"], u["format"], u["size"]) for u in users] == [
        ("memblock", "fdt", size),
        ("kexec-metadata", "blob", 73),
    ]
    assert check(out)[0] == 0


def test_raw_blob_without_a_size_is_refused_in_v1(dtc: str, tmp_path: Path) -> None:
    """kho-v1 sub-blobs are FDTs (debugfs shows fdt_totalsize bytes): anything else is corrupt."""
    out = kho_out(dtc, tmp_path / "out", "kho-v1")
    (out / "sub_fdts" / "memblock").write_bytes(kexec_metadata())
    assert_input_error(run_cli(["kho", "dump", str(out)]), "sub_fdts/memblock", "not an FDT")


def test_a_raw_sub_blob_whose_file_system_reports_size_0_is_read_by_its_bytes(dtc: str, tmp_path: Path) -> None:
    """debugfs blob files (every kho/out/sub_fdts/NAME) have st_size 0: the size is what reading gives.

    /proc/version stands in for such a file: a regular file of st_size 0 that reads its text.
    """
    stand_in = Path("/proc/version")
    data = stand_in.read_bytes()
    assert stand_in.stat().st_size == 0 and data
    out = kho_out(dtc, tmp_path / "out", "kho-v3")
    (out / "sub_fdts" / "kexec-metadata").unlink()  # the root below names memblock and vendor only
    (out / "sub_fdts" / "vendor").symlink_to(stand_in)
    source = f'/dts-v1/;\n/ {{ compatible = "kho-v3"; preserved-memory-map = {le(MEMORY_MAP)};\n'
    size = (out / "sub_fdts" / "memblock").stat().st_size
    source += f"memblock {{ preserved-data = {le(MEMBLOCK_AT)}; blob-size = {le(size)}; }};\n"
    source += f"vendor {{ preserved-data = {le(LUO_AT)}; blob-size = {le(len(data))}; }}; }};\n"
    compile_dts(dtc, source, out / "fdt")
    users = dump(out)["subtrees"]
    assert [(u["name"], u["format"], u["size"]) for u in users] == [
        ("memblock", "fdt", size),
        ("vendor", "blob", len(data)),
    ]
    assert check(out)[0] == 0


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_a_root_fdt_that_is_no_file_is_named_as_such(dtc: str, tmp_path: Path, kind: str) -> None:
    """Not 'not finalized': the file is there, and is what it is."""
    out = kho_out(dtc, tmp_path / "out", "kho-v1")
    (out / "fdt").unlink()
    if kind == "fifo":
        os.mkfifo(out / "fdt")
    elif kind == "directory":
        (out / "fdt").mkdir()
    else:
        (out / "fdt").symlink_to("/dev/zero")
    run = run_cli(["kho", "dump", str(out)])
    assert_input_error(run, "fdt", {"fifo": "FIFO", "directory": "directory", "device": "device"}[kind])
    assert "finalize" not in run.stderr


@pytest.mark.parametrize("version", ["kho-v1", "kho-v3"])
def test_reserve_mem_is_matched_by_any_compatible_string_as_the_kernel_does(
    dtc: str, tmp_path: Path, version: str
) -> None:
    """fdt_node_check_compatible matches any string of the list: the kernel revives these regions."""
    source = (
        '/dts-v1/;\n/ { compatible = "vendor,memblock", "memblock-v1";\n'
        f' r1 {{ compatible = "vendor,reserve-mem", "reserve-mem-v1"; start = {le(0x200000000)}; '
        f"size = {le(0x4000000)}; }}; }};\n"
    )
    memblock = compile_dts(dtc, source, tmp_path / "memblock.dtb").read_bytes()
    out = kho_out(dtc, tmp_path / "out", version, memblock=memblock)
    assert [(r["name"], r["start"]) for r in dump(out)["subtrees"][0]["reserve_mem"]] == [("r1", 0x200000000)]


@pytest.mark.parametrize(
    ("source", "needles"),
    [
        ('/ { compatible = "memblock-v2"; };', ["sub_fdts/memblock", "'memblock-v2'", "cannot be read"]),
        (
            '/ { compatible = "memblock-v1"; r1 { compatible = "reserve-mem-v2"; }; };',
            ["/r1", "'reserve-mem-v2'", "cannot be read"],
        ),
    ],
)
def test_a_memblock_sub_fdt_that_cannot_be_read_is_exit_3(
    dtc: str, tmp_path: Path, source: str, needles: list[str]
) -> None:
    """Its regions' pages are preserved whatever its compatible says: skipping them would pass a pool over them."""
    memblock = compile_dts(dtc, "/dts-v1/;\n" + source + "\n", tmp_path / "memblock.dtb").read_bytes()
    out = kho_out(dtc, tmp_path / "out", "kho-v3", memblock=memblock)
    assert_input_error(run_cli(["kho", "dump", str(out)]), *needles)


def test_memblock_is_an_fdt_even_where_sub_blobs_may_be_raw(dtc: str, tmp_path: Path) -> None:
    out = kho_out(dtc, tmp_path / "out", "kho-v3", memblock=b"")  # blob-size 0, an empty file
    assert_input_error(run_cli(["kho", "dump", str(out)]), "sub_fdts/memblock")


# --- names the kernel allows ------------------------------------------------------------------------------------------


def test_reserve_mem_names_follow_the_kernels_rules(dtc: str, tmp_path: Path) -> None:
    """reserve_mem=64M:4K:dm:log makes a child `dm:log`, which dtc's node-name rule refuses and the kernel writes."""
    out = kho_out(dtc, tmp_path / "out", "kho-v3", memblock=memblock_fdt([(b"dm:log", 0x200000000, 0x4000000)]))
    regions = dump(out)["subtrees"][0]["reserve_mem"]
    assert [r["name"] for r in regions] == ["dm:log"]
    assert check(out)[0] == 0
    blob = tmp_path / "pool-with-colon.dtb"  # a pool blob is still read by dtc's rules
    blob.write_bytes(memblock_fdt([(b"dm:log", 0, 0x1000)]))
    assert_input_error(run_cli(["dump", str(blob)]), "dm:log", "dtc does not allow")


# --- directories -----------------------------------------------------------------------------------------------------


def test_kho_out_without_fdt_names_the_two_causes(dtc: str, tmp_path: Path) -> None:
    out = kho_out(dtc, tmp_path / "out", "kho-v1")
    (out / "fdt").unlink()
    run = run_cli(["kho", "dump", str(out)])
    assert_input_error(run, "'fdt'", "6.16-6.18", "echo 1 > /sys/kernel/debug/kho/out/finalize", "kho/in")


def test_kho_in_has_no_scratch(dtc: str, tmp_path: Path) -> None:
    incoming = kho_out(dtc, tmp_path / "in", "kho-v3")
    (incoming / "scratch_phys").unlink()
    (incoming / "scratch_len").unlink()
    assert dump(incoming)["scratch"] is None
    run = run_cli(["kho", "validate", str(incoming), "--memmap", str(IOMEM), "--json"])
    assert run.exit_code == 0 and json.loads(run.stdout)["notes"] == [
        f"{incoming} has no scratch_phys/scratch_len (a root FDT, or kho/in): range-in-kho-scratch is not checked"
    ]
    text = run_cli(["kho", "validate", str(incoming), "--memmap", str(IOMEM)]).stdout
    assert "\nnote: " in text and "range-in-kho-scratch is not checked" in text
    junit = tmp_path / "r.xml"
    run_cli(["kho", "validate", str(incoming), "--memmap", str(IOMEM), "--junit", str(junit)])
    skipped = {
        str(case.get("name")): str(mark.get("message"))
        for case in ET.parse(junit).iter("testcase")
        if (mark := case.find("skipped")) is not None
    }
    assert skipped.pop("range-in-kho-scratch") == json.loads(run.stdout)["notes"][0]  # with the note's why
    # and the rules kho validate was not given the input of, or that are validate's
    assert set(skipped) == {
        "range-in-memreserve",
        "range-in-dynamic-reserved",
        "range-in-kho-preserved",
        "range-above-phys-limit",
        "range-in-kexec-segment",
        "pools-overlap",
        "reserve-mem-not-requested",
        "kho-not-requested",
        "abi-unknown-to-next-kernel",
    }
    out = kho_out(dtc, tmp_path / "out", "kho-v3")
    run = run_cli(["kho", "validate", str(out), "--memmap", str(IOMEM), "--json"])
    assert json.loads(run.stdout)["notes"] == []


@pytest.mark.parametrize(
    ("phys", "length", "needles"),
    [
        ("0x400000000\nnonsense\n", "0x1000\n0x1000\n", ["scratch_phys:2", "'nonsense'"]),
        ("0x400000000\n", "0x1000\n0x2000\n", ["1 addresses", "2 sizes", "pair up"]),
        ("0x400000000\n", "4096\n", ["scratch_len:1", "'4096'"]),
        ("0xffffffffffffffff\n", "0x2\n", ["scratch_phys:1", "past 2^64"]),
        ("0x1" + "0" * 17 + "\n", "0x1\n", ["scratch_phys:1"]),
        (None, "0x1000\n", ["scratch_phys", "missing"]),
        ("", "", ["scratch_phys", "no scratch areas", "truncated"]),  # a copy by st_size of a seq file
    ],
)
def test_malformed_scratch_files_are_exit_3(
    dtc: str, tmp_path: Path, phys: str | None, length: str, needles: list[str]
) -> None:
    out = kho_out(dtc, tmp_path / "out", "kho-v3")
    if phys is None:
        (out / "scratch_phys").unlink()
    else:
        (out / "scratch_phys").write_text(phys)
    (out / "scratch_len").write_text(length)
    assert_input_error(run_cli(["kho", "dump", str(out)]), *needles)


def test_finalize_that_is_not_0_or_1_is_exit_3(dtc: str, tmp_path: Path) -> None:
    out = kho_out(dtc, tmp_path / "out", "kho-v1", finalize="maybe")
    assert_input_error(run_cli(["kho", "dump", str(out)]), "finalize:1", "'maybe'")


# --- any damage: a verdict or one error line, never a bug -------------------------------------------------------------


def _mutated(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if choice < 0.6 and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif choice < 0.8:
            del out[rng.randrange(len(out) + 1) :]
        else:
            at = rng.randrange(len(out) + 1)
            out[at:at] = rng.randbytes(rng.randint(1, 16))
    return bytes(out)


def test_damaged_kho_state_is_a_verdict_or_one_error_line(dtc: str, tmp_path: Path) -> None:
    """Seeded byte flips, cuts and insertions in every file of a kho-v3 directory, through every KHO command."""
    source = kho_out(dtc, tmp_path / "source", "kho-v3", luo=True)
    files = sorted(p.relative_to(source) for p in source.rglob("*") if p.is_file())
    rng = random.Random(16)
    for case in range(120):
        copy = tmp_path / f"case{case}"
        shutil.copytree(source, copy)
        target = copy / rng.choice(files)
        target.write_bytes(_mutated(rng, target.read_bytes()))
        for args in (
            ["kho", "dump", "--json", str(copy)],
            ["kho", "validate", str(copy), "--memmap", str(IOMEM), "--next-cmdline", "reserve_mem=64M:4K:r1"],
            ["validate", str(EXAMPLES / "pool.dtb"), "--memmap", str(IOMEM), "--kho", str(copy)],
        ):
            run = run_cli(args)
            assert run.exit_code in (0, 1, 3), (target, args, run.exit_code, run.stderr)
            assert "internal error" not in run.stderr and len(run.stderr.splitlines()) <= 1, (target, run.stderr)
        shutil.rmtree(copy)
