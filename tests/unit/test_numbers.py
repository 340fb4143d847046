"""parse_number (memparse-style arguments) and human_size."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmpoolctl.errors import NumberError
from pmpoolctl.numbers import U64_LIMIT, U64_MAX, hex_address, human_size, parse_number

PROPERTY = settings(max_examples=200, deadline=None)

SUFFIX_SHIFTS = {"K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}

u64 = st.integers(0, U64_MAX)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("4096", 4096),
        ("0x1000", 0x1000),
        ("0X1000", 0x1000),
        ("0xdeadBEEF", 0xDEADBEEF),
        ("2M", 2 << 20),
        ("2m", 2 << 20),
        ("4k", 4096),
        ("0x1G", 1 << 30),
        ("1g", 1 << 30),
        ("3T", 3 << 40),
        ("1p", 1 << 50),
        ("15E", 15 << 60),
        ("0K", 0),
        ("0x10M", 16 << 20),
        ("0x0010", 16),  # zeros after 0x are not octal, so they are fine
        ("0x1E", 0x1E),  # E is a hex digit: memparse reads 30, not 1 EiB
        ("0x1e", 0x1E),
        (str(U64_MAX), U64_MAX),
        ("0xffffffffffffffff", U64_MAX),
        ("0xFFFFFFFFFFFFFFFF", U64_MAX),
        ("  4096  ", 4096),
        ("\t0x1000\n", 0x1000),
        (" 2M", 2 << 20),
    ],
)
def test_parse_number_accepts(text: str, value: int) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("16E", "64 bits"),
        ("16e", "64 bits"),
        (str(U64_LIMIT), "64 bits"),
        ("0x10000000000000000", "64 bits"),
        ("0x4000000000000P", "64 bits"),
        ("-1", "negative"),
        ("-0x1000", "negative"),
        (" -4096", "negative"),
        ("010", "leading zero"),
        ("00", "leading zero"),
        ("0755K", "leading zero"),
        ("", "not a number"),
        ("   ", "not a number"),
        ("12Q", "not a number"),
        ("0x", "not a number"),
        ("x10", "not a number"),
        ("0x1g0", "not a number"),
        ("1.5M", "not a number"),
        ("+1", "not a number"),
        ("1 M", "not a number"),
        ("4 096", "not a number"),
        ("1KB", "not a number"),
        ("1KK", "not a number"),
        ("1_000", "not a number"),  # int() takes underscores; an argument must not
        ("0b101", "not a number"),
        ("0o17", "not a number"),
        ("\u0664\u0660\u0669\u0666", "not a number"),  # Arabic-Indic 4096: int() takes it; ASCII only here
        ("4096\x00", "not a number"),
        ("4096\n0x1000", "not a number"),
    ],
)
def test_parse_number_refuses(text: str, reason: str) -> None:
    with pytest.raises(NumberError, match=reason) as info:
        parse_number(text)
    # The message quotes what was given, as one printable line (a NUL or newline is escaped).
    shown = text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
    assert f"'{shown}'" in str(info.value)
    assert str(info.value).isprintable()


def test_number_error_is_a_value_error() -> None:
    # The CLI turns it into a usage error for arguments; callers catch ValueError-compatible errors.
    assert issubclass(NumberError, ValueError)


@PROPERTY
@given(u64)
def test_every_u64_round_trips_in_decimal_and_hex(value: int) -> None:
    assert parse_number(str(value)) == value
    assert parse_number(hex(value)) == value
    assert parse_number(f"0X{value:X}") == value
    assert parse_number(hex_address(value)) == value
    assert parse_number(f" {value}\n") == value


@PROPERTY
@given(st.integers(U64_LIMIT, U64_LIMIT << 8))
def test_values_past_u64_are_refused(value: int) -> None:
    for text in (str(value), hex(value)):
        with pytest.raises(NumberError, match="64 bits"):
            parse_number(text)


@PROPERTY
@given(st.sampled_from(sorted(SUFFIX_SHIFTS)), st.booleans(), st.data())
def test_suffixes_shift_by_powers_of_1024(suffix: str, lower: bool, data: st.DataObject) -> None:
    shift = SUFFIX_SHIFTS[suffix]
    letter = suffix.lower() if lower else suffix
    value = data.draw(st.integers(0, U64_MAX >> shift), label="value")
    assert parse_number(f"{value}{letter}") == value << shift
    if suffix != "E":  # after 0x, E is read as a hex digit
        assert parse_number(f"{value:#x}{letter}") == value << shift
    too_big = data.draw(st.integers((U64_MAX >> shift) + 1, (U64_MAX >> shift) + 1 << 4), label="too_big")
    with pytest.raises(NumberError, match="64 bits"):
        parse_number(f"{too_big}{letter}")


@PROPERTY
@given(st.integers(0, U64_MAX))
def test_a_leading_zero_is_always_refused(value: int) -> None:
    with pytest.raises(NumberError, match="leading zero"):
        parse_number(f"0{value}")


def test_hex_address() -> None:
    assert hex_address(0) == "0x0"
    assert hex_address(0x1000) == "0x1000"
    assert hex_address(U64_LIMIT) == "0x10000000000000000"


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (2, "2 bytes"),
        (1023, "1023 bytes"),
        (1024, "1 KiB"),
        (4096, "4 KiB"),
        (1536, "1.50 KiB"),
        (0x1234, "4.55 KiB"),
        (2 << 20, "2 MiB"),
        (1023 << 20, "1023 MiB"),
        ((1 << 30) + (1 << 29), "1.50 GiB"),
        ((1 << 30) + 1, "1.00 GiB"),
        (5 << 40, "5 TiB"),
        (1 << 50, "1 PiB"),
        (1 << 60, "1 EiB"),
        (U64_LIMIT, "16 EiB"),
        (1 << 70, "1024 EiB"),  # EiB is the largest unit
    ],
)
def test_human_size_examples(size: int, text: str) -> None:
    assert human_size(size) == text


_HUMAN = re.compile(r"(\d+)(\.\d\d)? (KiB|MiB|GiB|TiB|PiB|EiB)\Z")
_UNIT_SHIFT = {"KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40, "PiB": 50, "EiB": 60}


@PROPERTY
@given(st.integers(1024, U64_LIMIT))
def test_human_size_picks_the_largest_unit_and_marks_inexact_values(size: int) -> None:
    match = _HUMAN.match(human_size(size))
    assert match is not None, human_size(size)
    whole, decimals, unit = match.groups()
    scale = 1 << _UNIT_SHIFT[unit]
    # The unit is the largest one the value reaches, or the next one when the value
    # would print as 1024.00 of the smaller (1048571 bytes is "1.00 MiB").
    assert scale <= size or round(size / scale, 2) == 1.0
    assert unit == "EiB" or round(size / scale, 2) < 1024
    assert float(whole + (decimals or "")) < 1024 or unit == "EiB"
    if size % scale == 0:
        assert decimals is None
        assert int(whole) * scale == size
    else:
        assert decimals is not None
        assert abs(float(whole + decimals) - size / scale) <= 0.005 + 1e-9


@pytest.mark.parametrize(
    ("size", "text"), [(2**20 - 1, "1.00 MiB"), (2**20 - 5243, "1018.88 KiB"), (2**30 - 1, "1.00 GiB")]
)
def test_human_size_never_prints_1024_of_a_unit(size: int, text: str) -> None:
    assert human_size(size) == text


@PROPERTY
@given(st.integers(0, 1023))
def test_human_size_below_1_kib_is_bytes(size: int) -> None:
    assert human_size(size) == (f"{size} bytes" if size != 1 else "1 byte")
