"""Naming each map's format (`FORMAT:SRC`), detecting captured files, and the CPU's width under --live (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pmpoolctl.memmap.sources
from pmpoolctl.errors import InputError
from pmpoolctl.memmap.sources import cpu_phys_bits, live_phys_bits, split_format
from tests.conftest import DATA, assert_input_error, run_cli

MEMMAP = DATA / "memmap"
IOMEM = MEMMAP / "iomem.txt"
FIRMWARE = MEMMAP / "firmware-memmap"
DMESG = MEMMAP / "dmesg.txt"
POOL_DTB = Path(__file__).parents[2] / "examples" / "pool.dtb"


# --- FORMAT:SRC -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("e820:boot.log", ("boot.log", "e820")),
        ("iomem:/proc/iomem", ("/proc/iomem", "iomem")),
        ("firmware-memmap:/sys/firmware/memmap", ("/sys/firmware/memmap", "firmware-memmap")),
        ("json:-", ("-", "json")),
        ("dtb:a:b.dtb", ("a:b.dtb", "dtb")),
        ("./e820:x", ("./e820:x", None)),  # how a file named `e820:x` is named
        ("e820:", ("e820:", None)),
        ("E820:boot.log", ("E820:boot.log", None)),  # format names are lower case
        ("kexec:segments.txt", ("segments.txt", "kexec")),
        ("pmem:segments.txt", ("pmem:segments.txt", None)),  # not a format of this reader
        ("/var/log/kern.log", ("/var/log/kern.log", None)),
        ("-", ("-", None)),
    ],
)
def test_split_format(spec: str, expected: tuple[str, str | None]) -> None:
    assert split_format(spec) == expected


def test_each_source_its_own_format(tmp_path: Path) -> None:
    """Logs no detector can tell, each named; a named format wins over --memmap-format for its source."""
    log = tmp_path / "boot.log"
    log.write_text("hello\n" * 1000 + DMESG.read_text())  # starts like nothing, e820 far past the first line
    assert_input_error(run_cli(["validate", str(POOL_DTB), "--memmap", str(log)]), str(log), "--memmap-format")
    run = run_cli(
        ["validate", str(POOL_DTB), "--memmap", f"e820:{log}", "--memmap", f"iomem:{IOMEM}", "--json"],
    )
    assert run.exit_code == 0, run.stdout + run.stderr
    assert [(m["source"], m["format"]) for m in json.loads(run.stdout)["memmaps"]] == [
        (str(log), "e820"),
        (str(IOMEM), "iomem"),
    ]
    sources = ["--memmap", str(IOMEM), "--memmap", f"e820:{log}", "--memmap", f"firmware-memmap:{FIRMWARE}"]
    run = run_cli(["validate", str(POOL_DTB), "--memmap-format", "iomem", *sources, "--json"])
    assert run.exit_code == 0, run.stdout + run.stderr
    assert [m["format"] for m in json.loads(run.stdout)["memmaps"]] == ["iomem", "e820", "firmware-memmap"]
    document = json.loads(run_cli(["memmap", f"e820:{log}", "--json"]).stdout)
    assert (document["source"], document["format"], len(document["entries"])) == (str(log), "e820", 6)


def test_a_file_whose_name_starts_like_a_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("e820:x").write_text(IOMEM.read_text())
    assert json.loads(run_cli(["memmap", "./e820:x", "--json"]).stdout)["format"] == "iomem"
    assert_input_error(run_cli(["memmap", "e820:x"]), "x", "cannot read")  # the prefix names the format of `x`


def test_stdin_with_a_format() -> None:
    run = run_cli(["memmap", "e820:-", "--json"], stdin=DMESG.read_bytes())
    assert run.exit_code == 0, run.stderr
    assert (json.loads(run.stdout)["source"], json.loads(run.stdout)["format"]) == ("<stdin>", "e820")


# --- detection of captured files ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "fmt"),
    [
        ("[Tue Dec  1 10:00:00 2026] Linux version 6.8", "e820"),  # starts with `[`, and is no JSON
        ("Dec  1 10:00:00 host kernel: [    0.000000] Linux version 6.8", "e820"),
        ("-- Boot 3f1c8a0e6b9d4c27 --", "e820"),
        ("<6>[    0.000000] Linux version 6.8", "e820"),
        ("kern  :info  : [    0.000000] Linux version 6.8", "e820"),
        ("Linux version 6.8.0-45-generic", "e820"),
        ("00000000-00000fff : Reserved", "iomem"),
    ],
)
def test_detects_captures_past_notes(tmp_path: Path, first: str, fmt: str) -> None:
    path = tmp_path / "capture"
    e820 = (
        "BIOS-provided physical RAM map:\nBIOS-e820: [mem 0x0-0xfffff] usable\n"
        "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved\n"
        "e820: remove [mem 0x000a0000-0x000fffff] usable\n"
        "Memory: 3218364K/4193784K available (18467K kernel code, 496316K reserved)\n"
    )
    body = first + "\n" + (e820 if fmt == "e820" else "")
    path.write_text("# saved by the pre-kexec hook\n\n" + body)
    document = json.loads(run_cli(["memmap", str(path), "--json"]).stdout)
    assert document["format"] == fmt


# --- the CPU's physical address width -------------------------------------------------------------------------------


def test_cpu_phys_bits_from_cpuinfo(tmp_path: Path) -> None:
    assert cpu_phys_bits(str(MEMMAP / "cpuinfo-x86.txt")) == 46
    assert cpu_phys_bits(str(MEMMAP / "cpuinfo-arm64.txt")) is None  # arm64 prints no width: no limit
    assert cpu_phys_bits(str(tmp_path / "missing")) is None
    bad = tmp_path / "cpuinfo"
    for line in ("address sizes\t: 65 bits physical, 57 bits virtual", "address sizes\t: " + "9" * 5000 + " bits"):
        bad.write_text("processor\t: 0\n" + line + "\n")
        with pytest.raises(InputError, match=rf"^{bad}:2: "):
            cpu_phys_bits(str(bad))


def test_live_phys_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pmpoolctl.memmap.sources, "CPUINFO", str(MEMMAP / "cpuinfo-x86.txt"))
    assert live_phys_bits(None, live=True) == 46
    assert live_phys_bits(52, live=True) == 52  # --phys-bits says otherwise
    assert live_phys_bits(None, live=False) is None  # a map given by file says nothing of this CPU
