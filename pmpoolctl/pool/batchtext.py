"""Text batches, `BASE SIZE` lines, parsed into u64 arrays a chunk of lines at a time.

A chunk (128 KiB, cut at a newline) that is nothing but lines of two plain
numbers as scripts write them (hex or decimal; a size may have a K/M/G... suffix) is
checked by one anchored regex and converted by C loops. Any other chunk (comments,
blank lines, a mistake) takes the exact path, line by line with `parse_number`, whose
errors name FILE:LINE. Both read a line alike: the plain shape is a part of what
`parse_number` accepts, and a value past 64 bits sends its chunk to the exact path.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable
from itertools import repeat

from pmpoolctl.errors import InputError, NumberError
from pmpoolctl.numbers import PLAIN_NUMBER, PLAIN_SIZE, parse_number, parse_repeated
from pmpoolctl.ranges.rangearray import RangeArray

CHUNK_CHARS = 1 << 17  # a few thousand lines: small lists of tokens, the arrays grow by chunks

_PLAIN_LINE = rf"[ \t]*{PLAIN_NUMBER}[ \t]+{PLAIN_SIZE}[ \t\r]*"
_SCRIPT_LINE = rf"{PLAIN_NUMBER} {PLAIN_SIZE}"  # as printf writes them: twice as fast to match
# Lines that are all `BASE SIZE`, the last maybe without its newline. Linear: a number is
# followed by a character it cannot contain, so a line matches one way (but for a hex
# digit e that may be read as the suffix E, one step back; parse_number reads it as a digit).
_PLAIN_CHUNKS = [re.compile(rf"(?:{line}\n)*(?:{line})?") for line in (_SCRIPT_LINE, _PLAIN_LINE)]


def parse_text_batch(text: str, source: str, advance: Callable[[int], None] | None = None) -> RangeArray:
    """The ranges of `BASE SIZE` lines in `text` (from `source`); `advance(lines)` after each chunk."""
    bases, sizes = array("Q"), array("Q")
    start, lineno = 0, 1
    while start < len(text):
        end = text.find("\n", start + CHUNK_CHARS)
        end = len(text) if end < 0 else end + 1
        chunk = text[start:end]
        lines = _read_plain(chunk, bases, sizes)
        if lines is None:
            _read_lines(chunk, lineno, source, bases, sizes)
            lines = chunk.count("\n")
        if advance is not None:
            advance(lines)
        start, lineno = end, lineno + lines
    return RangeArray(bases, sizes)


def _read_plain(chunk: str, bases: array[int], sizes: array[int]) -> int | None:
    """Append the chunk's ranges if it has the plain shape and its values fit: how many lines it has, or None."""
    if not any(pattern.fullmatch(chunk) for pattern in _PLAIN_CHUNKS):
        return None
    tokens = chunk.split()
    try:
        chunk_bases = array("Q", map(int, tokens[0::2], repeat(0)))
        chunk_sizes = parse_repeated(tokens[1::2])
    except (OverflowError, ValueError, NumberError):  # past 64 bits, or a suffix int() refuses: the exact path
        return None
    bases.extend(chunk_bases)
    sizes.extend(chunk_sizes)
    return len(chunk_sizes) - (0 if chunk.endswith("\n") else 1)  # every line holds a range


def _read_lines(chunk: str, first_lineno: int, source: str, bases: array[int], sizes: array[int]) -> None:
    """Append the chunk's ranges line by line, as the command line reads numbers; errors name the line."""
    for lineno, line in enumerate(chunk.split("\n"), first_lineno):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 2:
            raise InputError(f"{source}:{lineno}: expected 'BASE SIZE', found {len(fields)} fields")
        try:
            base, size = parse_number(fields[0]), parse_number(fields[1])
        except NumberError as exc:
            raise InputError(f"{source}:{lineno}: {exc}") from exc
        bases.append(base)
        sizes.append(size)
