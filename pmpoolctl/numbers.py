"""Parsing and formatting of addresses and sizes.

Arguments follow the kernel's memparse: decimal or 0x hex, with an optional
K/M/G/T/P/E suffix (powers of 1024, either case). Unlike memparse, a leading
zero is refused rather than read as octal: `010` means 8 to the kernel and 10 to
most people, and a pool range is no place to guess.
"""

from __future__ import annotations

import re
from array import array
from itertools import repeat

from pmpoolctl.errors import NumberError

U64_LIMIT = 1 << 64
U64_MAX = U64_LIMIT - 1

_SUFFIX_SHIFT = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}
_NUMBER = re.compile(r"(0[xX][0-9a-fA-F]+|[0-9]+)([kKmMgGtTpPeE]?)\Z")
# The numbers `parse_number` reads just as `int(text, 0)` does (0x hex of at most 16 digits, decimal
# without a leading zero, no suffix), for batches to match a chunk of them at once and convert in C;
# and those with a suffix, as a batch's sizes often are (`2M`), read by `parse_repeated`.
PLAIN_NUMBER = r"(?:0[xX][0-9a-fA-F]{1,16}|[1-9][0-9]{0,19}|0)"
PLAIN_SIZE = rf"{PLAIN_NUMBER}[kKmMgGtTpPeE]?"
_FEW_DISTINCT = 8  # at least this many tokens a distinct one, on average: each distinct one is read once


def parse_number(text: str) -> int:
    """Return the value of a memparse-style number; raise NumberError if invalid."""
    stripped = text.strip()
    match = _NUMBER.match(stripped)
    if match is None:
        if stripped.startswith("-"):
            raise NumberError(f"'{_shown(text)}' is negative")
        raise NumberError(f"'{_shown(text)}' is not a number (use decimal, 0x hex, and K/M/G/T/P/E)")
    digits, suffix = match.groups()
    if len(digits) > 1 and digits[0] == "0" and digits[1] not in "xX":
        raise NumberError(f"'{_shown(text)}' has a leading zero (octal to the kernel); write decimal or 0x hex")
    # Bounded before int(): a u64 has at most 16 hex or 20 decimal digits, and a longer
    # string is refused whole (Python's int() refuses past 4300 digits with a ValueError).
    significant = digits[2:].lstrip("0") if digits[:2] in ("0x", "0X") else digits
    if len(significant) > (16 if digits[:2] in ("0x", "0X") else 20):
        raise NumberError(f"'{_shown(text)}' does not fit in 64 bits")
    value = int(digits, 0) << _SUFFIX_SHIFT[suffix.lower()]
    if value > U64_MAX:
        raise NumberError(f"'{_shown(text)}' does not fit in 64 bits")
    return value


def parse_repeated(tokens: list[str]) -> array[int]:
    """`parse_number` of each token (each matching PLAIN_SIZE) as u64s, reading each distinct token once.

    A batch repeats a few sizes, so a dict lookup (or one value for all) stands in for most reads.
    Tokens that are mostly distinct are read by `int(text, 0)`, which refuses a suffix (ValueError);
    a value past 64 bits raises NumberError or OverflowError.
    """
    if tokens.count(tokens[0]) == len(tokens):
        return array("Q", [parse_number(tokens[0])]) * len(tokens)
    distinct = set(tokens)
    if len(distinct) * _FEW_DISTINCT <= len(tokens):
        value_of = {token: parse_number(token) for token in distinct}
        return array("Q", map(value_of.__getitem__, tokens))
    return array("Q", map(int, tokens, repeat(0)))


def _shown(text: str, limit: int = 40) -> str:
    """A number as typed, cut short for a message: a 5000-digit argument is not repeated whole."""
    cut = text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
    return cut if cut.isprintable() else cut.encode("unicode_escape").decode("ascii")  # one line, no controls


def hex_address(value: int) -> str:
    """Hex with a 0x prefix, as dtc and the kernel print addresses."""
    return f"{value:#x}"


_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_size(size: int) -> str:
    """Size in binary units: exact values plainly (`2 MiB`), others to two decimals."""
    if size < 1024:
        return counted(size, "byte")  # "0 bytes", "1 byte": as every other count is written
    unit_index = 0
    scale = 1024
    # Move up a unit when the value would print as 1024.00 or more after rounding.
    while unit_index + 1 < len(_BINARY_UNITS) and round(size / scale, 2) >= 1024:
        scale *= 1024
        unit_index += 1
    unit = _BINARY_UNITS[unit_index]
    if size % scale == 0:
        return f"{size // scale} {unit}"
    return f"{size / scale:.2f} {unit}"


def plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


def counted(count: int, one: str, many: str | None = None) -> str:
    """`1 range`, `2 ranges`, `0 bytes`: a count and its noun, singular only for one."""
    return f"{count} {plural(count, one, one + 's' if many is None else many)}"
