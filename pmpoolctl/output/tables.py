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
from typing import Any

from pmpoolctl.numbers import human_size

CHUNK_ROWS = 1 << 16
# Rows formatted per `%` in the fast path: big enough to amortise the call, small enough for the cache.
FORMAT_ROWS = 8192

Cells = Callable[[int, int], Iterable[str]]
Values = Callable[[int, int], Iterable[Any]]


@dataclass(frozen=True)
class Fast:
    """How a column is written without making its cells one by one.

    `values(start, stop)` gives the raw values of rows [start, stop) for the `%` conversion
    `conversion` ("d", "#x" or "s": exactly what `cells` makes of them, "%d" as `str`,
    "%#x" as `"{:#x}".format`), and `width()` the widest cell of all rows without
    formatting them (a hex or decimal number is widest where it is largest).
    """

    values: Values
    conversion: str
    width: Callable[[], int]


@dataclass(frozen=True)
class Column:
    """A titled column whose cells for rows [start, stop) come from `cells(start, stop)`.

    With `fast`, a table whose columns all have it is written row chunk by row chunk with one
    `%` over the chunk's values, interleaved (the loop over rows is in CPython's formatter),
    and its widths come from `fast.width` instead of a first pass over every cell.
    """

    title: str
    cells: Cells
    right: bool = False
    fast: Fast | None = None


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


def _number_width(largest: int | None, text: Callable[[int], str]) -> int:
    return 0 if largest is None else len(text(largest))


def int_column(title: str, values: Sequence[int], right: bool = True, largest: int | None = None) -> Column:
    """Decimal cells of non-negative `values`; `largest` is their maximum when the caller knows it."""

    def width() -> int:
        return _number_width(max(values, default=None) if largest is None else largest, str)

    return Column(title, int_cells(values), right, Fast(lambda start, stop: values[start:stop], "d", width))


def hex_column(title: str, values: Sequence[int], right: bool = False, largest: int | None = None) -> Column:
    """Hex cells (0x...) of non-negative `values`; `largest` is their maximum when the caller knows it."""

    def width() -> int:
        return _number_width(max(values, default=None) if largest is None else largest, "{:#x}".format)

    return Column(title, hex_cells(values), right, Fast(lambda start, stop: values[start:stop], "#x", width))


def index_column(title: str, rows: int) -> Column:
    """The row numbers 0..rows-1, right-aligned."""
    return Column(
        title,
        lambda start, stop: map(str, range(start, stop)),
        True,
        Fast(range, "d", lambda: len(str(rows - 1)) if rows else 0),
    )


def size_column(title: str, values: Sequence[int]) -> Column:
    """`human_size` cells, right-aligned; each distinct size is formatted once, for the widths and the rows."""
    cache: dict[int, str] = {}

    def width() -> int:
        cache.update((size, human_size(size)) for size in set(values).difference(cache))
        return max(map(len, cache.values()), default=0)

    return Column(
        title,
        size_cells(values),
        True,
        Fast(lambda start, stop: map(cache.__getitem__, values[start:stop]), "s", width),
    )


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
    fast = [column.fast for column in columns]
    if rows and all(fast):
        _write_fast(write, columns, rows)
        return
    widths = [len(column.title) for column in columns]
    for start, stop in chunks(rows):
        for index, column in enumerate(columns):
            widths[index] = max(widths[index], max(map(len, column.cells(start, stop)), default=0))
    _write_rows(write, columns, rows, widths)


def _write_rows(write: Callable[[str], object], columns: Sequence[Column], rows: int, widths: list[int]) -> None:
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


def _write_fast(write: Callable[[str], object], columns: Sequence[Column], rows: int) -> None:
    """`write_table` for columns that all have `fast`: the same text, one `%` per chunk of rows."""
    fasts = [column.fast for column in columns]
    assert all(fasts)
    widths = [max(len(column.title), fast.width()) for column, fast in zip(columns, fasts) if fast]
    last = len(columns) - 1
    conversions = []
    for index, (column, fast) in enumerate(zip(columns, fasts)):
        assert fast is not None
        flags, kind = fast.conversion[:-1], fast.conversion[-1]
        if column.right:
            conversions.append(f"%{flags}{widths[index]}{kind}")
        elif index == last:
            conversions.append(f"%{flags}{kind}")  # the last column is not padded: no trailing spaces
        else:
            conversions.append(f"%-{flags}{widths[index]}{kind}")
    row = GAP.replace("%", "%%").join(conversions)
    _write_rows(write, columns, 0, widths)  # the titles and the rule
    count = len(columns)
    template, template_rows = "", 0
    for start, stop in chunks(rows, FORMAT_ROWS):
        size = stop - start
        values: list[Any] = [None] * (size * count)
        for index, fast in enumerate(fasts):
            assert fast is not None
            values[index::count] = fast.values(start, stop)
        if template_rows != size:  # the first chunk, and a shorter last one
            template, template_rows = "\n".join([row] * size) + "\n", size
        write(template % tuple(values))
