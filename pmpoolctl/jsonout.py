"""JSON documents laid out as `json.dumps(indent=2)` would, with big arrays streamed.

A document is plain JSON data except that an array of same-keyed objects may be
`Records`: its values come column by column (see `columns`) and each object is
written on one line, chunk by chunk. `json_text` gives the whole text for
callers (and tests) that want a string.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

from pmpoolctl.columns import CHUNK_ROWS, chunks

INDENT = "  "


# A record field's values for rows [start, stop): ints, or strs that are JSON texts already.
Values = Callable[[int, int], Iterable[int | str]]


def integers(values: Sequence[int]) -> Values:
    return lambda start, stop: values[start:stop]


def strings(values: Sequence[str]) -> Values:
    """JSON string literals, escaped as `json.dumps` escapes them."""
    return lambda start, stop: map(encode_basestring_ascii, values[start:stop])


@dataclass(frozen=True)
class Records:
    """A JSON array of `rows` objects with the keys of `fields`."""

    fields: Sequence[tuple[str, Values]]
    rows: int


@dataclass(frozen=True)
class Lines:
    """A JSON array whose items (any JSON data, made as they are written) go one per line, compact."""

    items: Iterable[Any]


def write_json(write: Callable[[str], object], document: Any) -> None:
    """Write `document` and a final newline."""
    _write_value(write, document, 0)
    write("\n")


def json_text(document: Any) -> str:
    parts: list[str] = []
    write_json(parts.append, document)
    return "".join(parts)


def _write_value(write: Callable[[str], object], value: Any, level: int) -> None:
    if isinstance(value, Records):
        _write_records(write, value, level)
    elif isinstance(value, Lines):
        _write_lines(write, value, level)
    elif isinstance(value, dict) and value:
        inner = INDENT * (level + 1)
        write("{")
        for index, (key, item) in enumerate(value.items()):
            write(("\n" if index == 0 else ",\n") + inner + encode_basestring_ascii(str(key)) + ": ")
            _write_value(write, item, level + 1)
        write("\n" + INDENT * level + "}")
    else:
        write(json.dumps(value, indent=len(INDENT)).replace("\n", "\n" + INDENT * level))


def _write_lines(write: Callable[[str], object], lines: Lines, level: int) -> None:
    texts = map(json.dumps, lines.items)  # the C encoder: no indent, so one line each
    separator = ",\n" + INDENT * (level + 1)
    first = next(texts, None)
    if first is None:
        write("[]")
        return
    write("[" + separator[1:] + first)
    while chunk := separator.join(itertools.islice(texts, CHUNK_ROWS)):
        write(separator + chunk)
    write("\n" + INDENT * level + "]")


def _write_records(write: Callable[[str], object], records: Records, level: int) -> None:
    if records.rows == 0:
        write("[]")
        return
    # '{{"base": {}, "size": {}}}': str.format takes a row's values as they are (an int's
    # format is its JSON text), which is the fastest way CPython has to a million lines.
    keys = (encode_basestring_ascii(key).replace("{", "{{").replace("}", "}}") for key, _ in records.fields)
    template = "{{" + ", ".join(key + ": {}" for key in keys) + "}}"
    separator = ",\n" + INDENT * (level + 1)
    write("[" + separator[1:])
    for start, stop in chunks(records.rows):
        if start:
            write(separator)
        columns = [values(start, stop) for _, values in records.fields]
        write(separator.join(map(template.format, *columns)))
    write("\n" + INDENT * level + "]")
