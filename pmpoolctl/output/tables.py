"""Column-at-a-time output for tables and JSON arrays of a million rows.

rich lays a table out cell by cell and the json module's indented encoder is
pure Python: both take minutes and gigabytes for a million ranges. Here a
column is a function from a row slice [start, stop) to its cells as strings, so
each chunk of rows is formatted with `map` over arrays (C speed), written, and
dropped: memory holds one chunk, never the whole output.

A table given a `width` (the terminal's, or COLUMNS) fits it where it can: numbers
never break, and only the columns marked `wrap` (messages, conflicts, sources) give up
room, wrapped at spaces onto more lines, a word longer than the column shortened from
the left ("…" and its end, where a path's line number is). A wrapped column keeps room
for its longest number. `ascii` draws the rule with `-` for a stream that cannot show `─`.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat

from pmpoolctl.numbers import human_size

CHUNK_ROWS = 1 << 16

Cells = Callable[[int, int], Iterable[str]]


@dataclass(frozen=True)
class Column:
    """A titled column whose cells for rows [start, stop) come from `cells(start, stop)`."""

    title: str
    cells: Cells
    right: bool = False
    wrap: bool = False  # may wrap onto more lines (at spaces) to fit a width


def int_cells(values: Sequence[int]) -> Cells:
    """Decimal cells: also JSON's form of an integer."""
    return lambda start, stop: map(str, values[start:stop])


def hex_cells(values: Sequence[int]) -> Cells:
    return lambda start, stop: map("{:#x}".format, values[start:stop])


def size_cells(values: Sequence[int]) -> Cells:
    """`human_size` cells; sizes repeat, so each distinct one is formatted once."""
    cache: dict[int, str] = {}

    def cells(start: int, stop: int) -> Iterable[str]:
        chunk = values[start:stop]
        for size in set(chunk).difference(cache):
            cache[size] = human_size(size)
        return map(cache.__getitem__, chunk)

    return cells


def chunks(rows: int, size: int = CHUNK_ROWS) -> Iterable[tuple[int, int]]:
    """[start, stop) row slices of at most `size` rows."""
    for start in range(0, rows, size):
        yield start, min(start + size, rows)


GAP = "   "  # rich's SIMPLE_HEAD look: one padding space, a space rule, one padding space
RULE, ASCII_RULE = "─", "-"
ELLIPSIS, ASCII_ELLIPSIS = "…", "..."
MIN_WRAP = 8  # a wrapped column is never narrower than this, nor than its longest number
# A word that is a number, as the tables write them: 0x1f, 4096, [0x1000,, 0x2000), 1.00
_NUMBER_WORD = re.compile(r"[\[(]?(?:0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]+)?)[,)\]]*")


def _min_wrap_width(column: Column, rows: int) -> int:
    """The narrowest a wrapped column may be: its title, and every number in it kept whole."""
    narrowest = max(MIN_WRAP, len(column.title))
    for start, stop in chunks(rows):
        for cell in column.cells(start, stop):
            for word in cell.split(" "):
                if len(word) > narrowest and _NUMBER_WORD.fullmatch(word):
                    narrowest = len(word)
    return narrowest


def fit_widths(widths: list[int], minimums: Sequence[int | None], width: int, gap: int) -> list[int]:
    """Widths that fit `width` by narrowing the widest wrappable column first (None: not wrappable)."""
    fitted = list(widths)
    excess = sum(fitted) + gap * (len(fitted) - 1) - width
    while excess > 0:
        candidates = [i for i, low in enumerate(minimums) if low is not None and fitted[i] > low]
        if not candidates:
            break  # nothing more gives: the lines are longer than `width`, numbers whole
        widest = max(candidates, key=lambda i: fitted[i])
        others = [fitted[i] for i in candidates if i != widest]
        low = minimums[widest]
        assert low is not None
        # Down to the next widest (or the minimum), at most by what is still too much.
        target = max(low, max(others, default=low), fitted[widest] - excess)
        if target >= fitted[widest]:
            target = fitted[widest] - 1
        excess -= fitted[widest] - target
        fitted[widest] = target
    return fitted


def _wrapped(cell: str, width: int, ellipsis: str) -> list[str]:
    """`cell` as lines of at most `width`: wrapped at spaces, a longer word shortened from the left."""
    if len(cell) <= width:
        return [cell]
    lines = textwrap.wrap(cell, width, break_long_words=False, break_on_hyphens=False) or [""]
    return [line if len(line) <= width else _shortened(line, width, ellipsis) for line in lines]


def _shortened(word: str, width: int, ellipsis: str) -> str:
    """The end of `word` behind `ellipsis`, from a `/` where one leaves most of the room used."""
    tail = word[len(word) - max(width - len(ellipsis), 1) :]
    slash = tail.find("/")
    if 0 < slash <= len(tail) // 3:
        tail = tail[slash:]
    return ellipsis + tail


def write_table(
    write: Callable[[str], object],
    columns: Sequence[Column],
    rows: int,
    *,
    width: int | None = None,
    ascii: bool = False,
) -> None:
    """Titles, a rule and `rows` rows, columns aligned; no trailing spaces.

    Widths need every cell, so cells are formatted twice (measure, then write)
    rather than kept: two passes over C-speed maps cost less than a million
    rows of strings held at once. With `width`, wrappable columns narrow to fit it.
    """
    widths = [len(column.title) for column in columns]
    for start, stop in chunks(rows):
        for index, column in enumerate(columns):
            widths[index] = max(widths[index], max(map(len, column.cells(start, stop)), default=0))
    last = len(columns) - 1
    natural = list(widths)
    if width is not None and sum(widths) + len(GAP) * last > width:
        minimums = [_min_wrap_width(c, rows) if c.wrap else None for c in columns]
        widths = fit_widths(widths, minimums, width, len(GAP))
    narrowed = [i for i in range(len(columns)) if widths[i] < natural[i]]

    def padded(index: int, cells: Iterable[str]) -> Iterable[str]:
        if columns[index].right:
            return map(str.rjust, cells, repeat(widths[index]))
        if index == last:
            return cells
        return map(str.ljust, cells, repeat(widths[index]))

    def lines(cells: Sequence[Iterable[str]]) -> str:
        text = "\n".join(map(GAP.join, zip(*(padded(i, column) for i, column in enumerate(cells))))) + "\n"
        return _strip_lines(text) if narrowed else text

    write(lines([[column.title] for column in columns]))
    write((ASCII_RULE if ascii else RULE) * (sum(widths) + len(GAP) * last) + "\n")
    if not narrowed:
        for start, stop in chunks(rows):
            write(lines([column.cells(start, stop) for column in columns]))
        return
    ellipsis = ASCII_ELLIPSIS if ascii else ELLIPSIS
    for start, stop in chunks(rows):
        cells = [list(column.cells(start, stop)) for column in columns]
        out: list[list[str]] = [[] for _ in columns]
        for row in range(stop - start):
            parts = [
                _wrapped(cells[i][row], widths[i], ellipsis) if i in narrowed else [cells[i][row]]
                for i in range(len(columns))
            ]
            height = max(map(len, parts))
            for i, part in enumerate(parts):
                out[i].extend(part + [""] * (height - len(part)))
        write(lines(out))


def _strip_lines(text: str) -> str:
    """No trailing spaces on a line (a wrapped row's continuation lines have empty last cells)."""
    return "\n".join(line.rstrip(" ") for line in text.split("\n"))
