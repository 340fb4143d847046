"""The e820 map from a kernel log: the table the kernel itself ends up using, for the last boot.

What the kernel prints (arch/x86/kernel/e820.c):

- a table is a header (`BIOS-provided physical RAM map:`, `user-defined …` after memmap= or
  mem=, `extended …` for setup_data E820 extensions, `modified …`) and one line per entry,
  `WHO: [mem %#018Lx-%#018Lx] TYPE` with an inclusive end. Each table is the whole of the
  kernel's table at that moment, so the last one printed replaces everything before it;
- `e820: update [mem …] OLD ==> NEW` and `e820: remove [mem …] [TYPE]` change it after that,
  in order (a few address the kexec copy of the table instead, and only ever take RAM away
  there: applying them too is the safe side);
- up to 6.x the types are `usable`, `reserved`, `ACPI data`, …; since the 2025-26 x86 boot
  rework two spaces, then `System RAM`, `device reserved`, …, and `WHO: [gap …]` lines between
  entries, which are not entries. Types are compared with their white space collapsed.

A log can hold several boots (kern.log, `journalctl -k` without `-b`, serial captures); only
the last one counts, and the map says so in its note. Every line is read in time linear in its
length: fixed words are found with `str` methods, and regexes are anchored and never search.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pmpoolctl.errors import InputError
from pmpoolctl.files.inputs import numbered_lines
from pmpoolctl.memmap.kernlog import JOURNAL_BOOT_SEPARATORS, is_comment, kernel_message
from pmpoolctl.memmap.model import RAM, RAM_TYPES, RESERVED, MapEntry, MemoryMap, inclusive_span, sorted_entries
from pmpoolctl.numbers import U64_LIMIT
from pmpoolctl.text import printable

FIRMWARE = "firmware"
# Who prints each table (the firmware's: BIOS-e820, the e801/88 fallbacks, or Xen's), and
# which table it is; the headers that come before them.
_TABLE_OF = {
    "BIOS-e820": FIRMWARE,
    "BIOS-e801": FIRMWARE,
    "BIOS-88": FIRMWARE,
    "Xen": FIRMWARE,
    "user": "user-defined (memmap=/mem=)",
    "extended": "extended",
    "reserve setup_data": "extended",  # the extended table's name before 6.x
    "modified": "modified",
}
_HEADERS = {
    "BIOS-provided physical RAM map:": FIRMWARE,
    "user-defined physical RAM map:": _TABLE_OF["user"],
    "extended physical RAM map:": "extended",
    "modified physical RAM map:": "modified",
}

_HEX_SPAN = r"0x([0-9a-fA-F]+)-0x([0-9a-fA-F]+)\]"
_TABLE_LINE = re.compile(r"(" + "|".join(_TABLE_OF) + r"): \[(mem|gap) " + _HEX_SPAN)
_UPDATE_LINE = re.compile(r"e820: (update|remove) \[mem " + _HEX_SPAN)
# An e820 line that does not read (cut short, or behind a prefix this reader does not know) is
# refused, never skipped: a skipped `usable ==> reserved` would leave RAM that is not.
_MARKERS = ("BIOS-e820: [", "e820: update [", "e820: remove [", "user: [mem", "extended: [mem", "modified: [mem")

# Each update/remove line visits every segment; this bounds a hostile log's cost to seconds.
MAX_E820_WORK = 20_000_000


def _kind(type_word: str) -> str:
    """RAM for either vocabulary's RAM word (`usable`, `System RAM`); anything else is not."""
    return RAM if type_word in RAM_TYPES else RESERVED


@dataclass
class _Boot:
    """One boot as the log goes: where it started, and its table so far."""

    line: int  # where the boot starts
    marked: bool = False  # a banner or a journal separator started it
    banner: bool = False  # a `Linux version` line was seen
    firmware: bool = False  # its firmware table was seen
    table: str = ""  # the table that governs, and where it starts
    table_line: int = 0
    segments: list[MapEntry] = field(default_factory=list)

    @property
    def content(self) -> bool:
        return bool(self.table or self.segments)


@dataclass
class _Open:
    """The table being printed: which one, who prints it (once seen), where its last line ended."""

    table: str
    who: str | None = None
    end: int = 0


class _Reader:
    """The state of a log read line by line: the current boot and the table being printed."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.boot = _Boot(1)
        self.boots = 1
        self.any_table = False
        self.open: _Open | None = None
        self.work = 0  # segments visited by update/remove lines: each visits them all
        self.types: dict[str, str] = {}  # one string per type word, not one per line

    def new_boot(self, lineno: int) -> None:
        self.boot = _Boot(lineno)
        self.boots += 1
        self.open = None

    def mark_boot(self, lineno: int, banner: bool) -> None:
        """A banner (`Linux version`) or a journal separator: a boot starts, unless one just did."""
        boot = self.boot
        if boot.content or (boot.banner if banner else boot.marked):
            self.new_boot(lineno)
            boot = self.boot
        elif not boot.marked:
            boot.line = lineno
        boot.marked = True
        boot.banner = boot.banner or banner

    def start_table(self, lineno: int, table: str) -> None:
        if table == FIRMWARE:
            if self.boot.firmware:  # a boot prints its firmware table once: this is the next boot
                self.new_boot(lineno)
            self.boot.firmware = True
        boot = self.boot
        boot.table, boot.table_line, boot.segments = table, lineno, []
        self.any_table = True
        self.open = _Open(table)

    def type_word(self, text: str) -> str:
        """`text` with its white space collapsed, one string per distinct text."""
        word = self.types.get(text)
        if word is None:
            word = self.types[text] = printable(" ".join(text.split()))
        return word

    def line(self, lineno: int, line: str) -> None:
        if not line or is_comment(line):
            return
        if line.startswith(JOURNAL_BOOT_SEPARATORS):
            self.mark_boot(lineno, banner=False)
            return
        message = kernel_message(line)
        if (match := _TABLE_LINE.match(message)) is not None:
            self.table_line(lineno, match, message[match.end() :])
        elif (match := _UPDATE_LINE.match(message)) is not None:
            self.update_line(f"{self.source}:{lineno}", match, message[match.end() :])
        elif message.startswith("Linux version "):
            self.mark_boot(lineno, banner=True)
        elif message.endswith(":") and (table := _HEADERS.get(message.removeprefix("e820: "))) is not None:
            self.start_table(lineno, table)
        elif any(marker in message for marker in _MARKERS):
            raise InputError(
                f"{self.source}:{lineno}: an e820 line not as the kernel prints it (cut short, or behind a prefix "
                f"this reader does not know): {message[:80]!r}; give lines as dmesg, syslog or journalctl print them"
            )

    def table_line(self, lineno: int, match: re.Match[str], rest: str) -> None:
        who, what, start_hex, last_hex = match.groups()
        start, last = int(start_hex, 16), int(last_hex, 16)
        if last < start or last >= U64_LIMIT:
            inclusive_span(start, last, f"{self.source}:{lineno}")  # raises, naming the line
        end = last + 1
        table, opened = _TABLE_OF[who], self.open
        # A table's lines come in address order: a line that goes back starts the next table
        # (a log cut down to its BIOS-e820 lines by grep still has one table per boot).
        if opened is None or opened.table != table or opened.who not in (None, who) or start < opened.end:
            self.start_table(lineno, table)
            opened = self.open
            assert opened is not None
        opened.who, opened.end = who, end
        if what == "gap":  # the rework prints the holes between entries: not entries
            return
        type_word = self.types.get(rest) or self.type_word(rest)
        if not type_word:
            raise InputError(f"{self.source}:{lineno}: an e820 table line without a type")
        self.boot.segments.append(MapEntry(start, end, type_word, _kind(type_word), f"{self.source}:{lineno}"))

    def update_line(self, where: str, match: re.Match[str], rest: str) -> None:
        self.open = None
        segments = self.boot.segments
        self.work += len(segments)
        if self.work > MAX_E820_WORK:
            raise InputError(
                f"{where}: too many e820 update/remove lines for a table of {len(segments)} entries "
                "(a kernel's e820 table holds a few thousand); not a kernel log"
            )
        start, end = inclusive_span(int(match[2], 16), int(match[3], 16), where)
        if match[1] == "remove":
            self.boot.segments = _retype(segments, start, end, self.type_word(rest) or None, None, where)
            return
        old, arrow, new = rest.partition("==>")
        old_type, new_type = self.type_word(old), self.type_word(new)
        if not arrow or not old_type or not new_type:
            raise InputError(f"{where}: an e820 update line without 'OLD ==> NEW' types")
        if old_type != new_type:  # `usable ==> usable` (RAM the kernel keeps for itself) changes nothing
            self.boot.segments = _retype(segments, start, end, old_type, new_type, where)

    def result(self) -> MemoryMap:
        boot = self.boot
        if not boot.table:
            if self.any_table:
                raise InputError(
                    f"{self.source}:{boot.line}: the last of {self.boots} boots (from line {boot.line}) prints no "
                    "e820 table; give one boot's log (e.g. journalctl -k -b, or dmesg)"
                )
            raise InputError(f"{self.source}: no 'BIOS-e820: [mem …] TYPE' lines: not an e820 kernel log")
        notes = []
        if self.boots > 1:
            notes.append(f"last of {self.boots} boots, from line {boot.line}")
        if boot.table != FIRMWARE:
            notes.append(f"the {boot.table} table from line {boot.table_line}")
        return MemoryMap(self.source, "e820", sorted_entries(boot.segments), "; ".join(notes))


def parse_e820(text: str, source: str) -> MemoryMap:
    """The last boot's e820 table in a kernel log, with its updates and removes applied in order."""
    reader = _Reader(source)
    for lineno, line in numbered_lines(text):
        reader.line(lineno, line)
    return reader.result()


def _retype(
    segments: list[MapEntry], start: int, end: int, old_type: str | None, new_type: str | None, where: str
) -> list[MapEntry]:
    """The segments with [start, end) of `old_type` (None: any) given `new_type` (None: removed)."""
    result: list[MapEntry] = []
    for seg in segments:
        if (old_type is not None and seg.type != old_type) or seg.end <= start or end <= seg.start:
            result.append(seg)
            continue
        if seg.start < start:
            result.append(MapEntry(seg.start, start, seg.type, seg.kind, seg.source))
        if new_type is not None:
            result.append(MapEntry(max(seg.start, start), min(seg.end, end), new_type, _kind(new_type), where))
        if end < seg.end:
            result.append(MapEntry(end, seg.end, seg.type, seg.kind, seg.source))
    return result
