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
  entries, which are not entries. Types are compared with their white space collapsed;
- a few quirks take RAM with a line of their own and no update line (Intel graphics stolen
  memory, a GART aperture, the Pentium Pro hole): what they name is reserved.

The updates are KERN_DEBUG: a log filtered by level shows the table without them, so a boot
without trim_bios_range()'s remove of 0xa0000-0xfffff (every boot prints it) is refused, as is anything a
kernel does not print: a table line without its header, a table going back or empty, an update
of a type no kernel prints, the format before 3.8 (e820lines.py holds what kernels print).
A boot must reach mm_init()'s `Memory: …K/…K available`, printed once setup_arch() is done
with the table: a boot whose log ends before it was cut short (`dmesg | head`), and the MTRR
trims and EFI reservations after the cut are missing.

A log can hold several boots (kern.log, `journalctl -k` without `-b`, serial captures); only
the last one counts, and the map says so in its note. A boot starts at its banner, a journal
separator, a second firmware table, or a dmesg clock seconds back (its banner lost in a wrapped
buffer). Every line is read in time linear in its length: fixed words are found with `str`
methods, and regexes are anchored and never search.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pmpoolctl.errors import InputError
from pmpoolctl.files.inputs import numbered_lines
from pmpoolctl.memmap.e820lines import (
    ADD_EFI_MEMMAP,
    COMMAND_LINES,
    EFI_BANNER,
    END_OF_SETUP,
    FILTERED_HINT,
    FIRMWARE,
    HEADERS,
    KERNEL_RELEASE,
    LEGACY_LINE,
    MARKERS,
    PPRO_HOLE,
    PPRO_LINE,
    RESERVING_LINES,
    SOFT_RESERVE_SINCE,
    TABLE_LINE,
    TRIM_REMOVE,
    UPDATE_LINE,
    WHO_OF,
    vocabulary,
)
from pmpoolctl.memmap.kernlog import JOURNAL_BOOT_SEPARATORS, dmesg_seconds, is_comment, kernel_message
from pmpoolctl.memmap.model import RAM, RAM_TYPES, RESERVED, MapEntry, MemoryMap, inclusive_span, sorted_entries
from pmpoolctl.numbers import U64_LIMIT
from pmpoolctl.text import printable

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
    firmware: int = 0  # the line of its firmware table's header, once seen
    table: str = ""  # the table that governs, and where it starts
    table_line: int = 0
    segments: list[MapEntry] = field(default_factory=list)
    trimmed: bool = False  # trim_bios_range()'s remove of [0xa0000, 0x100000) was seen
    vocabulary: str = ""  # whose type words its tables print: `6.x` or `rework`, once a word says
    setup_done: int = 0  # the line of its `Memory: …K/…K available`, once seen after its table
    release: tuple[int, int] | None = None  # its banner's kernel release, once seen
    efi: bool = False  # an EFI boot
    add_efi_memmap: int = 0  # the line of a command line with add_efi_memmap

    @property
    def content(self) -> bool:
        return bool(self.table or self.segments)


@dataclass
class _Open:
    """The table being printed: which one, its header's line, who prints it (once seen), its last line."""

    table: str
    line: int
    who: str | None = None
    end: int = 0
    last_line: int = 0
    entries: int = 0


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
        self.last_line = 0  # the last line that is not blank: where a log cut short ends
        self.seconds = 0  # the last dmesg stamp's seconds

    def refuse(self, lineno: int, why: str) -> InputError:
        return InputError(f"{self.source}:{lineno}: {why}")

    def close_table(self) -> None:
        """The table being printed ends: one without entries is not what a kernel prints."""
        opened, self.open = self.open, None
        if opened is not None and not opened.entries:
            raise self.refuse(opened.line, f"the {opened.table} table has no entries (a kernel prints none empty)")

    def new_boot(self, lineno: int) -> None:
        self.close_table()
        self.boot = _Boot(lineno)
        self.boots += 1

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

    def clock_reset(self, lineno: int) -> None:
        """A new boot starts here, unless the boot so far holds nothing (a separator or a banner just started it)."""
        if self.boot.content:
            self.new_boot(lineno)
        elif not self.boot.marked:
            self.boot.line = lineno
        self.boot.marked = True

    def start_table(self, lineno: int, table: str) -> None:
        self.close_table()
        if table == FIRMWARE:
            if self.boot.firmware:  # a boot prints its firmware table once: this is the next boot
                self.new_boot(lineno)
            self.boot.firmware = lineno
            self.boot.trimmed = False  # the trim comes after the firmware table
        boot = self.boot
        boot.table, boot.table_line, boot.segments = table, lineno, []
        self.any_table = True
        self.open = _Open(table, lineno)

    def type_word(self, text: str) -> str:
        """`text` with its white space collapsed, one string per distinct text."""
        word = self.types.get(text)
        if word is None:
            word = self.types[text] = printable(" ".join(text.split()))
        return word

    def line(self, lineno: int, line: str) -> None:
        if not line or is_comment(line):
            return
        self.last_line = lineno
        if line.startswith(JOURNAL_BOOT_SEPARATORS):
            self.mark_boot(lineno, banner=False)
            return
        seconds = dmesg_seconds(line)
        if seconds is not None:
            # The kernel's clock never goes back in a boot (CPUs differ by microseconds): a stamp
            # seconds before the last is the next boot's, even when its banner was lost (`cat` of
            # two dmesg captures, the second one's ring buffer wrapped).
            if seconds + 1 < self.seconds:
                self.clock_reset(lineno)
            self.seconds = seconds
        message = kernel_message(line)
        if (match := TABLE_LINE.match(message)) is not None:
            self.table_line(lineno, match, message[match.end() :])
        elif (match := UPDATE_LINE.match(message)) is not None:
            self.update_line(lineno, match, message[match.end() :])
        elif message.startswith("Linux version "):
            self.mark_boot(lineno, banner=True)
            if (release := KERNEL_RELEASE.match(message)) is not None:
                self.boot.release = (int(release[1]), int(release[2]))
        elif message.startswith(EFI_BANNER):
            self.boot.efi = True
        elif message.startswith(COMMAND_LINES):
            if ADD_EFI_MEMMAP in message.split():
                self.boot.add_efi_memmap = lineno
        elif message.startswith("Memory: ") and END_OF_SETUP.match(message) is not None:
            if self.boot.table:
                self.boot.setup_done = lineno
        elif message.endswith(":") and (table := HEADERS.get(message.removeprefix("e820: "))) is not None:
            self.start_table(lineno, table)
        elif message.startswith(("Reserving ", "AGP: ", "e820: reserve [", "Mapping ", "Applying PPro")):
            self.reserving_line(lineno, message)
        elif LEGACY_LINE.match(message) is not None:
            raise self.refuse(
                lineno,
                "an e820 line as kernels before 3.8 print it (`START - END (TYPE)`), which pmpoolctl does not "
                "read; give a map that this kernel's /proc/iomem or /sys/firmware/memmap shows",
            )
        elif any(marker in message for marker in MARKERS):
            raise self.refuse(
                lineno,
                f"an e820 line not as the kernel prints it (cut short, or behind a prefix this reader does not "
                f"know): {message[:80]!r}; give lines as dmesg, syslog or journalctl print them",
            )

    def table_line(self, lineno: int, match: re.Match[str], rest: str) -> None:
        who, what, start_hex, last_hex = match.groups()
        start, last = int(start_hex, 16), int(last_hex, 16)
        if last < start or last >= U64_LIMIT:
            inclusive_span(start, last, f"{self.source}:{lineno}")  # raises, naming the line
        opened = self.open
        # Every table the kernel prints has its header first, one printer, and ascending entries
        # (it prints a sanitized table): anything else is a log cut short, filtered, or mixed.
        if opened is None:
            raise self.refuse(
                lineno, f"a '{who}:' e820 table line with no table header before it in its boot (the log is cut)"
            )
        if who not in WHO_OF[opened.table] or opened.who not in (None, who):
            raise self.refuse(lineno, f"a '{who}:' line in the {opened.table} table from line {opened.line}")
        if start < opened.end:
            raise self.refuse(
                lineno, f"the {opened.table} table goes back: {start:#x} is below the end of line {opened.last_line}"
            )
        opened.who, opened.end, opened.last_line = who, last + 1, lineno
        if what == "gap":  # the rework prints the holes between entries: not entries
            return
        type_word = self.types.get(rest) or self.type_word(rest)
        if not type_word:
            raise self.refuse(lineno, "an e820 table line without a type")
        opened.entries += 1
        if not self.boot.vocabulary:
            self.boot.vocabulary = vocabulary(type_word) or ""
        where = f"{self.source}:{lineno}"
        self.boot.segments.append(MapEntry(start, last + 1, type_word, _kind(type_word), where))

    def update_line(self, lineno: int, match: re.Match[str], rest: str) -> None:
        self.close_table()
        where = f"{self.source}:{lineno}"
        segments = self.boot.segments
        self.work += len(segments)
        if self.work > MAX_E820_WORK:
            raise InputError(
                f"{where}: too many e820 update/remove lines for a table of {len(segments)} entries "
                "(a kernel's e820 table holds a few thousand); not a kernel log"
            )
        start, end = inclusive_span(int(match[2], 16), int(match[3], 16), where)
        if match[1] == "remove":
            if (start, end) == TRIM_REMOVE:
                self.boot.trimmed = True
            removed = self.type_word(rest) or None
            if removed is not None:
                self.check_old_type(lineno, removed)
            self.boot.segments = _retype(segments, start, end, removed, None, where)
            return
        old, arrow, new = rest.partition("==>")
        old_type, new_type = self.type_word(old), self.type_word(new)
        if not arrow or not old_type or not new_type:
            raise InputError(f"{where}: an e820 update line without 'OLD ==> NEW' types")
        self.check_old_type(lineno, old_type)
        if old_type != new_type:  # `usable ==> usable` (RAM the kernel keeps for itself) changes nothing
            self.boot.segments = _retype(segments, start, end, old_type, new_type, where)

    def check_old_type(self, lineno: int, type_word: str) -> None:
        """The type an update or remove changes is one the boot's kernel prints: else it would change nothing."""
        words = vocabulary(type_word)
        if words is None:
            raise self.refuse(
                lineno, f"an e820 update or remove of type {type_word[:40]!r}, which no kernel prints (cut short?)"
            )
        if words and self.boot.vocabulary and words != self.boot.vocabulary:
            raise self.refuse(
                lineno,
                f"an e820 update or remove of type {type_word!r}, a word of another kernel than the one that "
                f"printed this boot's table ({self.boot.vocabulary} words): two logs mixed",
            )

    def reserving_line(self, lineno: int, message: str) -> None:
        """A quirk that takes RAM from the table without an update line: what it names is reserved."""
        where = f"{self.source}:{lineno}"
        if message == PPRO_LINE:
            span = PPRO_HOLE
        else:
            match = next((m for pattern in RESERVING_LINES if (m := pattern.match(message)) is not None), None)
            if match is None:
                if any(marker in message for marker in MARKERS):
                    raise self.refuse(lineno, f"a line reserving memory, not as the kernel prints it: {message[:80]!r}")
                return  # another `AGP: `, `Reserving …` or `Mapping …` message: not about the map
            span = inclusive_span(int(match[1], 16), int(match[2], 16), where)
        self.close_table()
        self.work += len(self.boot.segments)
        self.boot.segments = _reserve(self.boot.segments, *span, where)

    def result(self) -> MemoryMap:
        self.close_table()
        boot = self.boot
        if not boot.table:
            if self.any_table:
                raise InputError(
                    f"{self.source}:{boot.line}: the last of {self.boots} boots (from line {boot.line}) prints no "
                    "e820 table; give one boot's log (e.g. journalctl -k -b, or dmesg)"
                )
            raise InputError(f"{self.source}: no 'BIOS-e820: [mem …] TYPE' lines: not an e820 kernel log")
        # Only the remove is required: kernels with bde9cfa3afe4 (late 2020 to its revert in 5.11, and
        # stable kernels of early 2021) leave page 0 alone and print no update for it.
        if not boot.trimmed:
            line = boot.firmware or boot.table_line
            raise self.refuse(
                line,
                f"the boot from line {boot.line} prints its e820 table but not the 'e820: remove [mem "
                "0x000a0000-0x000fffff]' line every x86 kernel prints after it at debug level: debug messages "
                "were filtered out of this log (dmesg --level, "
                "journald's MaxLevelStore, syslog, a console's loglevel, grep), and with them any other update "
                f"that takes RAM away; {FILTERED_HINT}",
            )
        if not boot.setup_done:
            raise self.refuse(
                self.last_line,
                f"the log ends before the boot from line {boot.line} prints 'Memory: …K/…K available', which every "
                "kernel prints once its e820 table is final: the log is cut short (head, a partial copy), and any "
                "update after the cut that takes RAM away (an MTRR trim, an EFI reservation) is missing; give the "
                "whole log",
            )
        if boot.add_efi_memmap:
            raise self.refuse(
                boot.add_efi_memmap,
                "the boot's command line has add_efi_memmap: the kernel added the EFI memory map to its e820 "
                "table without printing it, so the log does not say the table; give /proc/iomem",
            )
        notes = []
        if self.boots > 1:
            notes.append(f"last of {self.boots} boots, from line {boot.line}")
        if boot.table != FIRMWARE:
            notes.append(f"the {boot.table} table from line {boot.table_line}")
        if boot.efi and (boot.release is None or boot.release >= SOFT_RESERVE_SINCE):
            # Said, not refused: most EFI machines have no such memory, and the log cannot tell which do.
            notes.append(
                "an EFI boot: memory the firmware marks specific-purpose is soft reserved without a log line, "
                "and reads as RAM here (/proc/iomem shows it)"
            )
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


def _reserve(segments: list[MapEntry], start: int, end: int, where: str) -> list[MapEntry]:
    """The segments with [start, end) reserved where it was RAM or nothing (e820__range_add, then sanitize)."""
    for ram in RAM_TYPES:
        segments = _retype(segments, start, end, ram, "reserved", where)
    covered = sorted((max(s.start, start), min(s.end, end)) for s in segments if s.start < end and start < s.end)
    at = start
    for low, high in covered:
        if at < low:
            segments.append(MapEntry(at, low, "reserved", RESERVED, where))
        at = max(at, high)
    if at < end:
        segments.append(MapEntry(at, end, "reserved", RESERVED, where))
    return segments
