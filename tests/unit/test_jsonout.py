"""jsonout writes what json.dumps(indent=2) writes, however records are chunked and whatever they hold."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pmpoolctl.output.jsonwriter import INTEGER, JSON_CHUNK_ROWS, JSON_TEXT, Lines, Records, json_strings, json_text

u64 = st.integers(0, 2**64 - 1)
keys = st.text(min_size=1, max_size=6)  # "%", quotes, backslashes and non-ASCII included
texts = st.text(max_size=8)


def records(rows: list[tuple[int, str]], int_key: str = "base", text_key: str = "type") -> Records:
    def columns(start: int, stop: int) -> tuple[list[Any], ...]:
        return [r[0] for r in rows[start:stop]], json_strings(r[1] for r in rows[start:stop])

    return Records([(int_key, INTEGER), (text_key, JSON_TEXT)], len(rows), columns)


def plain(rows: list[tuple[int, str]], int_key: str = "base", text_key: str = "type") -> list[dict[str, Any]]:
    return [{int_key: number, text_key: text} for number, text in rows]


def assert_records_text(text: str, document: Any, objects: list[dict[str, Any]]) -> None:
    """The same data as `document`, each record object on a line of its own as json.dumps writes it."""
    assert json.loads(text) == document
    assert text.endswith("\n")
    lines = [line.strip().removesuffix(",") for line in text.splitlines()]
    first = lines.index(json.dumps(objects[0])) if objects else 0
    assert lines[first : first + len(objects)] == [json.dumps(o) for o in objects]


@given(st.lists(st.tuples(u64, texts), max_size=5), keys, keys, st.integers(0, 3))
def test_records_match_json_dumps(rows: list[tuple[int, str]], int_key: str, text_key: str, depth: int) -> None:
    if int_key == text_key:
        text_key += "x"
    document: Any = records(rows, int_key, text_key)
    expected: Any = plain(rows, int_key, text_key)
    for level in range(depth):  # nested as dump nests its ranges
        document, expected = {f"k{level}": document, "n": level}, {f"k{level}": expected, "n": level}
    assert_records_text(json_text(document), expected, plain(rows, int_key, text_key))


def test_records_across_chunk_boundaries() -> None:
    for count in (JSON_CHUNK_ROWS - 1, JSON_CHUNK_ROWS, JSON_CHUNK_ROWS + 1, 2 * JSON_CHUNK_ROWS + 3):
        rows = [(n * 4096 + (n % 7) * 2**40, f"t{n % 3}") for n in range(count)]
        assert_records_text(json_text({"r": records(rows)}), {"r": plain(rows)}, plain(rows))


def test_empty_records_and_lines() -> None:
    document = {"r": records([]), "l": Lines(iter([])), "d": {}, "x": []}
    assert json_text(document) == json.dumps({"r": [], "l": [], "d": {}, "x": []}, indent=2) + "\n"


@given(st.lists(st.dictionaries(texts, st.integers() | texts | st.none(), max_size=3), max_size=4))
def test_lines_are_compact_one_per_line(items: list[dict[str, Any]]) -> None:
    text = json_text({"findings": Lines(iter(items))})
    assert json.loads(text) == {"findings": items}
    assert len(text.splitlines()) == (len(items) + 4 if items else 3)


def test_output_is_ascii_even_for_non_ascii_text() -> None:
    text = json_text({"r": records([(1, "Système\x1b")])})
    assert text.isascii()
    assert json.loads(text) == {"r": [{"base": 1, "type": "Système\x1b"}]}
