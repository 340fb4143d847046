"""The e820 map from kernel logs as kernels print them (issue 13): the corpus in tests/data/memmap/e820,
both vocabularies, the last boot, the tables that replace the firmware one, and every capture's prefix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pmpoolctl.errors import InputError
from pmpoolctl.memmap.e820 import parse_e820
from pmpoolctl.memmap.kernlog import kernel_message
from pmpoolctl.memmap.model import MemoryMap
from tests.conftest import DATA, assert_input_error, run_cli
from tests.conftest import map_rows as rows

CORPUS = DATA / "memmap" / "e820"
POOL_DTB = Path(__file__).parents[2] / "examples" / "pool.dtb"
LOGS = sorted(CORPUS.glob("*.log"))
U64 = 1 << 64


def spans(memory_map: MemoryMap) -> list[tuple[int, int, str]]:
    return [(e.start, e.end, e.kind) for e in memory_map.entries]


def read_log(path: Path) -> str:
    return path.read_bytes().decode()  # as the CLI reads it: CRLF kept


HEADER = "BIOS-provided physical RAM map:\n"
# What trim_bios_range() prints in every boot, at KERN_DEBUG, in both vocabularies.
TRIM = "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved\ne820: remove [mem 0x000a0000-0x000fffff] usable\n"
NEW_TRIM = (
    "e820: update [mem 0x00000000-0x00000fff] System RAM ==> device reserved\n"
    "e820: remove [mem 0x000a0000-0x000fffff] System RAM\n"
)


# What mm_init() prints in every boot once the e820 table is final: a boot without it is cut short.
MEMORY = "Memory: 3218364K/4193784K available (18467K kernel code, 2544K rwdata, 496316K reserved)\n"


def boot_log(table: str, after: str = "", trim: str = TRIM, end: str = MEMORY) -> str:
    """One boot's e820 lines as a kernel prints them: the firmware table's header, its lines, the trim, more, end."""
    return HEADER + table + trim + after + end


def input_error(text: str, source: str = "log") -> str:
    with pytest.raises(InputError) as info:
        parse_e820(text, source)
    return str(info.value)


# --- the corpus: each log gives exactly the map written beside it -------------------------------------------------


def test_corpus_is_there() -> None:
    assert [p.name for p in LOGS] == [
        "journal.log",
        "kern.log",
        "legacy-6x.log",
        "rework.log",
        "serial-dmesg-T.log",
        "user-table.log",
    ]
    assert b"\r\n" in (CORPUS / "serial-dmesg-T.log").read_bytes()


@pytest.mark.parametrize("log", LOGS, ids=[p.stem for p in LOGS])
def test_corpus_log_gives_its_map(log: Path) -> None:
    expected = json.loads((CORPUS / f"{log.stem}.json").read_text())
    memory_map = parse_e820(read_log(log), log.name)
    assert memory_map.format == expected["format"]
    assert memory_map.note == expected["note"]
    assert [
        {"start": hex(e.start), "end": hex(e.end), "type": e.type, "class": e.kind, "source": e.source}
        for e in memory_map.entries
    ] == expected["entries"]


@pytest.mark.parametrize("log", LOGS, ids=[p.stem for p in LOGS])
def test_corpus_through_the_cli(log: Path) -> None:
    """Detected as e820 whatever the capture, and `memmap --json` says what the expected file says."""
    run = run_cli(["memmap", str(log), "--json"])
    assert run.exit_code == 0, run.stderr
    document = json.loads(run.stdout)
    expected = json.loads((CORPUS / f"{log.stem}.json").read_text())
    assert document["format"] == "e820"
    assert document.get("note", "") == expected["note"]
    assert [(hex(e["start"]), hex(e["end"]), e["type"], e["class"]) for e in document["entries"]] == [
        (e["start"], e["end"], e["type"], e["class"]) for e in expected["entries"]
    ]
    # The expected file is a JSON map too, and reads as the same map.
    again = json.loads(run_cli(["memmap", str(CORPUS / f"{log.stem}.json"), "--json"]).stdout)
    assert [{k: e[k] for k in ("start", "end", "type", "class")} for e in again["entries"]] == [
        {k: e[k] for k in ("start", "end", "type", "class")} for e in document["entries"]
    ]


def test_note_is_shown_by_memmap_and_validate() -> None:
    log = CORPUS / "kern.log"
    run = run_cli(["memmap", str(log)])
    assert run.stdout.splitlines()[0] == f"{log}: e820, 10 entries, last of 3 boots, from line 35"
    pool = POOL_DTB
    run = run_cli(["validate", str(pool), "--memmap", str(log)])
    assert f"checked against {log} (e820, 10 entries, last of 3 boots, from line 35)" in run.stdout
    document = json.loads(run_cli(["validate", str(pool), "--memmap", str(log), "--json"]).stdout)
    assert document["memmaps"] == [
        {"source": str(log), "format": "e820", "entries": 10, "note": "last of 3 boots, from line 35"}
    ]
    # One boot, the firmware's table: no note, and no key.
    single = CORPUS / "serial-dmesg-T.log"
    document = json.loads(run_cli(["validate", str(pool), "--memmap", str(single), "--json"]).stdout)
    assert document["memmaps"] == [{"source": str(single), "format": "e820", "entries": 9}]
    assert "note" not in json.loads(run_cli(["memmap", str(single), "--json"]).stdout)


# --- both vocabularies --------------------------------------------------------------------------------------------

OLD_WORDS = [
    "usable",
    "reserved",
    "ACPI data",
    "ACPI NVS",
    "unusable",
    "persistent (type 12)",
    "soft reserved",
    "type 20",
]
NEW_WORDS = [
    "System RAM",
    "device reserved",
    "ACPI data",
    "ACPI NVS",
    "unusable",
    "persistent RAM (type 12)",
    "soft reserved",
    "type 20",
]


def table(words: list[str], spaces: str) -> str:
    """A table of 1 MiB entries from 1 MiB up (above what trim_bios_range() changes)."""
    return "".join(
        f"BIOS-e820: [mem {i << 20:#018x}-{((i + 1) << 20) - 1:#018x}]{spaces}{word}\n"
        for i, word in enumerate(words, start=1)
    )


def test_both_vocabularies_give_the_same_classes() -> None:
    """Up to 6.x one space and `usable`; since the rework two spaces and `System RAM`: RAM is RAM in both."""
    old = parse_e820(boot_log(table(OLD_WORDS, " ")), "log")
    new = parse_e820(boot_log(table(NEW_WORDS, "  "), trim=NEW_TRIM), "log")
    assert spans(old) == spans(new) == [(i << 20, (i + 1) << 20, "ram" if i == 1 else "reserved") for i in range(1, 9)]
    assert [e.type for e in new.entries] == NEW_WORDS  # the type without the second space


def test_rework_updates_name_the_type_as_the_table_does() -> None:
    text = (
        HEADER
        + "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff]  System RAM\n"
        + "BIOS-e820: [gap 0x000000000009fc00-0x00000000000fffff]\n"
        + "BIOS-e820: [mem 0x0000000000100000-0x000000007fffffff]  System RAM\n"
        + NEW_TRIM
        + "e820: remove [mem 0x7ff00000-0x7fffffff] System RAM\n"
        + "e820: update [mem 0x7fe00000-0x7fefffff] device reserved ==> System RAM\n"  # nothing device reserved there
        + MEMORY
    )
    assert rows(parse_e820(text, "log")) == [
        (0x0, 0x1000, "device reserved", "reserved", "log:5"),
        (0x1000, 0x9FC00, "System RAM", "ram", "log:2"),
        (0x100000, 0x7FF00000, "System RAM", "ram", "log:4"),
    ]


def test_types_are_compared_with_white_space_collapsed() -> None:
    text = (
        HEADER
        + "BIOS-e820: [mem 0x0-0xfffff]   System    RAM \n"
        + "e820: update [mem 0x0-0xfff]  System RAM  ==>  device  reserved\n"
        + "e820: remove [mem 0x000a0000-0x000fffff]  System  RAM\n"
        + MEMORY
    )
    assert rows(parse_e820(text, "log")) == [
        (0x0, 0x1000, "device reserved", "reserved", "log:3"),
        (0x1000, 0xA0000, "System RAM", "ram", "log:2"),
    ]


def test_gap_lines_are_not_entries_and_do_not_break_the_table() -> None:
    text = boot_log(
        "BIOS-e820: [gap 0x0000000000000000-0x00000000000fffff]\n" + table(NEW_WORDS[:2], "  "), trim=NEW_TRIM
    )
    memory_map = parse_e820(text, "log")
    assert spans(memory_map) == [(0x100000, 0x200000, "ram"), (0x200000, 0x300000, "reserved")]
    assert memory_map.note == ""


def test_usable_to_usable_changes_nothing() -> None:
    """Up to 6.x, RAM the kernel keeps for setup_data prints as `usable ==> usable`: still RAM."""
    text = boot_log(
        "BIOS-e820: [mem 0x100000-0xfffffff] usable\n", "e820: update [mem 0x1000000-0x1ffffff] usable ==> usable\n"
    )
    assert rows(parse_e820(text, "log")) == [(0x100000, 0x10000000, "usable", "ram", "log:2")]


# --- one boot per map -----------------------------------------------------------------------------------------------

BOOT_A = "Linux version 6.1.0\n" + boot_log("BIOS-e820: [mem 0x100000-0x7fffffff] usable\n")
BOOT_B = "Linux version 6.8.0\n" + boot_log("BIOS-e820: [mem 0x100000-0x3fffffff] usable\n")


def test_the_last_boot_governs_and_boots_never_merge() -> None:
    text = BOOT_A + "e820: update [mem 0x40000000-0x4fffffff] usable ==> reserved\n" + BOOT_B
    memory_map = parse_e820(text, "log")
    assert rows(memory_map) == [(0x100000, 0x40000000, "usable", "ram", "log:10")]
    assert memory_map.note == "last of 2 boots, from line 8"


def test_an_update_of_the_last_boot_applies_to_its_table_only() -> None:
    text = BOOT_B + BOOT_A + "e820: update [mem 0x40000000-0x4fffffff] usable ==> reserved\n"
    assert spans(parse_e820(text, "log")) == [
        (0x100000, 0x40000000, "ram"),
        (0x40000000, 0x50000000, "reserved"),
        (0x50000000, 0x80000000, "ram"),
    ]


def test_a_boot_starts_at_its_banner_at_a_journal_separator_or_at_a_second_firmware_table() -> None:
    one_boot = boot_log("BIOS-e820: [mem 0x100000-0x1fffff] usable\n")  # 5 lines
    # A banner, then a separator before the next banner: the separator starts boot 2, the banner is in it.
    text = "Linux version 6.1\n" + one_boot + "-- Boot 1234 --\nLinux version 6.8\n" + one_boot
    assert parse_e820(text, "log").note == "last of 2 boots, from line 7"
    # No banners at all (a log cut down by grep): a second firmware table header is the next boot.
    assert parse_e820(one_boot + one_boot, "log").note == "last of 2 boots, from line 6"
    # `journalctl` prints "-- Reboot --" in older versions.
    assert parse_e820(one_boot + "-- Reboot --\n" + one_boot, "log").note == "last of 2 boots, from line 6"


def test_a_dmesg_clock_going_back_starts_a_boot_even_without_its_banner() -> None:
    """`cat old-dmesg new-dmesg`, the new one's ring buffer wrapped: its lines are not the old boot's."""
    stamped = "".join(f"[    0.000000] {line}\n" for line in boot_log(RAM_TO_4G).splitlines())  # 5 lines
    wrapped = "[ 4000.118000] EXT4-fs (vda2): re-mounted\n[  512.000231] Linux versio\n[  512.000300] usb 1-1: new\n"
    message = input_error(stamped + wrapped)
    assert message.startswith("log:7: the last of 2 boots (from line 7) prints no e820 table")
    # The syslog kern.log of the same: the same.
    syslog = "".join(f"Dec  1 10:00:00 host kernel: {line}\n" for line in (stamped + wrapped).splitlines())
    assert input_error(syslog).startswith("log:7: the last of 2 boots (from line 7)")
    # CPUs' clocks differ by a little, and a boot's banner at 0 after a separator is one boot.
    assert parse_e820(stamped + "[    7.500000] a\n[    7.100000] b\n", "log").note == ""
    again = "-- Boot 77 --\n" + "".join(f"[    0.000000] {line}\n" for line in BOOT_B.splitlines())
    assert parse_e820(stamped + "[   90.000000] x\n" + again, "log").note == "last of 2 boots, from line 7"


def test_the_last_boot_without_a_table_is_refused() -> None:
    """Never the previous boot's table for this one: the log is refused and says how to cut it."""
    message = input_error(BOOT_A + "Linux version 6.8\nCommand line: quiet\n")
    assert message.startswith("log:7: the last of 2 boots (from line 7) prints no e820 table")
    assert "journalctl -k -b" in message
    assert_input_error(
        run_cli(["memmap", "e820:-"], stdin=BOOT_A + "-- Boot 77 --\nLinux version 6.8\n"), "<stdin>:7", "last of 2"
    )


# --- the kernel's own final map -------------------------------------------------------------------------------------


def test_the_user_defined_table_replaces_the_firmware_one() -> None:
    text = (
        "Linux version 6.1.0\n"
        + HEADER
        + "BIOS-e820: [mem 0x0-0x7fffffff] usable\n"
        + "e820: remove [mem 0x20000000-0xfffffffffffffffe] usable\n"  # mem=512M: in the user table already
        + "user-defined physical RAM map:\n"
        + "user: [mem 0x0000000000000000-0x000000001fffffff] usable\n"
        + TRIM
        + MEMORY
    )
    memory_map = parse_e820(text, "log")
    assert rows(memory_map) == [
        (0, 0x1000, "reserved", "reserved", "log:7"),
        (0x1000, 0xA0000, "usable", "ram", "log:6"),
        (0x100000, 0x20000000, "usable", "ram", "log:6"),
    ]
    assert memory_map.note == "the user-defined (memmap=/mem=) table from line 5"


def test_extended_and_modified_tables_replace_what_came_before() -> None:
    extended = (
        "Linux version 6.1.0\n"
        + HEADER
        + "BIOS-e820: [mem 0x100000-0x7fffffff] usable\n"
        + "extended physical RAM map:\n"
        + "extended: [mem 0x100000-0xffffffff] usable\n"
        + TRIM
    )
    memory_map = parse_e820(extended + MEMORY, "log")
    assert (spans(memory_map), memory_map.note) == ([(0x100000, 1 << 32, "ram")], "the extended table from line 4")
    modified = extended + "modified physical RAM map:\nmodified: [mem 0x100000-0xfffffff] usable\n" + MEMORY
    memory_map = parse_e820(modified, "log")
    assert (spans(memory_map), memory_map.note) == ([(0x100000, 0x10000000, "ram")], "the modified table from line 8")


def test_other_firmware_tables_xen_and_e801() -> None:
    xen = boot_log("Xen: [mem 0x0000000000000000-0x000000000009ffff] usable\n")
    assert rows(parse_e820(xen, "log")) == [
        (0, 0x1000, "reserved", "reserved", "log:3"),
        (0x1000, 0xA0000, "usable", "ram", "log:2"),
    ]
    e801 = boot_log("BIOS-e801: [mem 0x0000000000000000-0x000000000009ffff] usable\n")
    assert parse_e820(e801, "log").note == ""


def test_lines_that_mention_e820_but_are_not_the_map_change_nothing() -> None:
    text = boot_log(
        "BIOS-e820: [mem 0x100000-0xffffffff] usable\n",
        "e820: reserve RAM buffer [mem 0x0009f000-0x0009ffff]\n"
        "e820: register RAM buffer resource [mem 0x7ff00000-0x7fffffff]\n"
        "e820: reserve setup_data: [mem 0x7e000000-0x7e000fff]\n"
        "[gap 0xc0000000-0xfed1bfff] available for PCI devices\n"
        "update e820_table_kexec for e820__memblock_alloc_reserved()\n"
        "PCI: ECAM [mem 0xe0000000-0xefffffff] (base 0xe0000000) for domain 0000 [bus 00-ff]\n"
        "ACPI: Reserving FACP table memory at [mem 0xa0c97-0xa0daa]\n"
        "Reserving 256MB of memory at 3808MB for crashkernel (System RAM: 4095MB)\n"
        "AGP: Checking aperture...\n"
        "Aperture pointing to e820 RAM. Ignoring.\n"
        "PM: hibernation: Registered nosave memory: [mem 0xc8000000-0xcbffffff]\n",
    )
    assert rows(parse_e820(text, "log")) == [(0x100000, 0x100000000, "usable", "ram", "log:2")]


def test_efi_changes_the_log_does_not_show_are_said_or_refused(tmp_path: Path) -> None:
    """efi_memblock_x86_reserve_range() adds the EFI map to the table, unprinted: with add_efi_memmap, and for
    memory the firmware marks specific-purpose (soft reserved since 5.5), which the log then shows as RAM."""
    efi = "efi: EFI v2.8 by American Megatrends\n"
    table = boot_log(RAM_TO_4G)
    memory_map = parse_e820("Linux version 6.8.0-45-generic (gcc)\n" + efi + table, "log")
    assert memory_map.note.startswith("an EFI boot: memory the firmware marks specific-purpose is soft reserved")
    assert parse_e820("Linux version 5.4.0-216-generic (gcc)\n" + efi + table, "log").note == ""  # before 5.5
    assert parse_e820(efi + table, "log").note.startswith("an EFI boot")  # no banner: any release
    assert parse_e820("Linux version 6.8.0\n" + table, "log").note == ""  # BIOS
    added = "Linux version 6.8.0\nCommand line: BOOT_IMAGE=/vmlinuz ro add_efi_memmap quiet\n" + efi + table
    assert input_error(added).startswith("log:2: the boot's command line has add_efi_memmap")
    path = tmp_path / "boot.log"
    path.write_text(added.replace("Command line", "[    0.000000] Kernel command line"))
    assert_input_error(run_cli(["validate", str(POOL_DTB), "--memmap", str(path)]), f"{path}:2:", "add_efi_memmap")
    # A word that only holds it is not the parameter; another boot's command line is not this boot's.
    assert parse_e820(added.replace(" add_efi_memmap", " x=add_efi_memmap"), "log").note.startswith("an EFI")
    assert parse_e820(added + "Linux version 6.8.0\n" + table, "log").note == "last of 2 boots, from line 9"


# --- what takes RAM away without an update line ---------------------------------------------------------------------

RAM_TO_4G = "BIOS-e820: [mem 0x0000000000100000-0x00000000bfffffff] usable\n"


@pytest.mark.parametrize(
    "line",
    [
        "Reserving Intel graphics memory at [mem 0x7b800000-0x7f7fffff]",  # early-quirks.c, %pR (4.x on)
        "Reserving Intel graphics memory at 0x000000007b800000-0x000000007f7fffff",  # %pa-%pa
        "Reserving Intel graphics stolen memory at 0x7b800000-0x7f7fffff",  # 3.x
        "AGP: e820: reserve [mem 0x7b800000-0x7f7fffff] for GART",  # aperture_64.c, for the next kernel
        "AGP: Mapping aperture over RAM [mem 0x7b800000-0x7f7fffff] (65536KB)",  # taken from RAM for the aperture
    ],
)
def test_quirks_that_reserve_ram_are_applied(line: str) -> None:
    """Intel graphics stolen memory and a GART aperture are RAM no longer (e820__range_add of reserved)."""
    memory_map = parse_e820(boot_log(RAM_TO_4G, f"[    0.020786] {line}\n"), "log")
    assert rows(memory_map) == [
        (0x100000, 0x7B800000, "usable", "ram", "log:2"),
        (0x7B800000, 0x7F800000, "reserved", "reserved", "log:5"),
        (0x7F800000, 0xC0000000, "usable", "ram", "log:2"),
    ]


def test_a_reservation_fills_a_hole_and_keeps_other_types() -> None:
    text = boot_log(
        "BIOS-e820: [mem 0x100000-0x1fffff] usable\nBIOS-e820: [mem 0x300000-0x3fffff] ACPI NVS\n",
        "Reserving Intel graphics memory at [mem 0x180000-0x4fffff]\n",
    )
    assert rows(parse_e820(text, "log")) == [
        (0x100000, 0x180000, "usable", "ram", "log:2"),
        (0x180000, 0x200000, "reserved", "reserved", "log:6"),
        (0x200000, 0x300000, "reserved", "reserved", "log:6"),
        (0x300000, 0x400000, "ACPI NVS", "reserved", "log:3"),
        (0x400000, 0x500000, "reserved", "reserved", "log:6"),
    ]


def test_32_bit_pentium_pro_hole_is_read_in_both_eras() -> None:
    """Up to 6.x a `fixed physical RAM map:` of `bad_ppro:` lines; since the rework a line and an update."""
    fixed = boot_log(
        RAM_TO_4G,
        "fixed physical RAM map:\n"
        "bad_ppro: [mem 0x0000000000100000-0x000000006fffffff] usable\n"
        "bad_ppro: [mem 0x0000000070000000-0x000000007003ffff] reserved\n"
        "bad_ppro: [mem 0x0000000070040000-0x00000000bfffffff] usable\n",
    )
    memory_map = parse_e820(fixed, "log")
    assert spans(memory_map) == [
        (0x100000, 0x70000000, "ram"),
        (0x70000000, 0x70040000, "reserved"),
        (0x70040000, 0xC0000000, "ram"),
    ]
    assert memory_map.note == "the fixed (Pentium Pro erratum) table from line 5"
    # The rework: the update is debug level like the trim; the info line alone takes the hole away.
    rework = boot_log(RAM_TO_4G, "Applying PPro RAM bug workaround: punching 256 kB hole at 1.75 GB physical.\n")
    assert spans(parse_e820(rework, "log")) == spans(memory_map)


# --- logs that cannot be trusted ------------------------------------------------------------------------------------


def without_debug(text: str) -> str:
    """The log as `dmesg --level=info` (or journald with MaxLevelStore=info) keeps it: no KERN_DEBUG lines."""
    return "".join(
        line for line in text.splitlines(keepends=True) if "e820: update" not in line and "e820: remove" not in line
    )


@pytest.mark.parametrize("log", LOGS, ids=[p.stem for p in LOGS])
def test_a_log_without_its_debug_lines_is_refused(log: Path, tmp_path: Path) -> None:
    """Filtered by level, a log loses the updates that take RAM away (an MTRR trim, the first page): never a map."""
    text = without_debug(read_log(log))
    boots = [n for n, line in enumerate(text.splitlines(), 1) if line.endswith("BIOS-provided physical RAM map:")]
    message = input_error(text, log.name)
    assert message.startswith(f"{log.name}:{boots[-1]}: the boot from line ")
    assert "debug messages were filtered out" in message and "dmesg without --level" in message
    path = tmp_path / log.name
    path.write_text(text)
    assert_input_error(run_cli(["memmap", str(path)]), f"{path}:{boots[-1]}:", "journalctl -k -b --priority=debug")
    assert_input_error(run_cli(["validate", str(POOL_DTB), "--memmap", str(path)]), f"{path}:{boots[-1]}:")


def test_only_the_last_boot_needs_its_debug_lines() -> None:
    """A kern.log whose earlier boots were filtered still gives the last boot's map; the other way round not."""
    text = read_log(CORPUS / "kern.log")
    last = text.index("Dec  1 10:02:33")
    assert (
        parse_e820(without_debug(text[:last]) + text[last:], "kern.log").note == "last of 3 boots, from line 31"
    )  # 4 lines fewer before it
    assert "debug messages were filtered" in input_error(text[:last] + without_debug(text[last:]))
    # The update of page 0 alone is not enough (grep -v 'remove'); the remove alone is: kernels with
    # bde9cfa3afe4 (5.10-5.11, stable kernels of early 2021) print no update of page 0.
    assert "debug messages" in input_error(boot_log(RAM_TO_4G, trim=TRIM.splitlines(keepends=True)[0]))
    assert parse_e820(boot_log(RAM_TO_4G, trim=TRIM.splitlines(keepends=True)[1]), "log").entries


@pytest.mark.parametrize("log", LOGS, ids=[p.stem for p in LOGS])
def test_a_log_cut_before_its_boot_ends_its_e820_setup_is_refused(log: Path, tmp_path: Path) -> None:
    """`dmesg | head`: the table and the trim are there, the MTRR trims and EFI reservations after them not."""
    text = read_log(log)
    kept = text[: text.rindex("Memory: ")].rpartition("\n")[0] + "\n"  # every line before the last boot's
    message = input_error(kept, log.name)
    assert message.startswith(f"{log.name}:{kept.count(chr(10))}: the log ends before the boot from line ")
    assert "Memory: …K/…K available" in message and "cut short" in message
    path = tmp_path / log.name
    path.write_text(kept)
    assert_input_error(run_cli(["validate", str(POOL_DTB), "--memmap", str(path)]), f"{path}:", "cut short")


def test_only_the_last_boots_end_of_setup_counts() -> None:
    mtrr = "e820: update [mem 0xb0000000-0xbfffffff] usable ==> reserved\n"  # an MTRR trim, after the cut
    assert spans(parse_e820(boot_log(RAM_TO_4G, mtrr), "log"))[-1] == (0xB0000000, 0xC0000000, "reserved")
    assert "cut short" in input_error(boot_log(RAM_TO_4G, end=""))
    # The previous boot's line is not this one's; a line before the table is not its end either.
    assert "cut short" in input_error(BOOT_A + "Linux version 6.8\n" + boot_log(RAM_TO_4G, end=""))
    assert "cut short" in input_error(MEMORY + boot_log(RAM_TO_4G, end=""))
    # Other lines that start with `Memory` are not mm_init()'s.
    for line in ("x86/mm: Memory block size: 128MB", "Memory: 4096MB", "Memory: 12K/ available"):
        assert "cut short" in input_error(boot_log(RAM_TO_4G, end=line + "\n"))
    # Kernels before 3.11 print `k`, and a boot may go on after it: later updates still apply.
    old = boot_log(RAM_TO_4G, end="Memory: 16331308k/17825792k available (6324k kernel code, 500k absent)\n" + mtrr)
    assert spans(parse_e820(old, "log"))[-1] == (0xB0000000, 0xC0000000, "reserved")


def test_a_log_cut_down_by_grep_is_refused() -> None:
    """`grep BIOS-e820` drops the header and the updates; `grep e820` the header and the quirks' lines."""
    text = read_log(CORPUS / "legacy-6x.log")
    for word in ("BIOS-e820", "e820"):
        message = input_error("".join(line for line in text.splitlines(keepends=True) if word in line))
        assert message.startswith("log:1: a 'BIOS-e820:' e820 table line with no table header before it")


# --- lines as captured ----------------------------------------------------------------------------------------------

PLAIN = [
    "BIOS-provided physical RAM map:",
    "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
    "BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] reserved",
    "BIOS-e820: [mem 0x0000000000100000-0x000000007fffffff] usable",
    "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved",
    "e820: remove [mem 0x000a0000-0x000fffff] usable",
    MEMORY.rstrip("\n"),
]
PLAIN_SPANS = [
    (0, 0x1000, "reserved"),
    (0x1000, 0x9FC00, "ram"),
    (0x9FC00, 0x100000, "reserved"),
    (0x100000, 0x80000000, "ram"),
]
PREFIXES = {
    "dmesg": "[    0.000000] ",
    "dmesg-caller": "[    0.000000][    T0] ",
    "dmesg-T": "[Tue Dec  1 10:00:00 2026] ",
    "dmesg-x": "kern  :info  : [    0.000000] ",
    "dmesg-r": "<6>[    0.000000] ",
    "dmesg-iso": "2026-12-01T10:00:00,000000+00:00 ",
    "syslog": "Dec  1 10:00:00 host kernel: [    0.000000] ",
    "journal": "Dec 01 10:00:00 host kernel: ",
    "journal-iso": "2026-12-01T10:00:00+0000 host kernel: ",
    "journal-monotonic": "[    0.000000] host kernel: ",
    "rsyslog-precise": "2026-12-01T10:00:00.123456+00:00 host-17.example.com kernel: [    0.000000] ",
}


@pytest.mark.parametrize("prefix", list(PREFIXES.values()), ids=list(PREFIXES))
@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_every_capture_gives_the_same_map(prefix: str, eol: str) -> None:
    text = "# a note\n\n" + "".join(prefix + line + eol for line in PLAIN)
    memory_map = parse_e820(text, "log")
    assert spans(memory_map) == PLAIN_SPANS
    assert [e.source for e in memory_map.entries] == ["log:7", "log:4", "log:5", "log:6"]


def test_a_byte_order_mark_before_the_first_line_is_no_prefix(tmp_path: Path) -> None:
    """A log saved by a Windows editor starts with U+FEFF: its header is still the table's header."""
    text = "\ufeff" + "\n".join(PLAIN) + "\n"
    assert spans(parse_e820(text, "log")) == PLAIN_SPANS
    path = tmp_path / "boot.log"
    path.write_text(text, encoding="utf-8")
    run = run_cli(["memmap", str(path), "--json"])
    assert run.exit_code == 0, run.stderr
    assert json.loads(run.stdout)["format"] == "e820"


def test_kernel_message_peels_only_prefixes() -> None:
    assert kernel_message("[    0.000000] [Firmware Bug]: TSC doesn't count with P0 frequency!") == (
        "[Firmware Bug]: TSC doesn't count with P0 frequency!"
    )
    assert kernel_message("[    0.000000] [    T1] [drm] Initialized") == "[drm] Initialized"
    assert kernel_message("plain message  \r") == "plain message"
    assert kernel_message("[" * 100) == "[" * 100
    assert kernel_message("") == ""


def test_an_e820_line_behind_an_unknown_prefix_is_refused_never_skipped() -> None:
    """A skipped `usable ==> reserved` would leave RAM that is not: such a line is an error."""
    text = "\n".join(PLAIN[:4]) + "\n<host17> " + PLAIN[4] + "\n"
    message = input_error(text)
    assert message.startswith("log:5: an e820 line not as the kernel prints it")


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (HEADER + "BIOS-e820: [mem 0x2000-0x1fff] usable\n", 2, "below start"),
        (HEADER + "BIOS-e820: [mem 0x0-0x1fff]\n", 2, "without a type"),
        (HEADER + "BIOS-e820: [mem 0x0-0x1fff] usable\ne820: update [mem 0x0-0xfff] usable\n", 3, "OLD ==> NEW"),
        (HEADER + "BIOS-e820: [mem 0x0-0x1fff] usable\ne820: update [mem 0x0-0xfff] ==> reserved\n", 3, "OLD ==> NEW"),
        (
            HEADER + "BIOS-e820: [mem 0x0-0x1fff] usable\ne820: update [mem 0x0-0x1ffffffffffffffff] usable ==> x\n",
            3,
            "64 bits",
        ),
        (HEADER + "BIOS-e820: [mem 0x10000000000000000-0x1ffffffffffffffff] usable\n", 2, "64 bits"),
        (HEADER + "x\nBIOS-e820: [mem 0x0-0xfff", 3, "cut short"),
        # A table line needs its table's header before it, in its boot; from its own printer.
        ("BIOS-e820: [mem 0x0-0xfff] usable\n", 1, "no table header before it"),
        (boot_log(RAM_TO_4G, "modified: [mem 0x0-0xfff] usable\n"), 5, "no table header before it"),
        (HEADER + "user: [mem 0x0-0xfff] usable\n", 2, "a 'user:' line in the firmware table from line 1"),
        (HEADER + "BIOS-e820: [mem 0x0-0xfff] usable\nXen: [mem 0x1000-0x1fff] usable\n", 3, "'Xen:' line"),
        # A kernel prints a sanitized table: ascending, never overlapping, never empty.
        (HEADER + "BIOS-e820: [mem 0x100000-0x1fffff] usable\nBIOS-e820: [mem 0x0-0xfff] usable\n", 3, "goes back"),
        (HEADER + "BIOS-e820: [mem 0x0-0x1fff] usable\nBIOS-e820: [mem 0x1000-0x2fff] reserved\n", 3, "goes back"),
        (HEADER + "BIOS-e820: [gap 0x0-0x1fff]\nBIOS-e820: [mem 0x1000-0x2fff] reserved\n", 3, "goes back"),
        (HEADER + TRIM, 1, "the firmware table has no entries"),
        (HEADER + "BIOS-e820: [gap 0x0-0xfff]\n" + TRIM, 1, "has no entries"),
        (boot_log(RAM_TO_4G, "modified physical RAM map:\n"), 5, "the modified table has no entries"),
        # Before 3.8: another format, with exclusive ends; refused, never skipped.
        (HEADER + " BIOS-e820: 0000000000000000 - 000000000009fc00 (usable)\n", 2, "before 3.8"),
        ("fixed physical RAM map:\n bad_ppro: 0000000000000000 - 000000000009fc00 (usable)\n", 2, "before 3.8"),
        (
            boot_log(RAM_TO_4G, "e820 update range: 0000000000000000 - 0000000000010000 (usable) ==> (reserved)\n"),
            5,
            "before 3.8",
        ),
        # An update or remove changes only its old type: one no kernel prints would change nothing.
        (boot_log(RAM_TO_4G, "e820: remove [mem 0x7b800000-0x7f7fffff] usab\n"), 5, "which no kernel prints"),
        (boot_log(RAM_TO_4G, "e820: update [mem 0x7b800000-0x7f7fffff] usabl ==> reserved\n"), 5, "no kernel prints"),
        (boot_log(RAM_TO_4G, "e820: update [mem 0x7b800000-0x7f7fffff] System RAM ==> device reserved\n"), 5, "mixed"),
        (boot_log(RAM_TO_4G, "e820: remove [mem 0x7b800000-0x7f7fffff] usable\n", trim=NEW_TRIM), 3, "mixed"),
        # trim_bios_range() comes after the firmware table: before it, it is another boot's.
        (TRIM + boot_log(RAM_TO_4G, trim=""), 3, "debug messages were filtered"),
        # A quirk's line cut short.
        (boot_log(RAM_TO_4G, "Reserving Intel graphics memory at 0x5c800000-0x607ffff=\n"), 5, "reserving memory"),
        (boot_log(RAM_TO_4G, "Reserving Intel graphics memory at [mem 0x7b800000-\n"), 5, "reserving memory"),
        (boot_log(RAM_TO_4G, "AGP: e820: reserve [mem 0x7b800000-0x7f7fffff]\n"), 5, "reserving memory"),
        (boot_log(RAM_TO_4G, "Reserving Intel graphics memory at [mem 0x7f800000-0x7b7fffff]\n"), 5, "below start"),
    ],
)
def test_corrupt_lines_name_file_and_line(tmp_path: Path, text: str, line: int, needle: str) -> None:
    assert input_error(text).startswith(f"log:{line}: ")
    assert needle in input_error(text)
    path = tmp_path / "boot.log"
    path.write_text(text)
    assert_input_error(run_cli(["memmap", f"e820:{path}"]), f"{path}:{line}:", needle)
    assert_input_error(run_cli(["validate", str(POOL_DTB), "--memmap", f"e820:{path}"]), f"{path}:{line}:")


def test_detection_of_every_capture(tmp_path: Path) -> None:
    for name, prefix in PREFIXES.items():
        path = tmp_path / f"{name}.log"
        path.write_text(
            f"# captured on host 17\n{prefix}Linux version 6.8\n" + "".join(f"{prefix}{line}\n" for line in PLAIN)
        )
        run = run_cli(["memmap", str(path), "--json"])
        assert run.exit_code == 0, (name, run.stderr)
        assert json.loads(run.stdout)["format"] == "e820", name
    path = tmp_path / "journal.log"
    path.write_text("-- Boot 3f1c8a0e --\n" + "\n".join(PLAIN) + "\n")
    assert json.loads(run_cli(["memmap", str(path), "--json"]).stdout)["format"] == "e820"
