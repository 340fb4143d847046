"""Tables fit a terminal's width (COLUMNS) without breaking a number, and draw in ASCII where they must."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from pmpoolctl.output.tables import Cells, Column, fit_widths, write_table

NUMBER = re.compile(r"0x[0-9a-f]+|\b[0-9]+\b")

ROWS = [
    ("error", "range-in-kernel", "[0x1000000, 0x1200000)", "Kernel code [0x1000000, 0x2208d88)",
     "examples/memmap/iomem.txt:7"),
    ("error", "range-in-memreserve", "[0x20000000, 0x20001000)", "/memreserve/ [0x20000000, 0x20100000)",
     "examples/bad-pool.dtb:memreserve[0]"),
    ("warning", "ranges-not-coalesced", "[0x100000000, 0x100001000)",
     "range [0x100000000, 0x100001000) touches [0x100001000, 0x100002000); merge them", "pool.dtb"),
]  # fmt: skip
TITLES = ("severity", "rule", "range", "conflict", "source")


def table(width: int | None, *, ascii: bool = False, wrap: tuple[bool, ...] = (False, False, True, True, True)) -> str:
    def cells(index: int) -> Cells:
        return lambda start, stop: (row[index] for row in ROWS[start:stop])

    columns = [Column(title, cells(i), wrap=wrap[i]) for i, title in enumerate(TITLES)]
    parts: list[str] = []
    write_table(parts.append, columns, len(ROWS), width=width, ascii=ascii)
    return "".join(parts)


def test_without_a_width_nothing_changes() -> None:
    assert table(None) == table(1000)
    lines = table(None).splitlines()
    assert len(lines) == 2 + len(ROWS) and lines[1] == "─" * len(max(lines, key=len))


def test_at_80_columns_every_line_fits_and_every_number_is_whole() -> None:
    wide, narrow = table(None), table(80)
    assert max(map(len, wide.splitlines())) > 80
    assert max(map(len, narrow.splitlines())) <= 80
    # Every number shown is one of the cells' whole, never a piece of one broken across lines.
    assert set(NUMBER.findall(narrow.replace("…", " "))) <= set(NUMBER.findall(wide))
    for number in ("0x1000000", "0x1200000", "0x2208d88", "0x20100000", "0x100002000"):
        assert re.search(rf"(?<![0-9a-fx]){number}(?![0-9a-f])", narrow), number
    assert all(line == line.rstrip() for line in narrow.splitlines())


def test_a_long_word_is_shortened_from_the_left_keeping_its_line_number() -> None:
    narrow = table(80)
    assert "…/iomem.txt:7" in narrow
    assert "examples/memmap/iomem.txt:7" not in narrow


def test_fixed_columns_never_give_way() -> None:
    fixed = table(40, wrap=(False,) * 5)
    assert fixed == table(None)  # nothing may narrow: the table keeps its width


def test_ascii_draws_the_rule_with_hyphens() -> None:
    text = table(80, ascii=True)
    assert text.isascii()
    assert set(text.splitlines()[1]) == {"-"}
    assert "...iomem.txt:7" in text  # the ellipsis too


@given(
    st.lists(st.tuples(st.integers(1, 60), st.booleans()), min_size=1, max_size=6),
    st.integers(10, 200),
)
def test_fit_widths_narrows_only_wrappable_columns_and_never_below_their_minimum(
    columns: list[tuple[int, bool]], width: int
) -> None:
    widths = [w for w, _ in columns]
    minimums = [min(w, 8) if wrap else None for w, wrap in columns]
    fitted = fit_widths(widths, minimums, width, 3)
    for before, after, low in zip(widths, fitted, minimums):
        assert after == before if low is None else low <= after <= before
    total = sum(fitted) + 3 * (len(fitted) - 1)
    floor = sum(w if low is None else low for w, low in zip(widths, minimums)) + 3 * (len(fitted) - 1)
    assert total <= max(width, floor)
    if sum(widths) + 3 * (len(widths) - 1) <= width:
        assert fitted == widths
