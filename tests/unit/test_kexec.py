"""kexec -d segment lists as a map (issue 18): kexec-tools' stderr and the kernel's kexec_file lines."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pmpoolctl.errors import InputError
from pmpoolctl.memmap.kexec import parse_kexec
from pmpoolctl.memmap.model import KEXEC
from pmpoolctl.memmap.sources import detect_format, load_memory_map
from tests.conftest import DATA

KEXEC_DATA = DATA / "memmap" / "kexec"
TOOL = KEXEC_DATA / "kexec-l-d.txt"
KERNEL = KEXEC_DATA / "kexec-s-d.log"
ARM64 = KEXEC_DATA / "arm64-kexec-s-d.log"
DMESG = DATA / "memmap" / "dmesg.txt"


def spans(text: str) -> list[tuple[int, int, str]]:
    return [(e.start, e.end, e.type) for e in parse_kexec(text, "k").entries]


def tool_load(segments: list[tuple[int, int]], flags: int = 0x3E0000, nil_first: bool = False) -> str:
    """What kexec-tools' print_segments writes for `segments` (mem, memsz), after its kexec_load line."""
    lines = [f"kexec_load: entry = 0x63fffa900 flags = {flags:#x}", f"nr_segments = {len(segments)}"]
    for i, (mem, memsz) in enumerate(segments):
        shown = "(nil)" if nil_first and i == 0 else f"{mem:#x}"
        lines += [
            f"segment[{i}].buf   = 0x55d1e3a4b2a0",
            f"segment[{i}].bufsz = {min(memsz, 0x1000):#x}",
            f"segment[{i}].mem   = {shown}",
            f"segment[{i}].memsz = {memsz:#x}",
        ]
    return "\n".join(lines) + "\n"


def kernel_load(segments: list[tuple[int, int]], image_type: int = 0, stamp: str = "[  812.341007] ") -> str:
    lines = [f"{stamp}kexec_file: nr_segments = {len(segments)}"]
    lines += [
        f"{stamp}kexec_file: segment[{i}]: buf=0x0000000076f1d2c3 bufsz=0x1000 mem={mem:#x} memsz={memsz:#x}"
        for i, (mem, memsz) in enumerate(segments)
    ]
    lines.append(f"{stamp}kexec_file: kexec_file_load: type:{image_type}, start:0x1000 head:0x10c8f4002 flags:0x8")
    return "\n".join(lines) + "\n"


# --- the real formats -----------------------------------------------------------------------------------------------


def test_kexec_tools_stderr() -> None:
    """kexec -l -d's stderr: its notes and memory ranges are not segments; the 5 segments are, by their mem line."""
    memory_map = load_memory_map(str(TOOL))
    assert memory_map.format == "kexec" and memory_map.note == ""
    assert [(e.start, e.end, e.kind, e.source) for e in memory_map.entries] == [
        (0x63A8A1000, 0x63C000000, KEXEC, f"{TOOL}:21"),
        (0x63E000000, 0x63FC23000, KEXEC, f"{TOOL}:25"),
        (0x63FFF8000, 0x63FFFA000, KEXEC, f"{TOOL}:29"),
        (0x63FFFA000, 0x63FFFF000, KEXEC, f"{TOOL}:33"),
        (0x63FFFF000, 0x640000000, KEXEC, f"{TOOL}:37"),
    ]
    assert [e.type for e in memory_map.entries] == [f"kexec segment {i}" for i in range(5)]
    assert not memory_map.lists_ram


def test_kernel_log_of_kexec_file_load() -> None:
    """kexec -s -d: the kernel's lines behind dmesg stamps and `kexec_file: `; the bzImage64 notes are not segments."""
    memory_map = load_memory_map(str(KERNEL))
    assert memory_map.format == "kexec"
    assert [(e.start, e.end, e.type) for e in memory_map.entries] == [
        (0x63A8A1000, 0x63C000000, "kexec segment 2"),
        (0x63E000000, 0x63FC23000, "kexec segment 1"),
        (0x63FFF8000, 0x63FFFA000, "kexec segment 0"),
        (0x63FFFA000, 0x63FFFF000, "kexec segment 3"),
    ]
    arm64 = load_memory_map(str(ARM64))
    assert [(e.start, e.end) for e in arm64.entries] == [
        (0x13D000000, 0x13FB80000),
        (0x13FE00000, 0x13FFC5000),
        (0x13FFFC000, 0x13FFFF000),
        (0x13FFFF000, 0x140000000),
    ]


def test_detected() -> None:
    """Both formats are told from their bytes; a whole boot log with its e820 table stays e820."""
    assert detect_format(TOOL.read_bytes()[:4096]) == "kexec"
    assert detect_format(KERNEL.read_bytes()[:4096]) == "kexec"
    assert detect_format(DMESG.read_bytes()[:4096] + KERNEL.read_bytes()) == "e820"
    assert detect_format(b"Try gzip decompression.\n") is None


def test_detected_past_the_first_bytes(tmp_path: Path) -> None:
    """kexec -d prints its segments last, after pages of memory ranges: the file is still kexec."""
    capture = tmp_path / "kexec.log"
    capture.write_text("0000000000001000-000000000009fbff (0)\n" * 500 + TOOL.read_text())
    assert load_memory_map(str(capture)).format == "kexec"
    boot = tmp_path / "boot.log"
    boot.write_text(DMESG.read_text() + KERNEL.read_text())  # a whole boot's log: named kexec, it is read so
    assert load_memory_map(str(boot)).format == "e820"
    assert len(load_memory_map(f"kexec:{boot}").entries) == 4


def test_nil_is_address_zero() -> None:
    """glibc prints a NULL %p as (nil): a segment at address 0."""
    assert spans(tool_load([(0, 0x1000), (0x100000, 0x2000)], nil_first=True))[0] == (0, 0x1000, "kexec segment 0")


def test_last_load_of_each_kind_counts() -> None:
    """A load replaces the one before; a crash kernel's load (-p, type:1) is kept beside the last default one."""
    text = (
        tool_load([(0x1000000, 0x1000)])
        + tool_load([(0x2000000, 0x1000)])
        + tool_load([(0x3000000, 0x1000)], flags=0x3E0001)
    )
    assert spans(text) == [
        (0x2000000, 0x2001000, "kexec segment 0"),
        (0x3000000, 0x3001000, "kexec -p (crash kernel) segment 0"),
    ]
    assert parse_kexec(text, "k").note == "2 of 3 loads"
    kernel = kernel_load([(0x4000000, 0x1000)]) + kernel_load([(0x5000000, 0x1000)], image_type=1)
    assert spans(kernel) == [
        (0x4000000, 0x4001000, "kexec segment 0"),
        (0x5000000, 0x5001000, "kexec -p (crash kernel) segment 0"),
    ]
    assert parse_kexec(kernel_load([(0x5000000, 0x1000)], image_type=1), "k").note == "a crash kernel's load only"
    # The printout kexec-tools repeats when a load fails is refused, as a failed load.
    with pytest.raises(InputError, match=r"^k:7: the load failed"):
        parse_kexec(tool_load([(0x1000000, 0x1000)]) + "kexec_load failed: Cannot assign requested address\n", "k")


def test_empty_segments_overlap_nothing() -> None:
    assert spans(tool_load([(0x1000000, 0), (0x2000000, 0x1000)])) == [(0x2000000, 0x2001000, "kexec segment 1")]


# --- corrupt input: refused, naming the line ------------------------------------------------------------------------

GOOD = tool_load([(0x1000000, 0x1000), (0x2000000, 0x1000)])
KGOOD = kernel_load([(0x1000000, 0x1000), (0x2000000, 0x1000)])


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        ("", "k", "no 'nr_segments = N' line"),
        ("hello\n", "k", "no 'nr_segments = N' line"),
        (GOOD.replace("segment[1].mem   = 0x2000000", "segment[1].mem   = 0x2000000z"), "k:9", "not as kexec-tools"),
        (GOOD.replace("segment[1].mem   = 0x2000000", "segment[1].mem = 0x20000xx"), "k:9", "not as kexec-tools"),
        (
            GOOD.replace("segment[1].memsz = 0x1000", "segment[1].memsz = 0x" + "f" * 17),
            "k:10",
            "do not fit in 64 bits",
        ),
        (GOOD.replace("segment[1].mem   = 0x2000000", "segment[1].mem   = 0xffffffffffffffff"), "k:9", "past 2^64"),
        (GOOD.replace("segment[1]", "segment[2]"), "k:7", "segment[2] where segment[1] comes next"),
        (GOOD.replace("segment[1].bufsz", "segment[1].buff"), "k:8", "not as kexec-tools"),
        ("\n".join(GOOD.splitlines()[:8]) + "\n", "k:8", "lists 1 of its 2 segments"),
        (GOOD.replace("nr_segments = 2", "nr_segments = 3") + GOOD, "k:12", "lists 2 of its 3 segments"),
        (GOOD.replace("nr_segments = 2", "nr_segments = 17"), "k:2", "more than 16 segments"),
        (GOOD.replace("nr_segments = 2", "nr_segments = 2x"), "k:2", "not 'nr_segments = N'"),
        (GOOD.replace("nr_segments = 2\n", ""), "k:2", "before any 'nr_segments = N' line"),
        (GOOD.replace("0x2000000", "0x1000800"), "k:9", "overlaps kexec segment 0"),
        (GOOD.replace("segment[1].bufsz = 0x1000", "segment[1].bufsz = 0x2000"), "k:9", "holds 0x2000 bytes in 0x1000"),
        (GOOD.replace("flags = 0x3e0000", "flags = ?"), "k:1", "not 'kexec_load: entry"),
        (GOOD + "nr_segments = 0\n", "k", "the last load lists no segments"),
        (KGOOD.replace("memsz=0x1000\n", "memsz=0x1000 extra\n", 1), "k:2", "not as kexec-tools or the kernel"),
        (KGOOD.replace(" mem=0x2000000", " mem=2000000"), "k:3", "not as kexec-tools or the kernel"),
        (KGOOD.replace("type:0,", "type:zero,"), "k:4", "not 'kexec_file_load: type:N"),
        ("[ 1.0] kexec_file: kexec_file_load: type:0, start:0x1 head:0x2 flags:0x8\n", "k:1", "without the kernel's"),
        (
            KGOOD.replace("segment[1]: buf=0x0000000076f1d2c3 bufsz=0x1000", "segment[1].buf   = 0x1"),
            "k:3",
            "kexec-tools",
        ),
        ("segment[0" + "0" * 200_000 + "\n", "k:1", "not as kexec-tools"),
    ],
)
def test_corrupt(text: str, where: str, fragment: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_kexec(text, "k")
    message = str(caught.value)
    assert message.startswith(f"{where}:"), message
    assert fragment in message, message
    assert len(message) < 400


def test_hostile_lines_linear() -> None:
    """Million-character lines of what the regexes look for cost one pass, and are refused."""
    for text in (
        "segment[0].mem   = 0x" + "1" * 1_000_000 + "\n",
        "nr_segments = " + "9" * 1_000_000 + "\n",
        "kexec_file: segment[0]: buf=" + "x" * 1_000_000 + " bufsz=0x1\n",
        ("segment[" * 200_000) + "\n",
        "a: " * 300_000 + "nr_segments = 1\n",
    ):
        started = time.perf_counter()
        with pytest.raises(InputError, match=r"^k:1: "):
            parse_kexec(text, "k")
        assert time.perf_counter() - started < 1.0
