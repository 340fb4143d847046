"""KHO scratch areas: debugfs `kho/out/scratch_phys` and `scratch_len`.

The kernel prints one `0x%llx` line per area in each file, in the same order
(`kexec_handover_debugfs.c`): the addresses in one, the sizes in the other. The
next kernel boots and allocates only from these areas until its memblock is up,
so nothing that must survive may lie in one. A line that is not such a number, or
files whose counts differ, are refused with the file and line named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pmpoolctl.errors import InputError
from pmpoolctl.files.inputs import decode_text, display_name, numbered_lines
from pmpoolctl.kho.files import KhoFiles
from pmpoolctl.numbers import U64_LIMIT

SCRATCH_PHYS = "scratch_phys"
SCRATCH_LEN = "scratch_len"
_HEX = re.compile(r"0[xX][0-9a-fA-F]{1,16}\Z")
_MAX_SCRATCH_BYTES = 1 << 20  # one line per NUMA node and two: a megabyte is thousands of nodes


@dataclass(frozen=True)
class ScratchArea:
    start: int
    size: int
    source: str  # "scratch_phys:N", the line the area's address is on

    @property
    def end(self) -> int:
        return self.start + self.size


def _values(files: KhoFiles, file_name: str) -> list[tuple[int, int]]:
    """(line number, value) of each line of one scratch file."""
    name = display_name(files.path(file_name))
    text = decode_text(files.read(file_name, _MAX_SCRATCH_BYTES), name)
    values: list[tuple[int, int]] = []
    lines = list(numbered_lines(text))
    if lines and lines[-1][1] == "":
        lines.pop()  # the newline after the last value
    for lineno, line in lines:
        word = line.strip()
        if not _HEX.match(word):
            shown = word if len(word) <= 40 else word[:40] + "..."
            raise InputError(f"{name}:{lineno}: {shown!r} is not a 0x hex u64 (the kernel prints 0x%llx)")
        values.append((lineno, int(word, 16)))
    return values


def read_scratch(files: KhoFiles) -> list[ScratchArea] | None:
    """The scratch areas of a kho/out directory, or None when it has neither file."""
    phys_path, len_path = (display_name(files.path(n)) for n in (SCRATCH_PHYS, SCRATCH_LEN))
    present = [files.exists(n) for n in (SCRATCH_PHYS, SCRATCH_LEN)]
    if not any(present):
        return None
    if not all(present):
        have, missing = (SCRATCH_PHYS, len_path) if present[0] else (SCRATCH_LEN, phys_path)
        raise InputError(
            f"{missing}: missing, but {have} is there: the scratch areas need both files (addresses and sizes)"
        )
    addresses, sizes = _values(files, SCRATCH_PHYS), _values(files, SCRATCH_LEN)
    if len(addresses) != len(sizes):
        raise InputError(
            f"{phys_path}: {len(addresses)} addresses, but {len_path} has "
            f"{len(sizes)} sizes: they must pair up, one area per line"
        )
    if not addresses:
        raise InputError(
            f"{phys_path}: no scratch areas: a kernel with KHO lists one per node with memory and two more "
            "(kho_reserve_scratch); an empty file is a truncated copy"
        )
    areas = []
    for (lineno, start), (_, size) in zip(addresses, sizes):
        if start + size > U64_LIMIT:
            raise InputError(f"{phys_path}:{lineno}: scratch area at {start:#x} of {size:#x} bytes ends past 2^64")
        areas.append(ScratchArea(start, size, f"{phys_path}:{lineno}"))
    return areas
