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
    return "".join(
        f"BIOS-e820: [mem {i << 20:#018x}-{((i + 1) << 20) - 1:#018x}]{spaces}{word}\n" for i, word in enumerate(words)
    )


def test_both_vocabularies_give_the_same_classes() -> None:
    """Up to 6.x one space and `usable`; since the rework two spaces and `System RAM`: RAM is RAM in both."""
    old, new = parse_e820(table(OLD_WORDS, " "), "log"), parse_e820(table(NEW_WORDS, "  "), "log")
    assert spans(old) == spans(new) == [(i << 20, (i + 1) << 20, "ram" if i == 0 else "reserved") for i in range(8)]
    assert [e.type for e in new.entries] == NEW_WORDS  # the type without the second space


def test_rework_updates_name_the_type_as_the_table_does() -> None:
    text = (
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff]  System RAM\n"
        "BIOS-e820: [gap 0x000000000009fc00-0x00000000000fffff]\n"
        "BIOS-e820: [mem 0x0000000000100000-0x000000007fffffff]  System RAM\n"
        "e820: update [mem 0x00000000-0x00000fff] System RAM ==> device reserved\n"
        "e820: remove [mem 0x7ff00000-0x7fffffff] System RAM\n"
        "e820: update [mem 0x7fe00000-0x7fefffff] device reserved ==> System RAM\n"  # nothing device reserved there
    )
    assert rows(parse_e820(text, "log")) == [
        (0x0, 0x1000, "device reserved", "reserved", "log:4"),
        (0x1000, 0x9FC00, "System RAM", "ram", "log:1"),
        (0x100000, 0x7FF00000, "System RAM", "ram", "log:3"),
    ]


def test_types_are_compared_with_white_space_collapsed() -> None:
    text = (
        "BIOS-e820: [mem 0x0-0xfffff]   System    RAM \n"
        "e820: update [mem 0x0-0xfff]  System RAM  ==>  device  reserved\n"
    )
    assert rows(parse_e820(text, "log")) == [
        (0x0, 0x1000, "device reserved", "reserved", "log:2"),
        (0x1000, 0x100000, "System RAM", "ram", "log:1"),
    ]


def test_gap_lines_are_not_entries_and_do_not_break_the_table() -> None:
    text = "BIOS-e820: [gap 0x0000000000000000-0x0000000000000fff]\n" + table(NEW_WORDS[:2], "  ").replace(
        "[mem 0x0000000000000000", "[mem 0x0000000000001000"
    )
    memory_map = parse_e820(text, "log")
    assert spans(memory_map) == [(0x1000, 0x100000, "ram"), (0x100000, 0x200000, "reserved")]
    assert memory_map.note == ""


def test_usable_to_usable_changes_nothing() -> None:
    """Up to 6.x, RAM the kernel keeps for setup_data prints as `usable ==> usable`: still RAM."""
    text = "BIOS-e820: [mem 0x0-0xfffffff] usable\ne820: update [mem 0x1000-0x1fff] usable ==> usable\n"
    assert rows(parse_e820(text, "log")) == [(0, 0x10000000, "usable", "ram", "log:1")]


# --- one boot per map -----------------------------------------------------------------------------------------------

BOOT_A = "Linux version 6.1.0\nBIOS-provided physical RAM map:\nBIOS-e820: [mem 0x0-0x7fffffff] usable\n"
BOOT_B = "Linux version 6.8.0\nBIOS-provided physical RAM map:\nBIOS-e820: [mem 0x0-0x3fffffff] usable\n"


def test_the_last_boot_governs_and_boots_never_merge() -> None:
    text = BOOT_A + "e820: update [mem 0x40000000-0x4fffffff] usable ==> reserved\n" + BOOT_B
    memory_map = parse_e820(text, "log")
    assert rows(memory_map) == [(0, 0x40000000, "usable", "ram", "log:7")]
    assert memory_map.note == "last of 2 boots, from line 5"


def test_an_update_of_the_last_boot_applies_to_its_table_only() -> None:
    text = BOOT_B + BOOT_A + "e820: update [mem 0x40000000-0x4fffffff] usable ==> reserved\n"
    assert spans(parse_e820(text, "log")) == [
        (0, 0x40000000, "ram"),
        (0x40000000, 0x50000000, "reserved"),
        (0x50000000, 0x80000000, "ram"),
    ]


def test_a_boot_starts_at_its_banner_at_a_journal_separator_or_at_a_second_firmware_table() -> None:
    table_lines = "BIOS-e820: [mem 0x0-0xfff] usable\n"
    # A banner, then a separator before the next banner: the separator starts boot 2, the banner is in it.
    text = "Linux version 6.1\n" + table_lines + "-- Boot 1234 --\nLinux version 6.8\n" + table_lines
    assert parse_e820(text, "log").note == "last of 2 boots, from line 3"
    # No banners at all (a log cut down by grep): a second firmware table header is the next boot.
    text = "BIOS-provided physical RAM map:\n" + table_lines + "BIOS-provided physical RAM map:\n" + table_lines
    assert parse_e820(text, "log").note == "last of 2 boots, from line 3"
    # No headers either (grep BIOS-e820): a table that goes back to lower addresses is the next one.
    text = "BIOS-e820: [mem 0x0-0xfff] usable\nBIOS-e820: [mem 0x1000-0x1fff] reserved\n" + table_lines
    memory_map = parse_e820(text, "log")
    assert memory_map.note == "last of 2 boots, from line 3"
    assert spans(memory_map) == [(0, 0x1000, "ram")]
    # `journalctl` prints "-- Reboot --" in older versions.
    assert parse_e820(table_lines + "-- Reboot --\n" + table_lines, "log").note == "last of 2 boots, from line 2"


def test_the_last_boot_without_a_table_is_refused() -> None:
    """Never the previous boot's table for this one: the log is refused and says how to cut it."""
    message = input_error(BOOT_A + "Linux version 6.8\nCommand line: quiet\n")
    assert message.startswith("log:4: the last of 2 boots (from line 4) prints no e820 table")
    assert "journalctl -k -b" in message
    assert_input_error(
        run_cli(["memmap", "e820:-"], stdin=BOOT_A + "-- Boot 77 --\nLinux version 6.8\n"), "<stdin>:4", "last of 2"
    )


# --- the kernel's own final map -------------------------------------------------------------------------------------


def test_the_user_defined_table_replaces_the_firmware_one() -> None:
    text = (
        BOOT_A
        + "e820: remove [mem 0x20000000-0xfffffffffffffffe] usable\n"  # mem=512M: in the user table already
        + "user-defined physical RAM map:\n"
        + "user: [mem 0x0000000000000000-0x000000001fffffff] usable\n"
        + "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved\n"
    )
    memory_map = parse_e820(text, "log")
    assert rows(memory_map) == [
        (0, 0x1000, "reserved", "reserved", "log:7"),
        (0x1000, 0x20000000, "usable", "ram", "log:6"),
    ]
    assert memory_map.note == "the user-defined (memmap=/mem=) table from line 5"


def test_extended_and_modified_tables_replace_what_came_before() -> None:
    extended = BOOT_A + "extended physical RAM map:\nextended: [mem 0x0-0xffffffff] usable\n"
    memory_map = parse_e820(extended, "log")
    assert (spans(memory_map), memory_map.note) == ([(0, 0x100000000, "ram")], "the extended table from line 4")
    modified = extended + "modified physical RAM map:\nmodified: [mem 0x0-0xfffffff] usable\n"
    memory_map = parse_e820(modified, "log")
    assert (spans(memory_map), memory_map.note) == ([(0, 0x10000000, "ram")], "the modified table from line 6")
    # Without its header, a table line of another table starts that table all the same.
    memory_map = parse_e820(BOOT_A + "modified: [mem 0x0-0xfff] usable\n", "log")
    assert (spans(memory_map), memory_map.note) == ([(0, 0x1000, "ram")], "the modified table from line 4")


def test_other_firmware_tables_xen_and_e801() -> None:
    xen = "BIOS-provided physical RAM map:\nXen: [mem 0x0000000000000000-0x000000000009ffff] usable\n"
    assert rows(parse_e820(xen, "log")) == [(0, 0xA0000, "usable", "ram", "log:2")]
    e801 = "BIOS-provided physical RAM map:\nBIOS-e801: [mem 0x0000000000000000-0x000000000009ffff] usable\n"
    assert parse_e820(e801, "log").note == ""


def test_lines_that_mention_e820_but_are_not_the_map_change_nothing() -> None:
    text = (
        "BIOS-e820: [mem 0x0-0xffffffff] usable\n"
        "e820: reserve RAM buffer [mem 0x0009f000-0x0009ffff]\n"
        "e820: register RAM buffer resource [mem 0x7ff00000-0x7fffffff]\n"
        "e820: reserve setup_data: [mem 0x7e000000-0x7e000fff]\n"
        "[gap 0xc0000000-0xfed1bfff] available for PCI devices\n"
        "update e820_table_kexec for e820__memblock_alloc_reserved()\n"
        "PCI: ECAM [mem 0xe0000000-0xefffffff] (base 0xe0000000) for domain 0000 [bus 00-ff]\n"
    )
    assert rows(parse_e820(text, "log")) == [(0, 0x100000000, "usable", "ram", "log:1")]


# --- lines as captured ----------------------------------------------------------------------------------------------

PLAIN = [
    "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
    "BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] reserved",
    "BIOS-e820: [mem 0x0000000000100000-0x000000007fffffff] usable",
    "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved",
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
    assert [e.source for e in memory_map.entries] == ["log:6", "log:3", "log:4", "log:5"]


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
    text = "\n".join(PLAIN[:3]) + "\n<host17> " + PLAIN[3] + "\n"
    message = input_error(text)
    assert message.startswith("log:4: an e820 line not as the kernel prints it")


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("BIOS-e820: [mem 0x2000-0x1fff] usable\n", 1, "below start"),
        ("BIOS-e820: [mem 0x0-0x1fff]\n", 1, "without a type"),
        ("BIOS-e820: [mem 0x0-0x1fff] usable\ne820: update [mem 0x0-0xfff] usable\n", 2, "OLD ==> NEW"),
        ("BIOS-e820: [mem 0x0-0x1fff] usable\ne820: update [mem 0x0-0xfff] ==> reserved\n", 2, "OLD ==> NEW"),
        ("BIOS-e820: [mem 0x0-0x1fff] usable\ne820: update [mem 0x0-0x1ffffffffffffffff] usable ==> x\n", 2, "64 bits"),
        ("BIOS-e820: [mem 0x10000000000000000-0x1ffffffffffffffff] usable\n", 1, "64 bits"),
        ("x\nBIOS-e820: [mem 0x0-0xfff", 2, "cut short"),
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
