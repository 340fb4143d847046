"""`dump --booted` and `kho dump --booted` against a sysfs laid out in a temporary directory ($PMPOOLCTL_SYSFS)."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, assert_input_error, run_cli
from tests.helpers.khotrees import compile_dts, kho_out

POOL = EXAMPLES / "pool.dtb"
KHO_DATA = (0x117000000, 0x1000, 0x116000000, 64)  # fdt_addr, fdt_size, scratch_addr, scratch_size (4 areas)


@pytest.fixture
def sysfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "sys"
    root.mkdir()
    monkeypatch.setenv("PMPOOLCTL_SYSFS", str(root))
    return root


def setup_data(sysfs: Path, index: int, kind: int | str, data: bytes) -> Path:
    entry = sysfs / "kernel" / "boot_params" / "setup_data" / str(index)
    entry.mkdir(parents=True)
    (entry / "type").write_text(kind if isinstance(kind, str) else f"0x{kind:x}\n")  # the kernel prints 0x%x
    (entry / "data").write_bytes(data)
    return entry / "data"


def test_dump_booted_reads_sys_firmware_fdt(sysfs: Path) -> None:
    (sysfs / "firmware").mkdir()
    shutil.copy(POOL, sysfs / "firmware" / "fdt")
    run = run_cli(["dump", "--booted", "--json"])
    assert run.exit_code == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["file"] == str(sysfs / "firmware" / "fdt") and document["pool"]["total_pages"] == 262656


def test_dump_booted_reads_x86_setup_data_of_type_2(sysfs: Path) -> None:
    setup_data(sysfs, 0, 1, bytes(20))  # SETUP_E820_EXT: skipped
    data = setup_data(sysfs, 1, 2, POOL.read_bytes())
    run = run_cli(["dump", "--booted"])
    assert run.exit_code == 0 and run.stdout.startswith(f"{data}: FDT version 17"), run.stdout + run.stderr


def test_dump_booted_without_a_device_tree(sysfs: Path) -> None:
    setup_data(sysfs, 0, 9, bytes(8))
    assert_input_error(run_cli(["dump", "--booted"]), "firmware/fdt", "SETUP_DTB", "without a device tree")


def test_blob_or_booted_not_both_nor_neither(sysfs: Path) -> None:
    for args in (["dump", str(POOL), "--booted"], ["dump"], ["kho", "dump"], ["kho", "dump", str(POOL), "--booted"]):
        run = run_cli(args)
        assert run.exit_code == 2 and "--booted" in run.stderr, (args, run.stderr)


def test_kho_dump_booted_decodes_setup_kexec_kho(sysfs: Path) -> None:
    data = setup_data(sysfs, 3, 10, struct.pack("<4Q", *KHO_DATA))
    run = run_cli(["kho", "dump", "--booted"])
    assert run.exit_code == 0, run.stderr
    first = f"booted through KHO ({data}): FDT at 0x117000000 (4096 bytes), scratch array at 0x116000000"
    assert run.stdout.startswith(first + " (64 bytes: 4 areas)\n")
    assert "kho/in is not mounted" in run.stdout
    document = json.loads(run_cli(["kho", "dump", "--booted", "--json"]).stdout)
    assert document["booted"] == {
        "source": str(data),
        "fdt_address": 0x117000000,
        "fdt_size": 0x1000,
        "scratch_address": 0x116000000,
        "scratch_size": 64,
    }
    assert document["subtrees"] == [] and document["compatible"] is None


def test_kho_dump_booted_shows_the_incoming_state(sysfs: Path, dtc: str) -> None:
    setup_data(sysfs, 0, 10, struct.pack("<4Q", *KHO_DATA))
    incoming = kho_out(dtc, sysfs / "kernel" / "debug" / "kho" / "in", "kho-v3")
    document = json.loads(run_cli(["kho", "dump", "--booted", "--json"]).stdout)
    assert document["source"] == str(incoming) and document["compatible"] == "kho-v3"
    assert [t["name"] for t in document["subtrees"]] == ["memblock", "kexec-metadata"]


def test_kho_dump_booted_on_a_device_tree_architecture(sysfs: Path, dtc: str) -> None:
    """arm64/RISC-V: /chosen/linux,kho-fdt and linux,kho-scratch, <address size> in the root's cells."""
    source = """/dts-v1/;
/ { #address-cells = <2>; #size-cells = <2>;
    chosen { linux,kho-fdt = <0x1 0x17000000 0x0 0x1000>; linux,kho-scratch = <0x1 0x16000000 0x0 0x40>; }; };
"""
    compile_dts(dtc, source, sysfs / "firmware" / "fdt")
    document = json.loads(run_cli(["kho", "dump", "--booted", "--json"]).stdout)
    assert document["booted"] == {
        "source": f"{sysfs / 'firmware' / 'fdt'}:/chosen",
        "fdt_address": 0x117000000,
        "fdt_size": 0x1000,
        "scratch_address": 0x116000000,
        "scratch_size": 0x40,
    }


def test_not_booted_through_kho(sysfs: Path) -> None:
    (sysfs / "firmware").mkdir()
    shutil.copy(POOL, sysfs / "firmware" / "fdt")
    assert_input_error(run_cli(["kho", "dump", "--booted"]), "not booted through KHO", "SETUP_KEXEC_KHO")


@pytest.mark.parametrize(
    ("kind", "data", "needles"),
    [
        ("nonsense\n", b"", ["setup_data/0/type:1", "'nonsense'"]),
        (10, b"\0" * 16, ["setup_data/0/data", "16 bytes", "32"]),
    ],
)
def test_malformed_setup_data_is_exit_3(sysfs: Path, kind: int | str, data: bytes, needles: list[str]) -> None:
    setup_data(sysfs, 0, kind, data)
    assert_input_error(run_cli(["kho", "dump", "--booted"]), *needles)


def test_chosen_with_half_the_handover_is_exit_3(sysfs: Path, dtc: str) -> None:
    source = "/dts-v1/;\n/ { chosen { linux,kho-fdt = <0x1 0x17000000 0x1000>; }; };\n"
    compile_dts(dtc, source, sysfs / "firmware" / "fdt")
    assert_input_error(run_cli(["kho", "dump", "--booted"]), "linux,kho-scratch", "missing")
