"""pmpoolctl.kho.cmdline reads a command line as the kernel does (lib/cmdline.c, lib/kstrtox.c, mm/memblock.c)."""

from __future__ import annotations

import pytest

from pmpoolctl.kho.cmdline import kernel_args, kstrtobool, memparse, parse_next_cmdline


@pytest.mark.parametrize(
    ("text", "value", "used"),
    [
        (b"4096", 4096, 4),
        (b"64M:", 64 << 20, 3),
        (b"0x1000", 0x1000, 6),
        (b"0X1fK", 0x1F << 10, 5),
        (b"010", 8, 3),  # a leading 0 is octal to the kernel
        (b"08", 0, 1),  # ... so 8 is no digit of it
        (b"0x", 0, 1),  # 0x without a hex digit: the 0, in octal
        (b"K:", 0, 1),  # the suffix is read even after no digits
        (b"2e", 2 << 60, 2),
        (b"16E", 0, 3),  # 2^64 wraps, as unsigned long long does
        (b"99999999999999999999999", 99999999999999999999999 % (1 << 64), 23),
        (b":4K", 0, 0),
        (b"", 0, 0),
    ],
)
def test_memparse(text: bytes, value: int, used: int) -> None:
    assert memparse(text) == (value, used)


@pytest.mark.parametrize(
    ("cmdline", "args"),
    [
        (b"  a=1   b  ", [(b"a", b"1"), (b"b", None)]),
        (b'"a=x y" b="c d" e', [(b"a", b"x y"), (b"b", b"c d"), (b"e", None)]),
        (b"a=1 -- b=2", [(b"a", b"1")]),  # the rest is for init
        (b"=x a==b", [(b"=x", None), (b"a", b"=b")]),  # next_arg ignores an '=' in first place
        (b"a\tb\xa0c", [(b"a", None), (b"b", None), (b"c", None)]),  # 0xa0 is a space to the kernel
    ],
)
def test_kernel_args(cmdline: bytes, args: list[tuple[bytes, bytes | None]]) -> None:
    assert kernel_args(cmdline) == args


@pytest.mark.parametrize(
    ("value", "setting"),
    [
        *[(b"on", True), (b"ON", True), (b"y", True), (b"1", True), (b"true", True)],
        *[(b"enable", True), (b"Enabled", True), (b"disable", False), (b"D", False)],  # since 6.3
        *[(b"off", False), (b"no", False), (b"0", False), (b"false", False)],
        *[(b"oops", None), (b"o", None), (b"", None), (None, None), (b"maybe", None)],
    ],
)
def test_kstrtobool(value: bytes | None, setting: bool | None) -> None:
    assert kstrtobool(value) is setting


def test_reserve_mem_as_memblock_reads_it() -> None:
    cmdline = parse_next_cmdline(
        b"reserve_mem=64M:4K:dm:log reserve_mem=1M:0:small reserve-mem=2M:4K:dm:log reserve_mem=0:4K:zero "
        b'"reserve_mem=1M:4K:  " reserve_mem=1M:4K reserve_mem=1M:4K:sixteen_bytes_xx kho=off kho=bogus',
        "test",
    )
    assert {name: (r.size, r.align) for name, r in cmdline.requests.items()} == {
        b"dm:log": (64 << 20, 4096),
        b"small": (1 << 20, 64),  # an ALIGN below the cache line is raised to it
    }
    assert [why for _, _, why in cmdline.refused] == [
        "its NAME was used by an earlier reserve_mem=",
        "SIZE is missing or 0",
        "NAME is only white space",
        "no ':' after ALIGN",
        "NAME must be 1 to 15 bytes",
    ]
    assert (cmdline.kho, cmdline.kho_text) == (False, "kho=off")  # kstrtobool refuses 'bogus': the setting stays
