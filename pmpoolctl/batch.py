"""Batches of ranges for add-range/remove-range `--from FILE`.

Text: one `BASE SIZE` pair per line, numbers as on the command line, `#` starts
a comment. JSON: a list of `{"base": …, "size": …}` with integers or number
strings. Errors name the file and the line (text) or the entry (JSON).
"""

from __future__ import annotations

from collections.abc import Callable

from pmpoolctl.errors import InputError, NumberError
from pmpoolctl.files import numbered_lines
from pmpoolctl.jsoninput import json_integer, load_json
from pmpoolctl.numbers import parse_number
from pmpoolctl.ranges import Range

PROGRESS_STEP = 1 << 16  # lines between two reports of progress


def batch_lines(text: str) -> int:
    """How many lines `parse_batch` reports progress over (JSON batches report none)."""
    return 0 if text.lstrip()[:1] in ("[", "{") else text.count("\n") + 1


def parse_batch(text: str, source: str, advance: Callable[[int], None] | None = None) -> list[Range]:
    """The ranges listed in `text` (the contents of `source`); `advance(lines)` reports progress."""
    if text.lstrip()[:1] in ("[", "{"):
        return _parse_json(text, source)
    return _parse_text(text, source, advance)


def _parse_text(text: str, source: str, advance: Callable[[int], None] | None) -> list[Range]:
    ranges: list[Range] = []
    sizes: dict[int, int] = {}  # batches repeat a few sizes: one int object each, not one per line
    for lineno, line in numbered_lines(text):
        if advance is not None and lineno % PROGRESS_STEP == 0:
            advance(PROGRESS_STEP)
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 2:
            raise InputError(f"{source}:{lineno}: expected 'BASE SIZE', found {len(fields)} fields")
        try:
            base, size = parse_number(fields[0]), parse_number(fields[1])
        except NumberError as exc:
            raise InputError(f"{source}:{lineno}: {exc}") from exc
        ranges.append(Range(base, sizes.setdefault(size, size)))
    return ranges


def _parse_json(text: str, source: str) -> list[Range]:
    document = load_json(text, source)
    if not isinstance(document, list):
        raise InputError(f'{source}: expected a JSON list of {{"base": …, "size": …}} objects')
    ranges: list[Range] = []
    for index, entry in enumerate(document):
        where = f"{source}: entry {index}"
        if not isinstance(entry, dict) or "base" not in entry or "size" not in entry:
            raise InputError(f'{where}: expected an object with "base" and "size"')
        ranges.append(Range(json_integer(entry["base"], f"{where} base"), json_integer(entry["size"], f"{where} size")))
    return ranges
