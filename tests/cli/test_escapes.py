"""Strings from input are escaped wherever they are printed: no terminal control, no forged line, valid XML.

A memory map's type words, a file's name, a number in a batch, a blob's strings: each is the
writer's, and each reaches a terminal, a CI log or a JUnit report. Every one is shown as one
printable line (`\\x1b`, `\\u202e` for what is not printable), the same way in text, JSON and JUnit.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, run_cli

REPO = Path(__file__).resolve().parents[2]
GOOD = EXAMPLES / "pool.dtb"  # RAM from the blob's memory: [0, 3 GiB) and [4 GiB, 21 GiB)
HOSTILE = "\x1b]0;owned\x07\x1b[2J\u202eevil\nerror: forged\r"
SHOWN = "\\x1b]0;owned\\x07\\x1b[2J\\u202eevil\\x0aerror: forged\\x0d"


def no_controls(text: str) -> None:
    """Nothing that drives a terminal or splits a line, but the newlines between lines."""
    for line in text.split("\n"):
        assert line.isprintable(), repr(line)


def maps(tmp_path: Path) -> dict[str, Path]:
    """A map of each text format whose reserved entry's type word is HOSTILE (over the pool's first range)."""
    iomem = tmp_path / "iomem.txt"
    iomem.write_text(f"00000000-ffffffff : System RAM\n100000000-1001fffff : {HOSTILE.replace(chr(10), ' ')}\n")
    e820 = tmp_path / "e820.log"
    word = HOSTILE.replace("\n", " ").replace("\r", " ")
    e820.write_text(
        "BIOS-provided physical RAM map:\n"
        "BIOS-e820: [mem 0x0000000000000000-0x00000000ffffffff] usable\n"
        f"BIOS-e820: [mem 0x0000000100000000-0x00000001001fffff] {word}\n"
        "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved\n"
        "e820: remove [mem 0x000a0000-0x000fffff] usable\n"
        "Memory: 3218364K/4193784K available (18467K kernel code, 496316K reserved)\n"
    )
    as_json = tmp_path / "map.json"
    as_json.write_text(
        json.dumps(
            [{"start": 0, "end": "0x100000000", "type": "System RAM"}, {"start": "4G", "size": "2M", "type": HOSTILE}]
        )
    )
    sysfs = tmp_path / "memmap"
    for index, (start, end, kind) in enumerate(
        [("0x0", "0xffffffff", "System RAM"), ("0x100000000", "0x1001fffff", word)]
    ):
        (sysfs / str(index)).mkdir(parents=True)
        for field, value in (("start", start), ("end", end), ("type", kind)):
            (sysfs / str(index) / field).write_text(value + "\n")
    return {"iomem": iomem, "e820": e820, "json": as_json, "firmware-memmap": sysfs}


@pytest.mark.parametrize("fmt", ["iomem", "e820", "json", "firmware-memmap"])
def test_map_type_words_are_escaped_in_text_json_and_junit(tmp_path: Path, fmt: str) -> None:
    source = maps(tmp_path)[fmt]
    shown = run_cli(["memmap", str(source)])
    assert shown.exit_code == 0, shown.stderr
    no_controls(shown.stdout)
    assert "\\x1b" in shown.stdout
    report = tmp_path / "r.xml"
    checked = run_cli(["validate", str(GOOD), "--memmap", str(source), "--junit", str(report)])
    assert checked.exit_code == 1, checked.stderr
    no_controls(checked.stdout)
    assert "\\x1b" in checked.stdout
    root = ET.fromstring(report.read_bytes())  # well-formed XML, whatever the type word held
    failure = next(iter(root.iter("failure")))
    no_controls(failure.get("message") or "")
    as_json = json.loads(run_cli(["validate", str(GOOD), "--memmap", str(source), "--json"]).stdout)
    for finding in as_json["findings"]:
        no_controls(finding["message"])
        no_controls(finding["conflict"]["type"])


def test_a_batch_string_cannot_forge_an_error_line(tmp_path: Path, pool_blob: Path) -> None:
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps([{"base": "0x1000\nerror: all fine, nothing to see", "size": 4096}]))
    run = run_cli(["add-range", str(pool_blob), "--from", str(batch)])
    assert run.exit_code == 3
    assert len(run.stderr.splitlines()) == 1 and "\\n" in run.stderr


def test_numbers_in_arguments_are_quoted_escaped() -> None:
    run = run_cli(["add-range", str(GOOD), "0x1000\x1b[2J", "4096"])
    assert run.exit_code == 2
    assert len(run.stderr.splitlines()) == 1 and "\x1b" not in run.stderr and "\\x1b" in run.stderr


def test_an_error_is_one_line_whatever_a_message_holds(tmp_path: Path) -> None:
    """The last line of defence: a message that still held a control character is escaped by the CLI."""
    missing = tmp_path / "gone\n\x1b[31m.dtb"
    proc = subprocess.run(
        [sys.executable, "-m", "pmpoolctl", "dump", str(missing)], capture_output=True, cwd=REPO, check=False
    )
    assert proc.returncode == 3
    assert proc.stderr.count(b"\n") == 1 and b"\x1b" not in proc.stderr


@pytest.mark.parametrize("option", ["--memmap=", "--kho=", "--next-kernel=", "--junit="])
def test_an_empty_file_name_is_shown_as_one(option: str) -> None:
    # On main: "error: : cannot read: ...", a line that names no file.
    run = run_cli(["validate", str(EXAMPLES / "pool.dtb"), "--memmap", str(EXAMPLES / "memmap" / "iomem.txt"), option])
    assert run.exit_code == 3, (run.exit_code, run.stderr)
    assert run.stderr.startswith("error: '': ") and run.stderr.count("\n") == 1, run.stderr
