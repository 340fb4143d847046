"""Memory-map readers: iomem, /sys/firmware/memmap, e820 kernel log, JSON and dtb.

The real captures in tests/data/memmap come from an x86_64 KVM guest (see its
README); their expected entries below were read off the files by hand.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pmpoolctl.dtb.reader import parse_blob
from pmpoolctl.errors import InputError
from pmpoolctl.memmap.blobmap import blob_memory_map, blob_reservations
from pmpoolctl.memmap.e820 import parse_e820
from pmpoolctl.memmap.iomem import parse_iomem
from pmpoolctl.memmap.jsonmap import parse_json_map
from pmpoolctl.memmap.model import MapEntry, MemoryMap
from pmpoolctl.memmap.sources import load_memory_map
from pmpoolctl.memmap.sysfs import read_firmware_memmap
from pmpoolctl.output.jsonwriter import json_text
from pmpoolctl.output.memmap import memmap_json
from tests.conftest import DATA, assert_input_error, run_cli
from tests.conftest import map_rows as rows

MEMMAP = DATA / "memmap"
IOMEM = MEMMAP / "iomem.txt"
FIRMWARE = MEMMAP / "firmware-memmap"
DMESG = MEMMAP / "dmesg.txt"
POOL_DTB = Path(__file__).parents[2] / "examples" / "pool.dtb"
U64 = 1 << 64

# (start, end exclusive, type, class, line) of every entry pmpoolctl keeps from iomem.txt.
IOMEM_ENTRIES = [
    (0x0, 0x1000, "Reserved", "reserved", 1),
    (0x1000, 0x9FC00, "System RAM", "ram", 2),
    (0x9FC00, 0x100000, "Reserved", "reserved", 3),
    (0x100000, 0xC0000000, "System RAM", "ram", 6),
    (0x1000000, 0x2208D88, "Kernel code", "kernel", 7),
    (0x2400000, 0x2E09000, "Kernel rodata", "kernel", 8),
    (0x3000000, 0x327C040, "Kernel data", "kernel", 9),
    (0x3B34000, 0x3C58000, "Kernel bss", "kernel", 10),
    (0xC0001000, 0xEEC00000, "PCI Bus 0000:00", "reserved", 11),
    (0xEEC00000, 0xFEC00000, "Reserved", "reserved", 12),
    (0xFEC00000, 0xFEC00400, "IOAPIC 0", "reserved", 15),
    (0x100000000, 0x640000000, "System RAM", "ram", 16),
    (0x4000000000, 0x8000000000, "PCI Bus 0000:00", "reserved", 17),
]

# (start, end exclusive, type, class, entry directory name) of firmware-memmap/.
FIRMWARE_ENTRIES = [
    (0x0, 0x9FC00, "System RAM", "ram", "0"),
    (0x9FC00, 0x100000, "Reserved", "reserved", "1"),
    (0x100000, 0xC0000000, "System RAM", "ram", "2"),
    (0xEEC00000, 0xFEC00000, "Reserved", "reserved", "3"),
    (0x100000000, 0x640000000, "System RAM", "ram", "4"),
]

# dmesg.txt: BIOS-e820 on lines 5-9, `e820: update [0, 0xfff] usable ==> reserved` on line 19 (splits
# line 5's usable region), `e820: remove [0xa0000, 0xfffff] usable` on line 20 (no usable memory there).
DMESG_ENTRIES = [
    (0x0, 0x1000, "reserved", "reserved", 19),
    (0x1000, 0x9FC00, "usable", "ram", 5),
    (0x9FC00, 0x100000, "reserved", "reserved", 6),
    (0x100000, 0xC0000000, "usable", "ram", 7),
    (0xEEC00000, 0xFEC00000, "reserved", "reserved", 8),
    (0x100000000, 0x640000000, "usable", "ram", 9),
]


def at_lines(source: str, expected: list[tuple[int, int, str, str, int]]) -> list[tuple[int, int, str, str, str]]:
    return [(s, e, t, k, f"{source}:{line}") for s, e, t, k, line in expected]


def write_firmware_memmap(directory: Path, entries: dict[str, tuple[str, str, str]]) -> Path:
    """A /sys/firmware/memmap look-alike: entries[name] = (start, end, type) file contents."""
    directory.mkdir()
    for name, (start, end, type_word) in entries.items():
        (directory / name).mkdir()
        (directory / name / "start").write_text(start + "\n")
        (directory / name / "end").write_text(end + "\n")
        (directory / name / "type").write_text(type_word + "\n")
    return directory


def compile_dts(dtc: str, source: str, out: Path) -> Path:
    proc = subprocess.run(
        [dtc, "-I", "dts", "-O", "dtb", "-o", str(out), "-"], input=source.encode(), capture_output=True, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return out


def input_error(function: Callable[[], object]) -> str:
    with pytest.raises(InputError) as info:
        function()
    return str(info.value)


# --- the real captures ------------------------------------------------------------------------------------------------


def test_iomem_fixture_entries() -> None:
    memory_map = parse_iomem(IOMEM.read_text(), "iomem.txt")
    assert memory_map.format == "iomem"
    assert memory_map.source == "iomem.txt"
    # Nested device entries (lines 4-5 under Reserved, 13-14 under Reserved, 18-27 under PCI) are not kept.
    assert rows(memory_map) == at_lines("iomem.txt", IOMEM_ENTRIES)
    assert [e.start for e in memory_map.of_kind("kernel")] == [0x1000000, 0x2400000, 0x3000000, 0x3B34000]


def test_firmware_memmap_fixture_entries() -> None:
    memory_map = read_firmware_memmap(str(FIRMWARE))
    assert memory_map.format == "firmware-memmap"
    assert rows(memory_map) == [(s, e, t, k, os.path.join(str(FIRMWARE), n)) for s, e, t, k, n in FIRMWARE_ENTRIES]


def test_dmesg_fixture_entries_with_update_and_remove_applied() -> None:
    text = DMESG.read_text()
    lines = text.splitlines()
    assert len(lines) == 300
    assert "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved" in lines[18]
    assert "e820: remove [mem 0x000a0000-0x000fffff] usable" in lines[19]
    memory_map = parse_e820(text, "dmesg.txt")
    assert memory_map.format == "e820"
    assert rows(memory_map) == at_lines("dmesg.txt", DMESG_ENTRIES)


def test_dmesg_other_lines_are_skipped() -> None:
    """Only lines 4-9, 19, 20 and 163 (`Memory: …`) count: the map read from those alone is the same map."""
    lines = DMESG.read_text().splitlines()
    kept = [3, 4, 5, 6, 7, 8, 18, 19, 162]
    only_e820 = parse_e820("\n".join(lines[i] for i in kept), "x")
    renumber = {f"x:{n + 1}": f"x:{kept[n] + 1}" for n in range(len(kept))}
    assert [(s, e, t, k, renumber[src]) for s, e, t, k, src in rows(only_e820)] == at_lines("x", DMESG_ENTRIES)
    # Lines that mention e820 or [mem …] but are not the map (177 ECAM, 227 "reserve RAM buffer") change nothing.
    assert "e820: reserve RAM buffer [mem 0x0009fc00-0x0009ffff]" in lines[226]
    full = parse_e820("\n".join(lines), "x")
    assert {e.source for e in full.entries} == {"x:5", "x:6", "x:7", "x:8", "x:9", "x:19"}


def test_dmesg_remove_line_20_cuts_usable_memory() -> None:
    """Line 20's removal, applied to a log whose line 6 says usable: [0xa0000, 0x100000) goes away."""
    lines = DMESG.read_text().splitlines()
    lines[5] = "[    0.000000] BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] usable"
    memory_map = parse_e820("\n".join(lines), "x")
    assert rows(memory_map)[:4] == [
        (0x0, 0x1000, "reserved", "reserved", "x:19"),
        (0x1000, 0x9FC00, "usable", "ram", "x:5"),
        (0x9FC00, 0xA0000, "usable", "ram", "x:6"),
        (0x100000, 0xC0000000, "usable", "ram", "x:7"),
    ]


# --- iomem, crafted -----------------------------------------------------------------------------------------------


def test_iomem_nested_crash_kernel_and_kernel_entries() -> None:
    text = (
        "00000000-00000fff : Reserved\n"
        "00100000-bfffffff : System RAM\n"
        "  01000000-01ffffff : Kernel code\n"
        "  02000000-027fffff : Kernel rodata\n"
        "  02800000-02bfffff : Kernel data\n"
        "  02c00000-02dfffff : Kernel bss\n"
        "  a0000000-afffffff : Crash kernel\n"
        "  b0000000-b00fffff : reserved\n"
        "  b0100000-b01fffff : some device\n"
    )
    memory_map = parse_iomem(text, "m")
    assert rows(memory_map) == [
        (0x0, 0x1000, "Reserved", "reserved", "m:1"),
        (0x100000, 0xC0000000, "System RAM", "ram", "m:2"),
        (0x1000000, 0x2000000, "Kernel code", "kernel", "m:3"),
        (0x2000000, 0x2800000, "Kernel rodata", "kernel", "m:4"),
        (0x2800000, 0x2C00000, "Kernel data", "kernel", "m:5"),
        (0x2C00000, 0x2E00000, "Kernel bss", "kernel", "m:6"),
        (0xA0000000, 0xB0000000, "Crash kernel", "crashkernel", "m:7"),
        (0xB0000000, 0xB0100000, "reserved", "reserved", "m:8"),  # arm64 lists memblock reservations so
        (0xB0100000, 0xB0200000, "some device", "reserved", "m:9"),  # claimed out of RAM: not free
    ]


@pytest.mark.parametrize(
    ("nested", "rule"),
    [
        ("  80200000-821fffff : Kernel image\n    80200000-80ffffff : Kernel code\n", "range-in-kernel"),  # riscv
        ("  81600000-817fffff : ELF Core hdr\n", "range-in-reserved"),  # riscv, in a kdump kernel
        ("  81600000-817fffff : GART\n", "range-in-reserved"),  # x86 AMD: aperture_64.c takes it from RAM
    ],
)
def test_whatever_iomem_nests_in_system_ram_is_not_free(tmp_path: Path, nested: str, rule: str) -> None:
    """A pool over memory claimed inside System RAM fails, whatever the claim is named.

    riscv's "Kernel image" also holds .srodata and padding that none of its sections covers.
    """
    iomem = tmp_path / "iomem"
    iomem.write_text("80000000-8003ffff : Reserved\n80040000-17fffffff : System RAM\n" + nested)
    blob = tmp_path / "pool.dtb"
    run_cli(["create", str(blob), "--range", "0x81600000", "0x200000"])
    run = run_cli(["validate", str(blob), "--memmap", str(iomem), "--json"])
    assert run.exit_code == 1 and [f["rule"] for f in json.loads(run.stdout)["findings"]] == [rule]


def test_iomem_deeper_nesting() -> None:
    """Depth counts two spaces a level; zones deep under System RAM count, anything under other parents not."""
    text = (
        "00100000-bfffffff : System RAM\n"
        "  01000000-01ffffff : Kernel code\n"
        "    01000000-010fffff : Crash kernel\n"
        "  20000000-2fffffff : some bus\n"
        "    20000000-200fffff : Kernel data\n"
        "c0000000-cfffffff : PCI Bus 0000:00\n"
        "  c0000000-c00fffff : System RAM\n"
        "    c0000000-c000ffff : Kernel code\n"
        "100000000-13fffffff : System RAM\n"
    )
    memory_map = parse_iomem(text, "m")
    assert rows(memory_map) == [
        (0x100000, 0xC0000000, "System RAM", "ram", "m:1"),
        (0x1000000, 0x2000000, "Kernel code", "kernel", "m:2"),
        (0x1000000, 0x1100000, "Crash kernel", "crashkernel", "m:3"),
        (0x20000000, 0x30000000, "some bus", "reserved", "m:4"),
        (0x20000000, 0x20100000, "Kernel data", "kernel", "m:5"),
        (0xC0000000, 0xD0000000, "PCI Bus 0000:00", "reserved", "m:6"),
        (0x100000000, 0x140000000, "System RAM", "ram", "m:9"),
    ]


def test_iomem_inclusive_end_at_the_top_of_the_address_space() -> None:
    memory_map = parse_iomem("0000000000000000-ffffffffffffffff : System RAM\n", "m")
    assert rows(memory_map) == [(0, U64, "System RAM", "ram", "m:1")]
    memory_map = parse_iomem("00001000-00001fff : System RAM\nfffffffffffff000-ffffffffffffffff : Reserved\n", "m")
    assert memory_map.entries[-1] == MapEntry(0xFFFFFFFFFFFFF000, U64, "Reserved", "reserved", "m:2")


def test_iomem_blank_lines_and_crlf_are_tolerated() -> None:
    memory_map = parse_iomem("\n00001000-00001fff : System RAM\r\n\n  00001000-000017ff : Kernel code\n", "m")
    assert rows(memory_map) == [
        (0x1000, 0x2000, "System RAM", "ram", "m:2"),
        (0x1000, 0x1800, "Kernel code", "kernel", "m:4"),
    ]


def test_iomem_comment_lines_of_a_capture_are_skipped() -> None:
    """A `#` note added to a saved copy is no entry (an iomem line never starts with `#`)."""
    text = (
        "# host 17, read as root\r\n00001000-00001fff : System RAM\r\n"
        "  # the kernel, below\n  00001000-000017ff : Kernel code\n"
    )
    assert rows(parse_iomem(text, "m")) == [
        (0x1000, 0x2000, "System RAM", "ram", "m:2"),
        (0x1000, 0x1800, "Kernel code", "kernel", "m:4"),
    ]
    assert parse_iomem("# 0-ffffffff : System RAM\n00001000-00001fff : Reserved\n", "m").of_kind("ram") == []


def test_iomem_read_without_root_is_an_error() -> None:
    zeroed = re.sub(r"[0-9a-f]+-[0-9a-f]+ :", lambda m: "00000000-00000000 :", IOMEM.read_text())
    message = input_error(lambda: parse_iomem(zeroed, "iomem.txt"))
    assert message.startswith("iomem.txt: ")
    assert "root" in message


def test_iomem_read_without_root_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "iomem"
    path.write_text("00000000-00000000 : System RAM\n  00000000-00000000 : Kernel code\n00000000-00000000 : Reserved\n")
    assert_input_error(run_cli(["memmap", str(path)]), str(path), "root")
    assert_input_error(run_cli(["validate", str(POOL_DTB), "--memmap", str(path)]), str(path), "root")


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("00001000-00001fff : System RAM\nhello world\n", 2, "not an iomem line"),
        ("00001000-00001fff : System RAM\n00002000-0000zfff : Reserved\n", 2, "not an iomem line"),
        ("00001000-00001fff : System RAM\n00003000-00002fff : Reserved\n", 2, "below start"),
        ("00001000-00001fff : System RAM\n    00001000-000013ff : Kernel code\n", 2, "nested"),
        ("00001000-00001fff : System RAM\n   00001000-000013ff : Kernel code\n", 2, "nested"),
        ("00001000-00001fff : System RAM\n00002000-00002fff :\n", 2, "not an iomem line"),
    ],
)
def test_iomem_bad_line_names_file_and_line(text: str, line: int, needle: str) -> None:
    message = input_error(lambda: parse_iomem(text, "iomem.txt"))
    assert message.startswith(f"iomem.txt:{line}: "), message
    assert needle in message


def test_iomem_empty_is_an_error() -> None:
    assert "iomem.txt" in input_error(lambda: parse_iomem("\n\n", "iomem.txt"))


def test_iomem_address_past_64_bits_is_an_error() -> None:
    """A 17-digit address cannot come from the kernel: corrupt input, like the other readers say."""
    message = input_error(lambda: parse_iomem("10000000000000000-10000000000000fff : System RAM\n", "iomem.txt"))
    assert message.startswith("iomem.txt:1: ")


# --- /sys/firmware/memmap, crafted ----------------------------------------------------------------------------------


def test_firmware_memmap_numeric_order_and_inclusive_ends(tmp_path: Path) -> None:
    directory = write_firmware_memmap(
        tmp_path / "memmap",
        {
            "10": ("0x0", "0xfff", "Reserved"),
            "2": ("0x100000000", "0xffffffffffffffff", "System RAM"),
            "1": ("0x1000", "0x9fbff", "System RAM"),
            "0": ("0xe0000000", "0xefffffff", "ACPI Non-volatile Storage"),
            "11": ("0x9fc00", "0xfffff", "Persistent Memory (legacy)"),
        },
    )
    (directory / "README").write_text("not an entry\n")  # non-numbered names are not entries
    memory_map = read_firmware_memmap(str(directory))
    where = str(directory)
    assert rows(memory_map) == [
        (0x0, 0x1000, "Reserved", "reserved", os.path.join(where, "10")),
        (0x1000, 0x9FC00, "System RAM", "ram", os.path.join(where, "1")),
        (0x9FC00, 0x100000, "Persistent Memory (legacy)", "reserved", os.path.join(where, "11")),
        (0xE0000000, 0xF0000000, "ACPI Non-volatile Storage", "reserved", os.path.join(where, "0")),
        (0x100000000, U64, "System RAM", "ram", os.path.join(where, "2")),
    ]


def test_firmware_memmap_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert str(empty) in input_error(lambda: read_firmware_memmap(str(empty)))

    directory = write_firmware_memmap(tmp_path / "a", {"0": ("0x0", "0xfff", "System RAM"), "1": ("0x1000", "", "x")})
    assert os.path.join(str(directory), "1") in input_error(lambda: read_firmware_memmap(str(directory)))

    directory = write_firmware_memmap(tmp_path / "b", {"0": ("0x2000", "0xfff", "System RAM")})
    message = input_error(lambda: read_firmware_memmap(str(directory)))
    assert os.path.join(str(directory), "0") in message
    assert "below start" in message

    directory = write_firmware_memmap(tmp_path / "c", {"0": ("0x0", "0xfff", "System RAM")})
    (directory / "0" / "type").unlink()
    assert os.path.join(str(directory), "0", "type") in input_error(lambda: read_firmware_memmap(str(directory)))

    assert "missing" in input_error(lambda: read_firmware_memmap(str(tmp_path / "missing")))


def test_firmware_memmap_attribute_is_read_whole_or_refused(tmp_path: Path) -> None:
    """A value longer than one page was cut at 4096 characters and read as a wrong number; now refused."""
    directory = write_firmware_memmap(tmp_path / "m", {"0": ("0x" + "0" * 4094 + "1000", "0x1fff", "System RAM")})
    message = input_error(lambda: read_firmware_memmap(str(directory)))
    assert message.startswith(os.path.join(str(directory), "0", "start") + ": ")
    assert "4096-byte limit" in message
    # Up to a page, the whole value counts: 4096 bytes of it are read, not a first part.
    (directory / "0" / "start").write_text("0x" + "0" * 4089 + "1000\n")  # 4096 bytes
    assert rows(read_firmware_memmap(str(directory)))[0][:2] == (0x1000, 0x2000)


def test_firmware_memmap_attribute_bytes(tmp_path: Path) -> None:
    directory = write_firmware_memmap(tmp_path / "m", {"0": ("0x0", "0xfff", "System RAM")})
    (directory / "0" / "type").write_bytes(b"System\xffRAM\n")
    assert "not UTF-8" in input_error(lambda: read_firmware_memmap(str(directory)))
    (directory / "0" / "type").write_bytes(b"System RAM\0")
    assert "NUL" in input_error(lambda: read_firmware_memmap(str(directory)))


def test_firmware_memmap_entry_names_are_ascii_digits(tmp_path: Path) -> None:
    """`"²".isdigit()` is True and `int("²")` raises: such a name was exit 70. The kernel never writes
    one, so a copy that holds one is refused (skipping it could drop a reserved region); other names
    (a README beside the entries) are no entries and are skipped."""
    directory = write_firmware_memmap(tmp_path / "m", {"0": ("0x0", "0xfff", "System RAM")})
    (directory / "README").write_text("a copy of /sys/firmware/memmap\n")
    assert rows(read_firmware_memmap(str(directory))) == [
        (0, 0x1000, "System RAM", "ram", os.path.join(str(directory), "0"))
    ]
    for odd in ("\u00b2", "\u0663"):  # SUPERSCRIPT TWO, ARABIC-INDIC DIGIT THREE
        (directory / odd).mkdir()
        assert_input_error(run_cli(["memmap", str(directory)]), odd, "not an entry")
        (directory / odd).rmdir()


# --- e820 kernel log, crafted --------------------------------------------------------------------------------------

# A boot's e820 lines: the header, the table, trim_bios_range()'s two lines (printed by every boot),
# and after any later updates E820_END, what every boot prints once its e820 table is final.
E820_END = "Memory: 3218364K/4193784K available (18467K kernel code, 496316K reserved)\n"
E820_PLAIN = """\
BIOS-provided physical RAM map:
BIOS-e820: [mem 0x0000000000000000-0x000000000009ffff] usable
BIOS-e820: [mem 0x00000000000a0000-0x00000000000fffff] reserved
BIOS-e820: [mem 0x0000000000100000-0x000000007fffffff] usable
BIOS-e820: [mem 0x0000000080000000-0x000000008000ffff] ACPI data
BIOS-e820: [mem 0x0000000080010000-0x000000008001ffff] ACPI NVS
BIOS-e820: [mem 0x0000000100000000-0x000000017fffffff] persistent (type 12)
e820: update [mem 0x00000000-0x00000fff] usable ==> reserved
e820: remove [mem 0x000a0000-0x000fffff] usable
"""

E820_EXPECTED = [
    (0x0, 0x1000, "reserved", "reserved", 8),
    (0x1000, 0xA0000, "usable", "ram", 2),
    (0xA0000, 0x100000, "reserved", "reserved", 3),
    (0x100000, 0x80000000, "usable", "ram", 4),
    (0x80000000, 0x80010000, "ACPI data", "reserved", 5),
    (0x80010000, 0x80020000, "ACPI NVS", "reserved", 6),
    (0x100000000, 0x180000000, "persistent (type 12)", "reserved", 7),
]


def test_e820_without_timestamps() -> None:
    assert rows(parse_e820(E820_PLAIN + E820_END, "log")) == at_lines("log", E820_EXPECTED)


def test_e820_with_timestamps_and_syslog_prefixes() -> None:
    stamped = "".join(f"[    0.{n:06d}] {line}\n" for n, line in enumerate((E820_PLAIN + E820_END).splitlines()))
    assert rows(parse_e820(stamped, "log")) == at_lines("log", E820_EXPECTED)
    journal = "".join(f"Nov 26 20:37:00 host kernel: {line}\n" for line in (E820_PLAIN + E820_END).splitlines())
    assert rows(parse_e820(journal, "log")) == at_lines("log", E820_EXPECTED)


def test_e820_update_splits_a_usable_region() -> None:
    text = E820_PLAIN + "[    0.1] e820: update [mem 0x00200000-0x002fffff] usable ==> reserved\n" + E820_END
    assert rows(parse_e820(text, "log"))[3:6] == [
        (0x100000, 0x200000, "usable", "ram", "log:4"),
        (0x200000, 0x300000, "reserved", "reserved", "log:10"),
        (0x300000, 0x80000000, "usable", "ram", "log:4"),
    ]


def test_e820_update_only_touches_the_old_type() -> None:
    text = E820_PLAIN + "e820: update [mem 0x00080000-0x0017ffff] usable ==> reserved\n" + E820_END
    assert rows(parse_e820(text, "log"))[1:6] == [
        (0x1000, 0x80000, "usable", "ram", "log:2"),
        (0x80000, 0xA0000, "reserved", "reserved", "log:10"),
        (0xA0000, 0x100000, "reserved", "reserved", "log:3"),
        (0x100000, 0x180000, "reserved", "reserved", "log:10"),
        (0x180000, 0x80000000, "usable", "ram", "log:4"),
    ]


def test_e820_updates_and_removes_apply_in_order() -> None:
    text = (
        E820_PLAIN
        + "e820: update [mem 0x00100000-0x001fffff] usable ==> reserved\n"
        + "e820: update [mem 0x00100000-0x001fffff] reserved ==> usable\n"
        + "e820: remove [mem 0x40000000-0x7fffffff] usable\n"
        + "e820: remove [mem 0x80000000-0x8000ffff] usable\n"  # ACPI data, not usable: stays
        + E820_END
    )
    assert rows(parse_e820(text, "log"))[3:6] == [
        (0x100000, 0x200000, "usable", "ram", "log:11"),
        (0x200000, 0x40000000, "usable", "ram", "log:4"),
        (0x80000000, 0x80010000, "ACPI data", "reserved", "log:5"),
    ]


def test_e820_remove_without_a_type_removes_any_type() -> None:
    """`e820__range_remove(…, check_type=false)` prints no type: `e820: remove [mem …] ` (note the space)."""
    text = E820_PLAIN + "[    0.2] e820: remove [mem 0x40000000-0x7fffffff] \n" + E820_END
    assert rows(parse_e820(text, "log"))[3] == (0x100000, 0x40000000, "usable", "ram", "log:4")
    text = E820_PLAIN + "e820: remove [mem 0x40000000-0x8000ffff]\n" + E820_END
    assert [r[:2] for r in rows(parse_e820(text, "log"))] == [
        (0x0, 0x1000),
        (0x1000, 0xA0000),
        (0xA0000, 0x100000),
        (0x100000, 0x40000000),
        (0x80010000, 0x80020000),
        (0x100000000, 0x180000000),
    ]


def test_e820_address_past_64_bits_is_an_error() -> None:
    message = input_error(
        lambda: parse_e820("BIOS-e820: [mem 0x10000000000000000-0x1ffffffffffffffff] usable\n", "log")
    )
    assert message.startswith("log:1: ")


def test_e820_errors() -> None:
    message = input_error(lambda: parse_e820("Linux version 6.18\nCommand line: quiet\n", "dmesg"))
    assert message.startswith("dmesg: ")
    assert "BIOS-e820" in message
    message = input_error(lambda: parse_e820("x\nBIOS-e820: [mem 0x2000-0x1fff] usable\n", "dmesg"))
    assert message.startswith("dmesg:2: ")


# --- JSON ---------------------------------------------------------------------------------------------------------


def test_json_numbers_hex_strings_and_size() -> None:
    text = json.dumps(
        [
            {"start": "0x100000000", "size": "4G", "type": "System RAM"},
            {"start": 0, "end": 4096, "type": "Reserved"},
            {"start": "0x1000", "end": "0x9fc00", "type": "usable"},
            {"start": 0x9FC00, "size": 0x60400, "type": "ACPI Tables"},
            {"start": "0x1000000", "end": "0x2000000", "type": "Kernel code"},
            {"start": 0x2000000, "end": 0x2100000, "type": "anything", "class": "crashkernel"},
            {"start": 0xFFFFFFFFFFFFF000, "end": U64, "type": "System RAM"},
        ]
    )
    assert rows(parse_json_map(text, "m.json")) == [
        (0x0, 0x1000, "Reserved", "reserved", "m.json#1"),
        (0x1000, 0x9FC00, "usable", "ram", "m.json#2"),
        (0x9FC00, 0x100000, "ACPI Tables", "reserved", "m.json#3"),
        (0x1000000, 0x2000000, "Kernel code", "kernel", "m.json#4"),
        (0x2000000, 0x2100000, "anything", "crashkernel", "m.json#5"),
        (0x100000000, 0x200000000, "System RAM", "ram", "m.json#0"),
        (0xFFFFFFFFFFFFF000, U64, "System RAM", "ram", "m.json#6"),
    ]


def test_json_round_trip_of_memmap_json(tmp_path: Path) -> None:
    for source in (IOMEM, FIRMWARE, DMESG, POOL_DTB):
        first = run_cli(["memmap", str(source), "--json"])
        assert first.exit_code == 0, first.stderr
        path = tmp_path / (source.name + ".json")
        path.write_text(first.stdout)
        second = run_cli(["memmap", str(path), "--json"])
        assert second.exit_code == 0, second.stderr
        before, after = json.loads(first.stdout), json.loads(second.stdout)
        assert after["format"] == "json"
        assert [{k: v for k, v in e.items() if k != "source"} for e in after["entries"]] == [
            {k: v for k, v in e.items() if k != "source"} for e in before["entries"]
        ]
        assert [e["source"] for e in after["entries"]] == [f"{path}#{n}" for n in range(len(before["entries"]))]


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ('[{"start": 0, "end": 4096, "type": "System RAM"},\n  {"start": 1', ["m.json:2:", "invalid JSON"]),
        ("", ["m.json:1:1", "invalid JSON"]),
        ('[{"start": 0, "end": 4096}]', ["entry 0", "type"]),
        ('[{"start": 0, "end": 4096, "type": "System RAM"}, {"end": 1, "type": "x"}]', ["entry 1", "start"]),
        ('[{"start": 0, "end": 4096, "type": "a"}, {"start": 8192, "type": "b"}]', ["entry 1", "end"]),
        ('[{"start": 8192, "end": 4096, "type": "System RAM"}]', ["entry 0", "0x2000", "0x1000"]),
        ('[{"start": 4096, "end": 4096, "type": "System RAM"}]', ["entry 0"]),
        ('[{"start": 4096, "size": 0, "type": "System RAM"}]', ["entry 0"]),
        ('[{"start": true, "end": 4096, "type": "System RAM"}]', ["entry 0 start"]),
        ('[{"start": 0, "end": false, "type": "System RAM"}]', ["entry 0 end"]),
        ('[{"start": 0, "end": 4096.5, "type": "System RAM"}]', ["entry 0 end"]),
        ('[{"start": -4096, "end": 4096, "type": "System RAM"}]', ["entry 0 start"]),
        ('[{"start": "0x10000000000000000", "end": 4096, "type": "System RAM"}]', ["entry 0 start"]),
        ('[{"start": "banana", "end": 4096, "type": "System RAM"}]', ["entry 0 start", "banana"]),
        ('[{"start": 0, "end": 18446744073709551617, "type": "System RAM"}]', ["entry 0 end"]),
        ('[{"start": 4096, "size": 18446744073709551615, "type": "System RAM"}]', ["entry 0"]),
        ('[{"start": 0, "end": 4096, "type": "System RAM", "class": "bogus"}]', ["entry 0", "bogus"]),
        ('[{"start": 0, "end": 4096, "type": 7}]', ["entry 0", "type"]),
        ('[{"start": 0, "end": 4096, "type": "x"}, 5]', ["entry 1"]),
        ('{"start": 0, "end": 4096, "type": "System RAM"}', ["m.json", "list"]),
        ("[]", ["m.json", "no entries"]),
        ("[" * 100000, ["m.json"]),
    ],
)
def test_json_errors_name_the_entry(text: str, needles: list[str]) -> None:
    message = input_error(lambda: parse_json_map(text, "m.json"))
    assert message.startswith("m.json")
    for needle in needles:
        assert needle in message, (needle, message)


def test_json_class_is_honoured_for_every_class() -> None:
    text = json.dumps(
        [
            {"start": 0, "end": 4096, "type": "memory", "class": "ram"},
            {"start": 4096, "end": 8192, "type": "System RAM", "class": "reserved"},
            {"start": 8192, "end": 12288, "type": "x", "class": "kernel"},
            {"start": 12288, "end": 16384, "type": "y", "class": "crashkernel"},
            {
                "start": 0,
                "end": U64,
                "type": "reserved-memory/cma (dynamic, anywhere)",
                "class": "dynamic",
            },
        ]
    )
    assert [(e.type, e.kind) for e in parse_json_map(text, "m.json").entries] == [
        ("memory", "ram"),
        ("reserved-memory/cma (dynamic, anywhere)", "dynamic"),
        ("System RAM", "reserved"),
        ("x", "kernel"),
        ("y", "crashkernel"),
    ]


def test_json_size_and_end_must_agree() -> None:
    text = '[{"start": 4096, "end": 8192, "size": 4096, "type": "System RAM"}]'
    assert rows(parse_json_map(text, "m.json")) == [(4096, 8192, "System RAM", "ram", "m.json#0")]
    message = input_error(lambda: parse_json_map(text.replace('"size": 4096', '"size": 8192'), "m.json"))
    assert "entry 0" in message and "size" in message


def test_json_round_trip_of_every_class(dtc: str, tmp_path: Path) -> None:
    """`memmap --json` read back as `--memmap` is the same map, dynamic areas and forbidden zones included."""
    cma = "size = <0x0 0x4000000>;\n\t\t\talloc-ranges = <0x0 0x80000000 0x0 0x40000000>;"
    blob = compile_dts(dtc, DTB_2_2.replace("size = <0x0 0x4000000>;", cma), tmp_path / "m.dtb")
    iomem = tmp_path / "iomem.txt"
    iomem.write_text(
        "00100000-bfffffff : System RAM\n  01000000-01ffffff : Kernel code\n  20000000-2fffffff : Crash kernel\n"
    )
    for source in (blob, IOMEM, iomem):
        first = run_cli(["memmap", str(source), "--json"])
        assert first.exit_code == 0, first.stderr
        path = tmp_path / "map.json"
        path.write_text(first.stdout)
        second = run_cli(["memmap", str(path), "--json"])
        assert second.exit_code == 0, second.stderr
        strip = [{k: v for k, v in e.items() if k != "source"} for e in json.loads(first.stdout)["entries"]]
        assert [{k: v for k, v in e.items() if k != "source"} for e in json.loads(second.stdout)["entries"]] == strip
        classes = {e["class"] for e in strip}
        assert classes <= {"ram", "reserved", "kernel", "crashkernel", "dynamic"}
    assert "dynamic" in {e["class"] for e in json.loads(run_cli(["memmap", str(blob), "--json"]).stdout)["entries"]}


def test_json_decimal_number_string_too_long_for_python(tmp_path: Path) -> None:
    """A 5000-digit decimal *string* went to int() and out as ValueError: exit 70. It does not fit in 64 bits."""
    path = tmp_path / "m.json"
    path.write_text('[{"start": "' + "1" * 5000 + '", "end": 4096, "type": "System RAM"}]')
    assert_input_error(run_cli(["memmap", str(path)]), f"{path}: entry 0 start", "64 bits")


def test_json_integer_too_long_for_python_is_an_input_error(tmp_path: Path) -> None:
    """Python refuses to convert integers of more than 4300 digits; that must not be exit 70."""
    path = tmp_path / "m.json"
    path.write_text('[{"start": ' + "1" * 5000 + ', "end": 4096, "type": "System RAM"}]')
    assert "m.json" in input_error(lambda: parse_json_map(path.read_text(), "m.json"))
    assert_input_error(run_cli(["memmap", str(path)]), str(path))


# --- dtb ------------------------------------------------------------------------------------------------------------

DTB_2_2 = """\
/dts-v1/;
/memreserve/ 0x80000000 0x10000;
/ {
	#address-cells = <2>;
	#size-cells = <2>;

	memory@80000000 {
		device_type = "memory";
		reg = <0x0 0x80000000 0x0 0x40000000>, <0x8 0x80000000 0x1 0x0>;
	};
	memory@100000000 {
		device_type = "memory";
		reg = <0x1 0x0 0x0 0x10000000>, <0x0 0x0 0x0 0x0>; /* an empty slot a bootloader did not fill */
	};
	ram@200000000 {
		device_type = "memory";
		reg = <0x2 0x0 0x0 0x1000>;
	};
	memory-controller@10000000 {
		reg = <0x0 0x10000000 0x0 0x1000>;
	};
	reserved-memory {
		#address-cells = <2>;
		#size-cells = <2>;
		ranges;
		secmon@81000000 {
			reg = <0x0 0x81000000 0x0 0x200000>;
			no-map;
		};
		linux,cma {
			compatible = "shared-dma-pool";
			reusable;
			size = <0x0 0x4000000>;
		};
	};
};
"""

DTB_1_1 = """\
/dts-v1/;
/ {
	#address-cells = <1>;
	#size-cells = <1>;

	memory {
		device_type = "memory";
		reg = <0x40000000 0x20000000 0x70000000 0x1000000>;
	};
	reserved-memory {
		ranges;
		fb@50000000 {
			reg = <0x50000000 0x800000>;
		};
	};
};
"""


def test_a_memory_node_without_device_type_is_no_ram(dtc: str, tmp_path: Path) -> None:
    """The kernel scans the root's children whose device_type is "memory"; a name alone is no RAM."""
    source = DTB_1_1.replace("\tmemory {", "\tmemory@80000000 {\n\t\treg = <0x80000000 0x10000000>;\n\t};\n\tmemory {")
    path = compile_dts(dtc, source, tmp_path / "m.dtb")
    assert [(e.start, e.end) for e in load_memory_map(str(path)).of_kind("ram")] == [
        (0x40000000, 0x60000000),
        (0x70000000, 0x71000000),
    ]
    only_named = compile_dts(dtc, source.replace('device_type = "memory";', ""), tmp_path / "n.dtb")
    assert_input_error(run_cli(["memmap", str(only_named)]), "no /memory nodes")


def test_dtb_map_two_cells(dtc: str, tmp_path: Path) -> None:
    path = compile_dts(dtc, DTB_2_2, tmp_path / "m.dtb")
    memory_map = blob_memory_map(parse_blob(path.read_bytes(), "m.dtb"))
    assert memory_map.format == "dtb"
    assert rows(memory_map) == [
        # linux,cma has a size and no reg: the kernel places it, with no alloc-ranges anywhere at all.
        (0, U64, "reserved-memory/linux,cma (dynamic, anywhere)", "dynamic", "m.dtb:/reserved-memory/linux,cma"),
        (0x80000000, 0x80010000, "/memreserve/", "reserved", "m.dtb:memreserve[0]"),
        (0x80000000, 0xC0000000, "memory", "ram", "m.dtb:/memory@80000000"),
        (
            0x81000000,
            0x81200000,
            "reserved-memory/secmon@81000000",
            "reserved",
            "m.dtb:/reserved-memory/secmon@81000000",
        ),
        (0x100000000, 0x110000000, "memory", "ram", "m.dtb:/memory@100000000"),
        (0x200000000, 0x200001000, "memory", "ram", "m.dtb:/ram@200000000"),
        (0x880000000, 0x980000000, "memory", "ram", "m.dtb:/memory@80000000"),
    ]
    without = blob_memory_map(parse_blob(path.read_bytes(), "m.dtb"), with_reservations=False)
    assert [e.kind for e in without.entries] == ["ram"] * 4
    assert [(e.start, e.end) for e in blob_reservations(parse_blob(path.read_bytes(), "m.dtb"))] == [
        (0x80000000, 0x80010000),
        (0x81000000, 0x81200000),
        (0, U64),
    ]


def test_dtb_map_one_cell(dtc: str, tmp_path: Path) -> None:
    path = compile_dts(dtc, DTB_1_1, tmp_path / "m.dtb")
    memory_map = load_memory_map(str(path))
    source = str(path)
    assert rows(memory_map) == [
        (0x40000000, 0x60000000, "memory", "ram", f"{source}:/memory"),
        (0x50000000, 0x50800000, "reserved-memory/fb@50000000", "reserved", f"{source}:/reserved-memory/fb@50000000"),
        (0x70000000, 0x71000000, "memory", "ram", f"{source}:/memory"),
    ]


def test_dtb_reserved_memory_cells_come_from_the_root(dtc: str, tmp_path: Path) -> None:
    """Without its own #address-cells/#size-cells, /reserved-memory reads reg by the root's (2/2), as Linux does."""
    source = (
        "/dts-v1/;\n/ {\n#address-cells = <2>;\n#size-cells = <2>;\n"
        'memory@0 { device_type = "memory"; reg = <0x0 0x0 0x1 0x0>; };\n'
        "reserved-memory { ranges; r@1000000 { reg = <0x0 0x1000000 0x0 0x200000>; }; };\n};\n"
    )
    memory_map = load_memory_map(str(compile_dts(dtc, source, tmp_path / "m.dtb")))
    assert [(e.start, e.end, e.kind) for e in memory_map.entries] == [
        (0x0, 0x100000000, "ram"),
        (0x1000000, 0x1200000, "reserved"),
    ]


def test_dtb_example_pool(tmp_path: Path) -> None:
    source = str(POOL_DTB)
    assert rows(load_memory_map(source)) == [
        (0x0, 0xC0000000, "memory", "ram", f"{source}:/memory@0"),
        (0x20000000, 0x20100000, "/memreserve/", "reserved", f"{source}:memreserve[0]"),
        (0x100000000, 0x640000000, "memory", "ram", f"{source}:/memory@0"),
    ]


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        ('memory@0 { device_type = "memory"; reg = <0x0 0x0 0x0>; };', ["/memory@0", "reg", "offset", "12"]),
        (
            'memory@0 { device_type = "memory"; reg = <0x0 0x0 0x1 0x0>; };'
            "reserved-memory { #address-cells = <2>; #size-cells = <2>; r@0 { reg = <0x0 0x0 0x1>; }; };",
            ["/reserved-memory/r@0", "reg", "offset"],
        ),
        ('memory@0 { device_type = "memory"; reg = <0xffffffff 0xfffff000 0x0 0x2000>; };', ["2^64", "offset"]),
        ("cpus { };", ["no /memory"]),
    ],
)
def test_dtb_map_errors(dtc: str, tmp_path: Path, body: str, needles: list[str]) -> None:
    source = "/dts-v1/;\n/ {\n#address-cells = <2>;\n#size-cells = <2>;\n" + body + "\n};\n"
    path = compile_dts(dtc, source, tmp_path / "bad.dtb")
    message = input_error(lambda: load_memory_map(str(path)))
    assert message.startswith(str(path))
    for needle in needles:
        assert needle in message, (needle, message)


def test_dtb_bad_address_cells(dtc: str, tmp_path: Path) -> None:
    source = "/dts-v1/;\n/ {\n#address-cells = <5>;\n#size-cells = <2>;\nmemory@0 { reg = <0 0 0 0 0 0 1>; };\n};\n"
    path = compile_dts(dtc, source, tmp_path / "bad.dtb")
    message = input_error(lambda: load_memory_map(str(path)))
    assert "#address-cells" in message
    assert "offset" in message


# --- format detection through the CLI -------------------------------------------------------------------------------


def memmap_document(*args: str) -> dict[str, object]:
    run = run_cli(["memmap", *args, "--json"])
    assert run.exit_code == 0, (run.exit_code, run.stderr)
    assert run.stderr == ""
    document: dict[str, object] = json.loads(run.stdout)
    return document


@pytest.fixture
def json_map(tmp_path: Path) -> Path:
    path = tmp_path / "map.json"
    path.write_text(json.dumps([{"start": 4096, "end": "0x9fc00", "type": "System RAM"}]))
    return path


@pytest.mark.parametrize(
    ("name", "fmt", "count"),
    [("iomem.txt", "iomem", 13), ("firmware-memmap", "firmware-memmap", 5), ("dmesg.txt", "e820", 6)],
)
def test_detects_real_fixture_formats(name: str, fmt: str, count: int) -> None:
    document = memmap_document(str(MEMMAP / name))
    assert document["format"] == fmt
    assert document["source"] == str(MEMMAP / name)
    assert isinstance(document["entries"], list)
    assert len(document["entries"]) == count


def test_detects_json_and_dtb(json_map: Path) -> None:
    assert memmap_document(str(json_map))["format"] == "json"
    assert memmap_document(str(POOL_DTB))["format"] == "dtb"


def test_detects_stdin() -> None:
    run = run_cli(["memmap", "-", "--json"], stdin=IOMEM.read_bytes())
    assert run.exit_code == 0, run.stderr
    document = json.loads(run.stdout)
    assert (document["format"], document["source"]) == ("iomem", "<stdin>")
    assert document["entries"][1]["source"] == "<stdin>:2"
    run = run_cli(["memmap", "-", "--json"], stdin=POOL_DTB.read_bytes())
    assert run.exit_code == 0, run.stderr
    assert json.loads(run.stdout)["format"] == "dtb"


def test_timestamped_kernel_log_line_is_e820_not_json(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_text("".join(f"[    0.000000] {line}\n" for line in (E820_PLAIN + E820_END).splitlines()))
    document = memmap_document(str(path))
    assert document["format"] == "e820"
    entries = document["entries"]
    assert isinstance(entries, list)
    assert entries[:2] == [
        {"start": 0, "end": 0x1000, "type": "reserved", "class": "reserved", "source": f"{path}:8"},
        {"start": 0x1000, "end": 0xA0000, "type": "usable", "class": "ram", "source": f"{path}:2"},
    ]
    # A log whose first line is not an e820 line, but timestamped: still e820.
    path.write_text("[    0.000000] Linux version 6.18\n" + E820_PLAIN + E820_END)
    assert memmap_document(str(path))["format"] == "e820"


def test_memmap_format_forces_the_reader(tmp_path: Path) -> None:
    # e820 lines deep in a file that does not start like a log (past the detection window) are not detected…
    path = tmp_path / "journal"
    path.write_text("hello\n" * 1000 + "kernel: Linux version 6.18\n" + E820_PLAIN + E820_END)
    assert_input_error(run_cli(["memmap", str(path)]), str(path), "--memmap-format")
    # …but read when named.
    document = memmap_document(str(path), "--memmap-format", "e820")
    assert document["format"] == "e820"
    assert isinstance(document["entries"], list)
    assert len(document["entries"]) == 7
    # A forced format that does not fit is an input error naming the file.
    assert_input_error(run_cli(["memmap", str(IOMEM), "--memmap-format", "e820"]), str(IOMEM), "BIOS-e820")
    assert_input_error(run_cli(["memmap", str(DMESG), "--memmap-format", "iomem"]), f"{DMESG}:1")
    assert_input_error(run_cli(["memmap", str(IOMEM), "--memmap-format", "json"]), f"{IOMEM}:1:", "JSON")
    assert_input_error(run_cli(["memmap", str(IOMEM), "--memmap-format", "dtb"]), str(IOMEM))
    assert_input_error(run_cli(["memmap", str(POOL_DTB), "--memmap-format", "json"]), str(POOL_DTB))
    assert_input_error(run_cli(["memmap", str(IOMEM), "--memmap-format", "firmware-memmap"]), str(IOMEM))
    assert_input_error(run_cli(["memmap", str(FIRMWARE), "--memmap-format", "iomem"]), str(FIRMWARE))
    run = run_cli(["memmap", str(IOMEM), "--memmap-format", "bogus"])
    assert run.exit_code == 2


def test_binary_garbage_and_empty_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_bytes(bytes(random.Random(1).randrange(256) for _ in range(3000)))
    assert_input_error(run_cli(["memmap", str(garbage)]), str(garbage))
    assert_input_error(run_cli(["validate", str(POOL_DTB), "--memmap", str(garbage)]), str(garbage))
    nul = tmp_path / "nul.json"
    nul.write_bytes(b"[\0\0\0")
    assert_input_error(run_cli(["memmap", str(nul)]), str(nul), "offset")
    latin = tmp_path / "latin"
    latin.write_bytes(b"00001000-00001fff : System RAM \xe9\n")
    assert_input_error(run_cli(["memmap", str(latin)]), str(latin), "UTF-8")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert_input_error(run_cli(["memmap", str(empty)]), str(empty))
    assert_input_error(run_cli(["memmap", str(tmp_path / "missing")]), str(tmp_path / "missing"))


def test_memmap_json_of_iomem_exactly() -> None:
    run = run_cli(["memmap", str(IOMEM), "--json"])
    assert run.exit_code == 0
    source = str(IOMEM)
    assert json.loads(run.stdout) == {
        "schema": "pmpoolctl.memmap/v1",
        "source": source,
        "format": "iomem",
        "entries": [
            {"start": s, "end": e, "type": t, "class": k, "source": f"{source}:{line}"}
            for s, e, t, k, line in IOMEM_ENTRIES
        ],
    }


def test_memmap_text_output_keeps_brackets(tmp_path: Path) -> None:
    path = tmp_path / "iomem[1].txt"
    path.write_text("00001000-00001fff : System RAM\n00002000-00002fff : PCI ECAM 0000 [bus 00-00] [bold]x[/bold]\n")
    run = run_cli(["memmap", str(path)])
    assert run.exit_code == 0
    assert "PCI ECAM 0000 [bus 00-00] [bold]x[/bold]" in run.stdout
    assert f"{path}:2" in run.stdout
    assert "\x1b[" not in run.stdout


# --- corrupt input never escapes as anything but InputError --------------------------------------------------------

HEX = "0123456789abcdef"
MUTATIONS = 200


def garbage_line(rng: random.Random) -> str:
    def hexes() -> str:
        return "".join(rng.choice(HEX) for _ in range(rng.randint(0, 20)))

    choices = [
        "".join(chr(rng.randint(1, 0x2FF)) for _ in range(rng.randint(0, 40))),
        f"{' ' * rng.randint(0, 6)}{hexes()}-{hexes()} : {rng.choice(['System RAM', 'Crash kernel', ''])}",
        f"[ {rng.random():.6f}] BIOS-e820: [mem 0x{hexes()}-0x{hexes()}] {rng.choice(['usable', 'reserved', ''])}",
        f"e820: update [mem 0x{hexes()}-0x{hexes()}] usable ==> {rng.choice(['reserved', 'usable', ''])}",
        f"e820: remove [mem 0x{hexes()}-0x{hexes()}] {rng.choice(['usable', 'reserved', ''])}",
        rng.choice(["{", "}", "[", "]", ",", '"start": -1,', '"end": 1e999,', "NaN", '"size": "0x"', "null", "[[[["]),
        f'{{"start": "0x{hexes()}", "size": {rng.randint(-5, 5)}, "type": "System RAM", "class": "{hexes()}"}},',
    ]
    return rng.choice(choices)


def mutate_text(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        if op == 0 and lines:
            del lines[rng.randrange(len(lines))]
        elif op == 1 and lines:
            index = rng.randrange(len(lines))
            line = lines[index]
            positions = [i for i, c in enumerate(line) if c in HEX]
            if positions:
                at = rng.choice(positions)
                lines[index] = line[:at] + rng.choice(HEX + "g-x ") + line[at + 1 :]
        elif op == 2:
            lines.insert(rng.randint(0, len(lines)), garbage_line(rng) + "\n")
        else:
            joined = "".join(lines)
            lines = joined[: rng.randint(0, len(joined))].splitlines(keepends=True)
    return "".join(lines)


def check_parses_or_input_error(read: Callable[[], MemoryMap], what: str) -> None:
    try:
        memory_map = read()
    except InputError:
        return
    except Exception as exc:  # noqa: BLE001 - the point of the test
        pytest.fail(f"{type(exc).__name__}: {exc} for {what}")
    assert all(0 <= e.start < e.end for e in memory_map.entries), what


@pytest.mark.parametrize(
    ("name", "reader"),
    [("iomem", parse_iomem), ("e820", parse_e820), ("e820-corpus", parse_e820), ("json", parse_json_map)],
)
def test_corrupt_text_maps(name: str, reader: Callable[[str, str], MemoryMap]) -> None:
    if name == "iomem":
        text = IOMEM.read_text()
    elif name == "e820":
        text = DMESG.read_text()
    elif name == "e820-corpus":  # every log of tests/data/memmap/e820 in one: boots, both vocabularies, CRLF
        text = "".join(path.read_bytes().decode() for path in sorted((MEMMAP / "e820").glob("*.log")))
    else:
        text = json_text(memmap_json(parse_iomem(IOMEM.read_text(), "iomem.txt")))
    reader(text, "fixture")  # the unmutated text reads
    rng = random.Random(7)
    for n in range(MUTATIONS):
        mutated = mutate_text(text, rng)
        check_parses_or_input_error(functools.partial(reader, mutated, "m"), f"mutation {n}:\n{mutated[:3000]}")


def test_corrupt_firmware_memmap(tmp_path: Path) -> None:
    rng = random.Random(7)
    names = sorted(os.listdir(FIRMWARE))
    for n in range(MUTATIONS):
        directory = tmp_path / f"m{n}"
        shutil.copytree(FIRMWARE, directory)
        for _ in range(rng.randint(1, 4)):
            entry = directory / rng.choice(names)
            op = rng.randrange(5)
            if op == 0:
                shutil.rmtree(entry, ignore_errors=True)
            elif not entry.exists():
                continue
            elif op == 1:
                (entry / rng.choice(["start", "end", "type"])).unlink(missing_ok=True)
            elif op == 4:
                extra = directory / str(rng.randint(5, 12))
                extra.mkdir(exist_ok=True)
                for field in ("start", "end", "type"):
                    (extra / field).write_text(garbage_line(rng))
            else:
                path = entry / rng.choice(["start", "end", "type"])
                if path.exists():
                    (path.write_text(mutate_text(path.read_text(), rng)))
        check_parses_or_input_error(
            functools.partial(read_firmware_memmap, str(directory)), f"mutation {n}: {directory}"
        )


def read_dtb_map(data: bytes) -> MemoryMap:
    return blob_memory_map(parse_blob(data, "m.dtb"))


def test_corrupt_dtb_maps() -> None:
    original = POOL_DTB.read_bytes()
    rng = random.Random(7)
    for n in range(MUTATIONS):
        data = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(4)
            if op == 0 and data:
                del data[rng.randrange(len(data))]
            elif op == 1 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif op == 2:
                at = rng.randint(0, len(data))
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
            else:
                data = data[: rng.randint(0, len(data))]
        check_parses_or_input_error(functools.partial(read_dtb_map, bytes(data)), f"mutation {n}: {bytes(data)!r}")
