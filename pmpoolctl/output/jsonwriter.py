"""JSON documents laid out as `json.dumps(indent=2)` would, with big arrays streamed.

A document is plain JSON data except that an array of same-keyed objects may be
`Records`: its values come column by column (see `columns`) and each object is
written on one line, chunk by chunk. The text is ASCII (strings are escaped as
`json.dumps` escapes them) and written as bytes, so a million rows are never
encoded a second time; `json_text` gives the whole text as a str for callers
(and tests) that want one.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from json.encoder import encode_basestring_ascii
from typing import Any, NamedTuple

from pmpoolctl.output.tables import CHUNK_ROWS, chunks

# Rows formatted per `%`: big enough to amortise the call, small enough to stay in cache.
JSON_CHUNK_ROWS = 8192

INDENT = "  "


# A `Records` field's `%` conversion: `%d` writes an int as its JSON text, `%s` bytes that
# are JSON text already (see `json_strings`).
INTEGER = "%d"
JSON_TEXT = "%s"

Write = Callable[[bytes], object]


def json_strings(values: Iterable[str]) -> list[bytes]:
    """JSON string literals, escaped as `json.dumps` escapes them."""
    return [encode_basestring_ascii(value).encode("ascii") for value in values]


class Records(NamedTuple):
    """A JSON array of `rows` objects, each with the keys of `fields` in order.

    `fields` pairs each key with its conversion (INTEGER or JSON_TEXT); `columns(start, stop)`
    gives the values of rows [start, stop) as one list per field, so a field may be derived
    from another's list (an end from a base and a size) without reading the source twice.
    """

    fields: Sequence[tuple[str, str]]
    rows: int
    columns: Callable[[int, int], Sequence[list[Any]]]


class Lines(NamedTuple):
    """A JSON array whose items (any JSON data, made as they are written) go one per line, compact."""

    items: Iterable[Any]


def write_json(write: Write, document: Any) -> None:
    """Write `document` and a final newline."""
    _write_value(write, document, 0)
    write(b"\n")


def json_text(document: Any) -> str:
    parts: list[bytes] = []
    write_json(parts.append, document)
    return b"".join(parts).decode("ascii")


def _ascii(text: str) -> bytes:
    return text.encode("ascii")  # JSON from json.dumps and encode_basestring_ascii is ASCII


def _write_value(write: Write, value: Any, level: int) -> None:
    if isinstance(value, Records):
        _write_records(write, value, level)
    elif isinstance(value, Lines):
        _write_lines(write, value, level)
    elif isinstance(value, dict) and value:
        inner = INDENT * (level + 1)
        write(b"{")
        for index, (key, item) in enumerate(value.items()):
            write(_ascii(("\n" if index == 0 else ",\n") + inner + encode_basestring_ascii(str(key)) + ": "))
            _write_value(write, item, level + 1)
        write(_ascii("\n" + INDENT * level + "}"))
    else:
        write(_ascii(json.dumps(value, indent=len(INDENT)).replace("\n", "\n" + INDENT * level)))


def _write_lines(write: Write, lines: Lines, level: int) -> None:
    texts = map(json.dumps, lines.items)  # the C encoder: no indent, so one line each
    separator = ",\n" + INDENT * (level + 1)
    first = next(texts, None)
    if first is None:
        write(b"[]")
        return
    write(_ascii("[" + separator[1:] + first))
    while chunk := separator.join(itertools.islice(texts, CHUNK_ROWS)):
        write(_ascii(separator + chunk))
    write(_ascii("\n" + INDENT * level + "]"))


def _write_records(write: Write, records: Records, level: int) -> None:
    if records.rows == 0:
        write(b"[]")
        return
    # One bytes `%` over a chunk's values, interleaved row by row, formats the whole chunk
    # in C: twice as fast as a str.format call per row, which is what a million rows cost.
    separator = _ascii(",\n" + INDENT * (level + 1))
    row = _ascii("{" + ", ".join(_key(key) + ": " + conversion for key, conversion in records.fields) + "}")
    width = len(records.fields)
    write(b"[" + separator[1:])
    template, template_rows = b"", 0
    for start, stop in chunks(records.rows, JSON_CHUNK_ROWS):
        count = stop - start
        values: list[Any] = [None] * (count * width)
        for field, column in enumerate(records.columns(start, stop)):
            values[field::width] = column
        if template_rows != count:  # the first chunk, and a shorter last one
            template, template_rows = separator.join([row] * count), count
        write((separator if start else b"") + template % tuple(values))
    write(_ascii("\n" + INDENT * level + "]"))


def _key(key: str) -> str:
    return encode_basestring_ascii(key).replace("%", "%%")
