"""The segments a kexec load writes: `kexec -l ... -d` (and `kexec -s ... -d`) output, read as a map.

What prints them:

- kexec-tools (kexec/kexec.c, print_segments), on stderr for a `kexec_load` (`-l`, `-p`, and
  `-s` falling back to it), after `kexec_load: entry = %p flags = 0x%lx`::

      nr_segments = 4
      segment[0].buf   = 0x7f3c2a400010
      segment[0].bufsz = 0x1a2b3c
      segment[0].mem   = 0x3fe00000
      segment[0].memsz = 0x1a3000

  `%p` is glibc's: `0x…`, or `(nil)` for 0. On failure (`kexec_load failed: …`) the same list
  is printed again;
- the kernel (Linux 6.8+, kexec_file_load with KEXEC_FILE_DEBUG, which `kexec -s -d` passes; and
  kexec_load with KEXEC_DEBUG), in the kernel log, each line behind `kexec_file: ` or another
  prefix::

      kexec_file: nr_segments = 4
      kexec_file: segment[0]: buf=0x00000000c1a4d2e7 bufsz=0x1a2b3c mem=0x3fe00000 memsz=0x1a3000
      kexec_file: kexec_file_load: type:0, start:0x3ff8a000 head:0x10a2e4002 flags:0x8

  (`buf` is a hashed kernel pointer, read as a word and not used).

A load is an `nr_segments = N` line and its N segments. A capture can hold several (a load
replaced by the next, a crash kernel loaded with `-p`): the last load of each kind counts, the
kind told by kexec-tools' flags (KEXEC_ON_CRASH) or the kernel's `type:` (1 is a crash kernel).
A line that starts to say a segment and does not read is refused, never skipped: a segment
skipped is memory the next kernel is written to that the pool is not held against. Lines are
read in time linear in their length (anchored regexes, fixed words found with `str` methods).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from pmpoolctl.errors import InputError
from pmpoolctl.files.inputs import numbered_lines
from pmpoolctl.memmap.kernlog import is_comment, kernel_message
from pmpoolctl.memmap.model import KEXEC, MapEntry, MemoryMap, sorted_entries
from pmpoolctl.numbers import U64_LIMIT

# The kernel's KEXEC_SEGMENT_MAX and kexec-tools' KEXEC_MAX_SEGMENTS.
MAX_SEGMENTS = 16
KEXEC_ON_CRASH = 0x1  # kexec-tools' flags, as passed to kexec_load
KEXEC_TYPE_CRASH = 1  # the kernel's image type in `kexec_file_load: type:%u`

# What may come before the kernel's message words: a prefix such as `kexec_file: `,
# `kexec_file(Image): `, `kexec: `, bounded.
_PREFIX = r"(?:[A-Za-z0-9_()\-]{1,40}: )?"
_HEX = r"0x([0-9a-fA-F]+)"
_NR_LINE = re.compile(_PREFIX + r"nr_segments = (\d+)\Z")
_TOOL_LINE = re.compile(r"segment\[(\d+)\]\.(buf|bufsz|mem|memsz) *= (?:" + _HEX + r"|(\(nil\)))\Z")
_KERNEL_LINE = re.compile(
    _PREFIX + r"segment\[(\d+)\]: buf=\S+ bufsz=" + _HEX + " mem=" + _HEX + " memsz=" + _HEX + r"\Z"
)
_TOOL_LOAD = re.compile(r"kexec_load: entry = \S+ flags = " + _HEX + r"\Z")
_KERNEL_TYPE = re.compile(_PREFIX + r"kexec_file_load: type:(\d+),")
_FAILED = ("kexec_load failed:", "kexec_file_load failed:")
_FIELDS = ("buf", "bufsz", "mem", "memsz")  # kexec-tools' order, for each segment
DEFAULT, CRASH = "kexec", "kexec -p (crash kernel)"


@dataclass
class _Load:
    """One load as the capture goes: its segments, how many it said, where it started."""

    line: int
    count: int
    crash: bool
    kernel: bool = False  # the kernel's lines, not kexec-tools'
    segments: list[MapEntry] = field(default_factory=list)
    index: int = 0  # the segment being read
    next_field: int = 0  # kexec-tools' field expected next (index into _FIELDS)
    bufsz: int = 0
    mem: int = 0
    mem_where: str = ""

    @property
    def complete(self) -> bool:
        return self.index == self.count and self.next_field == 0


def _hex(digits: str, where: str) -> int:
    if len(digits) > 16:
        raise InputError(f"{where}: {len(digits)} hex digits do not fit in 64 bits")
    return int(digits, 16)


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.load: _Load | None = None
        self.last: dict[bool, _Load] = {}  # the last complete load, by crash or not
        self.loads = 0
        self.last_line = 0  # the last line that is not blank: where a capture cut short ends
        self.untyped: _Load | None = None  # the kernel's last load, until its `type:` line says its kind
        self.crash_flags: bool | None = None  # from the `kexec_load: entry = … flags = …` just before

    def where(self, lineno: int) -> str:
        return f"{self.source}:{lineno}"

    def line(self, lineno: int, line: str) -> None:
        if not line.strip() or is_comment(line):
            return
        self.last_line = lineno
        message = kernel_message(line)
        if message.startswith(_FAILED):
            raise InputError(
                f"{self.where(lineno)}: the load failed ({message[:80]!r}): these segments were never loaded, "
                "and the kernel that is loaded, if any, is not the one listed"
            )
        if "segment[" in message:
            self.segment_line(lineno, message)
        elif "nr_segments" in message:
            match = _NR_LINE.match(message)
            if match is None:
                raise InputError(f"{self.where(lineno)}: not 'nr_segments = N': {message[:80]!r}")
            self.start_load(lineno, int(match[1]) if len(match[1]) < 6 else MAX_SEGMENTS + 1)
        elif message.startswith("kexec_load: entry"):
            tool = _TOOL_LOAD.match(message)
            if tool is None:
                raise InputError(f"{self.where(lineno)}: not 'kexec_load: entry = ADDR flags = 0xN': {message[:80]!r}")
            self.crash_flags = bool(_hex(tool[1], self.where(lineno)) & KEXEC_ON_CRASH)
        elif "kexec_file_load: type:" in message:
            kernel = _KERNEL_TYPE.match(message)
            if kernel is None:
                raise InputError(f"{self.where(lineno)}: not 'kexec_file_load: type:N, …': {message[:80]!r}")
            self.kernel_type(lineno, int(kernel[1]) if len(kernel[1]) < 6 else -1)

    def start_load(self, lineno: int, count: int) -> None:
        self.finish(lineno)
        if count > MAX_SEGMENTS:
            raise InputError(
                f"{self.where(lineno)}: more than {MAX_SEGMENTS} segments (the kernel's KEXEC_SEGMENT_MAX)"
            )
        self.load = _Load(lineno, count, bool(self.crash_flags))
        self.crash_flags = None
        self.loads += 1
        if count == 0:
            self.finish(lineno)

    def finish(self, lineno: int) -> None:
        """The load being read ends here: it must have listed every segment it said it has.

        The kernel says a load's type after its segments: its load waits for that line
        (`untyped`) and, when none comes, counts as a default one.
        """
        load = self.load
        if load is None:
            return
        if not load.complete:
            raise InputError(
                f"{self.where(lineno)}: the load from line {load.line} lists {load.index} of its {load.count} "
                "segments (a capture cut short?)"
            )
        self.load = None
        _refuse_overlaps(load, self.source)
        self.commit_untyped()
        if load.kernel:
            self.untyped = load
        else:
            self.last[load.crash] = load

    def commit_untyped(self) -> None:
        if self.untyped is not None:
            self.last[self.untyped.crash] = self.untyped
            self.untyped = None

    def segment_line(self, lineno: int, message: str) -> None:
        where = self.where(lineno)
        tool = _TOOL_LINE.match(message)
        kernel = None if tool is not None else _KERNEL_LINE.match(message)
        if tool is None and kernel is None:
            raise InputError(
                f"{where}: a segment line not as kexec-tools or the kernel prints it "
                f"('segment[N].mem   = 0x…' or 'segment[N]: buf=… bufsz=0x… mem=0x… memsz=0x…'): {message[:80]!r}"
            )
        load = self.load
        if load is None:
            raise InputError(f"{where}: a segment line before any 'nr_segments = N' line")
        number_text = (tool or kernel)[1]  # type: ignore[index]
        number = int(number_text) if len(number_text) < 6 else -1
        if number != load.index:
            raise InputError(f"{where}: segment[{number_text[:8]}] where segment[{load.index}] comes next")
        if kernel is not None:
            load.kernel = True
            bufsz, mem, memsz = (_hex(kernel[i], where) for i in (2, 3, 4))
            self.add_segment(load, mem, memsz, bufsz, where)
            return
        assert tool is not None
        name = tool[2]
        if load.kernel:
            raise InputError(f"{where}: kexec-tools' segment line in the kernel's list of segments")
        if name != _FIELDS[load.next_field]:
            expected = _FIELDS[load.next_field]
            raise InputError(f"{where}: segment[{number}].{name} where segment[{number}].{expected} comes next")
        value = 0 if tool[4] is not None else _hex(tool[3], where)
        if name == "bufsz":
            load.bufsz = value
        elif name == "mem":
            load.mem, load.mem_where = value, where
        elif name == "memsz":
            self.add_segment(load, load.mem, value, load.bufsz, load.mem_where)
            return
        load.next_field += 1

    def add_segment(self, load: _Load, mem: int, memsz: int, bufsz: int, where: str) -> None:
        if mem + memsz > U64_LIMIT:
            raise InputError(f"{where}: segment[{load.index}] at {mem:#x} of {memsz:#x} bytes ends past 2^64")
        if bufsz > memsz:
            raise InputError(f"{where}: segment[{load.index}] holds {bufsz:#x} bytes in {memsz:#x}: not a segment")
        if memsz:
            kind = CRASH if load.crash else DEFAULT
            load.segments.append(MapEntry(mem, mem + memsz, f"{kind} segment {load.index}", KEXEC, where))
        load.index += 1
        load.next_field = 0

    def kernel_type(self, lineno: int, image_type: int) -> None:
        """The kernel's line after a load's segments: the load ends, and is a crash kernel's if type is 1."""
        if self.load is not None and self.load.kernel:
            self.finish(lineno)
        load = self.untyped
        if load is None:
            raise InputError(
                f"{self.where(lineno)}: a 'kexec_file_load: type:' line without the kernel's segments before it"
            )
        self.untyped = None
        if image_type == KEXEC_TYPE_CRASH:
            load.crash = True
            load.segments = [e._replace(type=e.type.replace(DEFAULT, CRASH, 1)) for e in load.segments]
        self.last[load.crash] = load

    def result(self, end: int) -> MemoryMap:
        self.finish(end)
        self.commit_untyped()
        if not self.loads:
            raise InputError(
                f"{self.source}: no 'nr_segments = N' line: not the output of kexec -d (kexec-tools' stderr, "
                "or the kernel log of kexec -s -d)"
            )
        entries = [e for load in self.last.values() for e in load.segments]
        if not entries:
            raise InputError(f"{self.source}: the last load lists no segments: nothing is loaded to check against")
        notes = []
        if self.loads > 1:
            notes.append(f"{len(self.last)} of {self.loads} loads")
        if self.last.get(False) is None:
            notes.append("a crash kernel's load only")
        return MemoryMap(self.source, "kexec", sorted_entries(entries), "; ".join(notes))


def _refuse_overlaps(load: _Load, source: str) -> None:
    """The kernel refuses a load whose segments overlap (sanity_check_segment_list): so does this reader."""
    ordered = sorted_entries(load.segments)
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end:
            raise InputError(
                f"{after.source}: {after.type} [{after.start:#x}, {after.end:#x}) overlaps {before.type} "
                f"[{before.start:#x}, {before.end:#x}) ({before.source}): not a load the kernel accepts"
            )


def parse_kexec(text: str, source: str) -> MemoryMap:
    """The segments of the last load (and of the last crash-kernel load) in kexec -d output."""
    reader = _Reader(source)
    for lineno, line in numbered_lines(text):
        reader.line(lineno, line)
    return reader.result(reader.last_line)
