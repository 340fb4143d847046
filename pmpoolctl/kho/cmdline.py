"""A kernel command line read the way the kernel reads it: `reserve_mem=` and `kho=`.

Mirrors, in behaviour (kernel code is not copied):

- `lib/cmdline.c` `next_arg` and `kernel/params.c` `parse_args`: arguments split at
  white space outside double quotes, a quoted value unquoted, `--` ends the kernel's
  arguments, `-` and `_` in a parameter's name are the same;
- `lib/cmdline.c` `memparse` and `lib/kstrtox.c` `simple_strtoull`: base 0 (`0x` hex,
  a leading `0` octal), K/M/G/T/P/E suffixes, arithmetic modulo 2^64;
- `lib/kstrtox.c` `kstrtobool` for `kho=` and `liveupdate=` (the last value that parses wins),
  with the `e`/`d` (enable/disable) first letters it takes since 6.3, before KHO existed;
- `mm/memblock.c` `reserve_mem()`: `SIZE:ALIGN:NAME`, SIZE not 0, NAME 1 to 15 bytes
  and not all white space, an ALIGN below the cache line raised to it, a name used
  twice refused, at most 8 regions.

Text is bytes throughout: a reserve_mem name is compared byte for byte with the
name memblock wrote into its KHO sub-FDT.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pmpoolctl.dtb.format import escaped
from pmpoolctl.numbers import U64_MAX

# The kernel's isspace(): lib/ctype.c marks 0xA0 (Latin-1 no-break space) as a space too.
_SPACE = frozenset(b" \t\n\v\f\r\xa0")
# SMP_CACHE_BYTES on x86-64 and arm64; reserve_mem raises a smaller ALIGN to it.
SMP_CACHE_BYTES = 64
RESERVE_MEM_NAME_SIZE = 16  # the name and its NUL
RESERVE_MEM_MAX_ENTRIES = 8
_SHIFTS = {ord(c): shift for shift, letters in enumerate(("", "kK", "mM", "gG", "tT", "pP", "eE")) for c in letters}


def kernel_args(cmdline: bytes) -> list[tuple[bytes, bytes | None]]:
    """(parameter, value) of each argument, in order, up to `--`; value None for a bare word."""
    args: list[tuple[bytes, bytes | None]] = []
    at = _skip_spaces(cmdline, 0)
    while at < len(cmdline):
        param, value, at = _next_arg(cmdline, at)
        if value is None and param == b"--":
            break  # the rest is for init
        args.append((param, value))
    return args


def _skip_spaces(text: bytes, at: int) -> int:
    while at < len(text) and text[at] in _SPACE:
        at += 1
    return at


def _next_arg(text: bytes, at: int) -> tuple[bytes, bytes | None, int]:
    """One argument from `at`, as next_arg splits it; and where the next one starts."""
    in_quote = quoted = False
    if text[at : at + 1] == b'"':
        at += 1
        in_quote = quoted = True
    i, equals = at, -1
    while i < len(text) and text[i] != 0:
        if text[i] in _SPACE and not in_quote:
            break
        if equals < 0 and text[i] == ord("=") and i > at:  # next_arg ignores an '=' in first place
            equals = i
        if text[i] == ord('"'):
            in_quote = not in_quote
        i += 1
    end = i
    if quoted and end > at and text[end - 1] == ord('"'):
        end -= 1  # the closing quote of a quoted argument
    if equals < 0:
        param, value = text[at:end], None
    else:
        param, value = text[at:equals], text[equals + 1 : end]
        if value.startswith(b'"'):
            value = value[1:]
            if not quoted and end > equals + 1 and text[end - 1] == ord('"'):
                value = value[:-1]
    return param, value, _skip_spaces(text, i + 1 if i < len(text) else i)


def same_parameter(a: bytes, b: bytes) -> bool:
    """parameq: `-` and `_` are the same in parameter names."""
    return a.replace(b"-", b"_") == b.replace(b"-", b"_")


def memparse(text: bytes) -> tuple[int, int]:
    """(value, bytes used) as the kernel's memparse reads the start of `text` (0 used: no number)."""
    base, at = 10, 0
    if text[:1] == b"0":
        if text[1:2] in (b"x", b"X") and text[2:3] and chr(text[2]) in "0123456789abcdefABCDEF":
            base, at = 16, 2
        else:
            base = 8
    value, digits = 0, 0
    while at + digits < len(text):
        char = text[at + digits] | 0x20  # the kernel's _tolower
        digit = char - 0x30 if 0x30 <= char <= 0x39 else char - 0x61 + 10 if 0x61 <= char <= 0x66 else 99
        if digit >= base:
            break
        value = (value * base + digit) & U64_MAX  # unsigned long long wraps
        digits += 1
    used = at + digits
    # The suffix is read even after no digits: memparse("K") is 0, one byte used.
    shift = _SHIFTS.get(text[used]) if used < len(text) else None
    if shift:
        value = (value << (10 * shift)) & U64_MAX
        used += 1
    return value, used


def kstrtobool(value: bytes | None) -> bool | None:
    """The boolean kstrtobool reads, or None when it refuses the value (the setting then stays)."""
    if not value:
        return None
    first, second = value[:1].lower(), value[1:2].lower()
    if first in (b"e", b"y", b"t", b"1"):
        return True
    if first in (b"d", b"n", b"f", b"0"):
        return False
    if first == b"o":
        return {b"n": True, b"f": False}.get(second)
    return None


@dataclass(frozen=True)
class ReserveMemRequest:
    """A `reserve_mem=` the kernel accepts: the region it revives or allocates, by name."""

    name: bytes
    size: int
    align: int  # as the kernel uses it: at least SMP_CACHE_BYTES
    text: str  # the argument, escaped for messages


@dataclass
class NextCmdline:
    """What a next kernel's command line asks of KHO."""

    source: str
    requests: dict[bytes, ReserveMemRequest] = field(default_factory=dict)
    refused: list[tuple[bytes | None, str, str]] = field(default_factory=list)  # (name, argument, why)
    kho: bool | None = None  # the last kho= that parses; None when there is none
    kho_text: str | None = None  # that argument, for messages
    liveupdate: bool | None = None  # the last liveupdate= that parses (LUO is off without one)
    liveupdate_text: str | None = None


def _reserve_mem(value: bytes | None) -> tuple[bytes | None, int, int, str | None]:
    """(name, size, align, None) of a reserve_mem= value, or (name or None, 0, 0, why the kernel refuses it)."""
    if value is None:
        return None, 0, 0, "no value"
    size, used = memparse(value)
    if not size or not used:
        return None, 0, 0, "SIZE is missing or 0"
    if value[used : used + 1] != b":":
        return None, 0, 0, "no ':' after SIZE"
    align, align_used = memparse(value[used + 1 :])
    rest = value[used + 1 + align_used :]
    if rest[:1] != b":":
        return None, 0, 0, "no ':' after ALIGN"
    name = rest[1:]
    if not name or len(name) >= RESERVE_MEM_NAME_SIZE:
        return name, 0, 0, f"NAME must be 1 to {RESERVE_MEM_NAME_SIZE - 1} bytes"
    if all(byte in _SPACE for byte in name):
        return name, 0, 0, "NAME is only white space"
    return name, size, max(align, SMP_CACHE_BYTES), None


def parse_next_cmdline(cmdline: bytes, source: str) -> NextCmdline:
    parsed = NextCmdline(source)
    for param, value in kernel_args(cmdline):
        text = escaped(param + (b"" if value is None else b"=" + value), 120)
        if same_parameter(param, b"kho"):
            setting = kstrtobool(value)
            if setting is not None:
                parsed.kho, parsed.kho_text = setting, text
        elif same_parameter(param, b"liveupdate"):
            setting = kstrtobool(value)
            if setting is not None:
                parsed.liveupdate, parsed.liveupdate_text = setting, text
        elif same_parameter(param, b"reserve_mem"):
            _add_request(parsed, value, text)
    return parsed


def _add_request(parsed: NextCmdline, value: bytes | None, text: str) -> None:
    name, size, align, refused = _reserve_mem(value)
    if refused is None and len(parsed.requests) >= RESERVE_MEM_MAX_ENTRIES:  # the kernel checks this first
        refused = f"the kernel keeps at most {RESERVE_MEM_MAX_ENTRIES} reserve_mem regions"
    if refused is None and name in parsed.requests:
        refused = "its NAME was used by an earlier reserve_mem="
    if refused is not None or name is None:
        parsed.refused.append((name, text, refused or "refused"))
        return
    parsed.requests[name] = ReserveMemRequest(name, size, align, text)
