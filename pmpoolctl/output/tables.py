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
from itertools import repeat
from typing import Any, NamedTuple

from pmpoolctl.numbers import human_size

CHUNK_ROWS = 1 << 16
# Rows formatted per `%` in the fast path: big enough to amortise the call, small enough for the cache.
FORMAT_ROWS = 8192

Cells = Callable[[int, int], Iterable[str]]
Values = Callable[[int, int], Iterable[Any]]


class Fast(NamedTuple):
    """How a column is written without making its cells one by one.

    `values(start, stop)` gives the raw values of rows [start, stop) for the `%` conversion
    `conversion` ("d", "#x" or "s": exactly what `cells` makes of them, "%d" as `str`,
    "%#x" as `"{:#x}".format`), and `width()` the widest cell of all rows without
    formatting them (a hex or decimal number is widest where it is largest).
    """

    values: Values
    conversion: str
    width: Callable[[], int]
    # When the cell is a function of one value of `key` alone (`cell_of`), neighbouring columns of
    # the same `key` are written as one: each distinct value's cells are joined once, and a row
    # takes one `%s` for them all (a pool's sizes repeat: bytes, size and pages of 512 sizes).
    key: Sequence[int] | None = None
    cell_of: Callable[[int], str] | None = None
    distinct: Callable[[], Iterable[int]] | None = None  # the key's distinct values, when known after `width()`
    # The values never decrease from row to row (row numbers, a canonical pool's bases and ends):
    # then a chunk whose first and last cells are as wide holds only cells that wide, and its
    # `%` pads with literal spaces instead of a field width (a padded conversion costs a copy).
    ascending: bool = False


class Column(NamedTuple):
    """A titled column whose cells for rows [start, stop) come from `cells(start, stop)`.

    With `fast`, a table whose columns all have it is written row chunk by row chunk with one
    `%` over the chunk's values, interleaved (the loop over rows is in CPython's formatter),
    and its widths come from `fast.width` instead of a first pass over every cell.
    """

    title: str
    cells: Cells
    right: bool = False
    wrap: bool = False  # may wrap onto more lines (at spaces) to fit a width
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

    fast = Fast(lambda start, stop: values[start:stop], "d", width, key=values, cell_of=str)
    return Column(title, int_cells(values), right, fast=fast)


def hex_column(
    title: str, values: Sequence[int], right: bool = False, largest: int | None = None, ascending: bool = False
) -> Column:
    """Hex cells (0x...) of non-negative `values`; `largest` is their maximum when the caller knows it,
    `ascending` that they never decrease (see `Fast.ascending`)."""

    def width() -> int:
        return _number_width(max(values, default=None) if largest is None else largest, "{:#x}".format)

    fast = Fast(lambda start, stop: values[start:stop], "#x", width, ascending=ascending)
    return Column(title, hex_cells(values), right, fast=fast)


def index_column(title: str, rows: int) -> Column:
    """The row numbers 0..rows-1, right-aligned."""
    return Column(
        title,
        lambda start, stop: map(str, range(start, stop)),
        True,
        fast=Fast(range, "d", lambda: len(str(rows - 1)) if rows else 0, ascending=True),
    )


def size_column(title: str, values: Sequence[int], distinct: Iterable[int] | None = None) -> Column:
    """`human_size` cells, right-aligned; each distinct size is formatted once, for the widths and the rows.

    `distinct` is the set of `values` when the caller has it (a set of a million values costs 30 ms)."""
    cache: dict[int, str] = {}

    def width() -> int:
        cache.update(
            (size, human_size(size)) for size in set(values if distinct is None else distinct).difference(cache)
        )
        return max(map(len, cache.values()), default=0)

    def cell_of(size: int) -> str:
        text = cache.get(size)
        return human_size(size) if text is None else text

    return Column(
        title,
        size_cells(values),
        True,
        fast=Fast(
            lambda start, stop: map(cache.__getitem__, values[start:stop]), "s", width, values, cell_of, cache.keys
        ),
    )


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
    Columns that all have `fast` take `_write_fast`, unless a column must wrap to fit `width`.
    """
    fasts = [column.fast for column in columns]
    widths = [len(column.title) for column in columns]
    if rows and all(fast is not None for fast in fasts):  # the widths without formatting a cell
        widths = [max(len(c.title), f.width()) for c, f in zip(columns, fasts) if f is not None]
        fits = width is None or sum(widths) + len(GAP) * (len(columns) - 1) <= width
        if fits or not any(column.wrap for column in columns):
            _write_fast(write, columns, rows, ascii, widths)
            return
    else:
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


def _write_fast(
    write: Callable[[str], object], columns: Sequence[Column], rows: int, ascii: bool, widths: list[int]
) -> None:
    """`write_table` for columns that all have `fast`: the same text, one `%` per chunk of rows.

    `widths` are the columns' natural widths: no column wraps (none may, or the table fits)."""
    fasts = [column.fast for column in columns]
    last = len(columns) - 1
    conversions: list[_Conversion] = []
    titles = []
    for index, (column, fast) in enumerate(zip(columns, fasts)):
        assert fast is not None
        flags, kind = fast.conversion[:-1], fast.conversion[-1]
        bare = f"%{flags}{kind}"
        if column.right:
            conversions.append(_Conversion(f"%{flags}{widths[index]}{kind}", bare, widths[index], 1, fast))
            titles.append(column.title.rjust(widths[index]))
        elif index == last:
            conversions.append(_Conversion(bare, bare, 0, 0, None))  # the last column: no trailing spaces
            titles.append(column.title)
        else:
            conversions.append(_Conversion(f"%-{flags}{widths[index]}{kind}", bare, widths[index], -1, fast))
            titles.append(column.title.ljust(widths[index]))
    write(GAP.join(titles) + "\n")
    write((ASCII_RULE if ascii else RULE) * (sum(widths) + len(GAP) * last) + "\n")
    sources: list[Values] = []  # one per `%` conversion of a row
    merged: list[_Conversion] = []
    index = 0
    while index < len(fasts):
        fast = fasts[index]
        assert fast is not None
        group = index + 1
        while group < len(fasts) and _same_key(fast, fasts[group]):
            group += 1
        joined = _joined_cells(columns, fasts, widths, index, group, last) if group - index > 1 else None
        if joined is None:
            sources.append(fast.values)
            merged.append(conversions[index])
            index += 1
            continue
        key = fast.key
        assert key is not None
        sources.append(_looked_up(joined, key))
        merged.append(_Conversion("%s", "%s", 0, 0, None))
        index = group
    count = len(sources)
    templates: dict[tuple[tuple[str, ...], int], str] = {}
    for start, stop in chunks(rows, FORMAT_ROWS):
        size = stop - start
        values: list[Any] = [None] * (size * count)
        for index, source in enumerate(sources):
            values[index::count] = source(start, stop)
        row = tuple(conversion.of_chunk(start, stop) for conversion in merged)
        template = templates.get((row, size))
        if template is None:  # the first chunk, a new padding, a shorter last chunk
            template = templates[row, size] = "\n".join([GAP.join(row)] * size) + "\n"
        write(template % tuple(values))


class _Conversion(NamedTuple):
    """One `%` conversion of a fast table's row: `padded` to the column's width in general, or
    `bare` and literal spaces for a chunk of an ascending column whose cells are all as wide."""

    padded: str
    bare: str
    width: int
    align: int  # 1: right, -1: left, 0: not padded
    fast: Fast | None  # the column's, when it may be ascending

    def of_chunk(self, start: int, stop: int) -> str:
        fast = self.fast
        if fast is None or not fast.ascending:
            return self.padded
        first = len(self.bare % next(iter(fast.values(start, start + 1))))
        if first != len(self.bare % next(iter(fast.values(stop - 1, stop)))):
            return self.padded
        pad = " " * (self.width - first)
        return pad + self.bare if self.align > 0 else self.bare + pad


_JOINED_MAX = 1 << 16  # distinct values whose joined cells are kept; past this, columns are written one by one


def _looked_up(joined: dict[int, str], key: Sequence[int]) -> Values:
    """The joined cells of rows [start, stop), by their key's values."""
    return lambda start, stop: map(joined.__getitem__, key[start:stop])


def _same_key(fast: Fast, other: Fast | None) -> bool:
    return (
        other is not None
        and fast.key is not None
        and other.key is fast.key
        and fast.cell_of is not None
        and other.cell_of is not None
    )


def _joined_cells(
    columns: Sequence[Column], fasts: Sequence[Fast | None], widths: list[int], first: int, stop: int, last: int
) -> dict[int, str] | None:
    """The cells of columns [first, stop) for each distinct value of their key, padded and joined
    as a row joins them; None when the key has too many distinct values to be worth it."""
    head = fasts[first]
    assert head is not None and head.key is not None
    known = [fast.distinct for fast in fasts[first:stop] if fast is not None and fast.distinct is not None]
    distinct = set(known[0]()) if known else set(head.key)  # widths are computed: a size column has them
    if len(distinct) > _JOINED_MAX:
        return None
    joined: dict[int, str] = {}
    for value in distinct:
        parts = []
        for index in range(first, stop):
            fast = fasts[index]
            assert fast is not None and fast.cell_of is not None
            cell = fast.cell_of(value)
            if columns[index].right:
                cell = cell.rjust(widths[index])
            elif index != last:
                cell = cell.ljust(widths[index])
            parts.append(cell)
        joined[value] = GAP.join(parts)
    return joined
