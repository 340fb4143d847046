"""JSON batches, a list of `{"base": …, "size": …}`, parsed into u64 arrays.

The usual document, objects of exactly "base" then "size" whose values are integers
or plain number strings ("0x1000", "4096", a size "2M" too), is checked by anchored
regexes a chunk of entries at a time and its numbers converted by C loops: it never
becomes a million dicts. Any other document is loaded by `json` and read entry by entry, with the errors
that name the entry; a value past 64 bits sends the whole document there too.
"""

from __future__ import annotations

import re
from array import array
from itertools import repeat

from pmpoolctl.errors import InputError, NumberError
from pmpoolctl.files.jsoninput import json_integer, load_json
from pmpoolctl.numbers import PLAIN_NUMBER, PLAIN_SIZE, parse_repeated
from pmpoolctl.ranges.rangearray import RangeArray

CHUNK_CHARS = 1 << 17  # a few thousand entries

_WS = r"[ \t\n\r]*"  # JSON's whitespace
# Values: JSON integers, or strings `parse_number` reads as `int(text, 0)` does (a size may have a suffix).
_JSON_INTEGER = r"(?:0|[1-9][0-9]{0,19})"
_ENTRY = (
    rf'\{{{_WS}"base"{_WS}:{_WS}(?:{_JSON_INTEGER}|"{PLAIN_NUMBER}"){_WS},'
    rf'{_WS}"size"{_WS}:{_WS}(?:{_JSON_INTEGER}|"{PLAIN_SIZE}"){_WS}\}}'
)
# The entries, a chunk of them at a time: the first chunk, and each after it (from the comma on).
# Linear: a token is followed by a character it cannot contain, so no part matches two ways.
_FIRST_ENTRIES = re.compile(rf"{_WS}{_ENTRY}(?:{_WS},{_WS}{_ENTRY})*{_WS}")
_MORE_ENTRIES = re.compile(rf"(?:{_WS},{_WS}{_ENTRY})+{_WS}")
_BLANK = re.compile(_WS)
_OPEN = re.compile(rf"{_WS}\[")
_CLOSE = re.compile(rf"\]{_WS}\Z")
_NUMBER = re.compile(r"(?:0[xX][0-9a-fA-F]+|[0-9]+)[kKmMgGtTpPeE]?")  # the values, in order: the keys hold no digit


def parse_json_batch(text: str, source: str) -> RangeArray:
    """The ranges listed in the JSON document `text` (from `source`)."""
    plain = _read_plain(text)
    return plain if plain is not None else _read_document(text, source)


def _read_plain(text: str) -> RangeArray | None:
    """The ranges of a document of the usual shape whose values fit in 64 bits, else None."""
    opening, closing = _OPEN.match(text), _CLOSE.search(text)
    if opening is None or closing is None or closing.start() < opening.end():
        return None
    start, stop = opening.end(), closing.start()  # the entries, between the brackets
    bases, sizes = array("Q"), array("Q")
    entries = _FIRST_ENTRIES
    while not _BLANK.fullmatch(text, start, stop):  # whitespace only before the closing bracket: done
        end = text.find("}", start + CHUNK_CHARS, stop)  # a chunk ends with an entry
        end = stop if end < 0 else end + 1
        if entries.fullmatch(text, start, end) is None:
            return None
        tokens = _NUMBER.findall(text, start, end)
        try:
            chunk_bases = array("Q", map(int, tokens[0::2], repeat(0)))
            chunk_sizes = parse_repeated(tokens[1::2])
        except (OverflowError, ValueError, NumberError):  # past 64 bits, or a suffix int() refuses
            return None
        bases.extend(chunk_bases)
        sizes.extend(chunk_sizes)
        start, entries = end, _MORE_ENTRIES
    return RangeArray(bases, sizes)


def _read_document(text: str, source: str) -> RangeArray:
    document = load_json(text, source)
    if not isinstance(document, list):
        raise InputError(f'{source}: expected a JSON list of {{"base": …, "size": …}} objects')
    bases, sizes = array("Q"), array("Q")
    for index, entry in enumerate(document):
        where = f"{source}: entry {index}"
        if not isinstance(entry, dict) or "base" not in entry or "size" not in entry:
            raise InputError(f'{where}: expected an object with "base" and "size"')
        bases.append(json_integer(entry["base"], f"{where} base"))
        sizes.append(json_integer(entry["size"], f"{where} size"))
    return RangeArray(bases, sizes)
