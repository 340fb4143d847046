"""Column-at-a-time output for tables and JSON arrays of a million rows.

rich lays a table out cell by cell and the json module's indented encoder is
pure Python: both take minutes and gigabytes for a million ranges. Here a
column is a function from a row slice [start, stop) to its cells as strings, so
each chunk of rows is formatted with `map` over arrays (C speed), written, and
dropped: memory holds one chunk, never the whole output.
"""

from __future__ import annotations

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


def write_table(write: Callable[[str], object], columns: Sequence[Column], rows: int) -> None:
    """Titles, a rule and `rows` rows, columns aligned; no trailing spaces.

    Widths need every cell, so cells are formatted twice (measure, then write)
    rather than kept: two passes over C-speed maps cost less than a million
    rows of strings held at once.
    """
    widths = [len(column.title) for column in columns]
    for start, stop in chunks(rows):
        for index, column in enumerate(columns):
            widths[index] = max(widths[index], max(map(len, column.cells(start, stop)), default=0))
    last = len(columns) - 1

    def padded(index: int, cells: Iterable[str]) -> Iterable[str]:
        if columns[index].right:
            return map(str.rjust, cells, repeat(widths[index]))
        if index == last:
            return cells
        return map(str.ljust, cells, repeat(widths[index]))

    def lines(cells: Sequence[Iterable[str]]) -> str:
        return "\n".join(map(GAP.join, zip(*(padded(i, column) for i, column in enumerate(cells))))) + "\n"

    write(lines([[column.title] for column in columns]))
    write("─" * (sum(widths) + len(GAP) * last) + "\n")
    for start, stop in chunks(rows):
        write(lines([column.cells(start, stop) for column in columns]))
