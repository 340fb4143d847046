"""Parsing and formatting of addresses and sizes.

Arguments follow the kernel's memparse: decimal or 0x hex, with an optional
K/M/G/T/P/E suffix (powers of 1024, either case). Unlike memparse, a leading
zero is refused rather than read as octal: `010` means 8 to the kernel and 10 to
most people, and a pool range is no place to guess.
"""

from __future__ import annotations

import re

from pmpoolctl.errors import NumberError

U64_LIMIT = 1 << 64
U64_MAX = U64_LIMIT - 1

_SUFFIX_SHIFT = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}
_MAX_DECIMAL_DIGITS = 20
_NUMBER = re.compile(r"(0[xX][0-9a-fA-F]+|[0-9]+)([kKmMgGtTpPeE]?)\Z")


def parse_number(text: str) -> int:
    """Return the value of a memparse-style number; raise NumberError if invalid."""
    stripped = text.strip()
    match = _NUMBER.match(stripped)
    if match is None:
        if stripped.startswith("-"):
            raise NumberError(f"'{text}' is negative")
        raise NumberError(f"'{text}' is not a number (use decimal, 0x hex, and K/M/G/T/P/E)")
    digits, suffix = match.groups()
    if len(digits) > 1 and digits[0] == "0" and digits[1] not in "xX":
        raise NumberError(f"'{text}' has a leading zero (octal to the kernel); write decimal or 0x hex")
    if len(digits) > _MAX_DECIMAL_DIGITS and digits[1:2] not in ("x", "X"):
        # Python refuses (and is quadratic on) long decimal strings; 2^64 has 20 digits.
        raise NumberError(f"'{text[:40]}' does not fit in 64 bits")
    value = int(digits, 0) << _SUFFIX_SHIFT[suffix.lower()]
    if value > U64_MAX:
        raise NumberError(f"'{text}' does not fit in 64 bits")
    return value


def hex_address(value: int) -> str:
    """Hex with a 0x prefix, as dtc and the kernel print addresses."""
    return f"{value:#x}"


_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_size(size: int) -> str:
    """Size in binary units: exact values plainly (`2 MiB`), others to two decimals."""
    if size < 1024:
        return f"{size} B"
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
