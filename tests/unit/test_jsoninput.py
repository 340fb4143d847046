"""Loading users' JSON (maps, batches, captures): an object with a key twice is refused, and named.

JSON leaves open which of two values for one key counts; Python's json takes the last. A map
entry `{"type": "Reserved", "type": "System RAM"}` read as RAM by us and as reserved by another
reader is the kind of disagreement a gate must not settle by itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pmpoolctl.errors import InputError
from pmpoolctl.files.jsoninput import load_json
from pmpoolctl.memmap.jsonmap import parse_json_map
from pmpoolctl.pool.batchjson import parse_json_batch
from tests.conftest import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
    max_leaves=20,
)


@given(documents, st.sampled_from([None, 0, 2]))
def test_a_document_without_a_key_twice_loads_as_json_loads_it(document: Any, indent: int | None) -> None:
    text = json.dumps(document, indent=indent)
    assert load_json(text, "d.json") == json.loads(text)


@given(documents, st.text(max_size=3), scalars, scalars, st.integers(0, 3))
def test_a_key_twice_is_refused_at_the_object_that_has_it(
    document: Any, key: str, first: Any, second: Any, depth: int
) -> None:
    twice = "{" + f"{json.dumps(key)}: {json.dumps(first)},\n {json.dumps(key)}: {json.dumps(second)}" + "}"
    prefix = "[\n" * depth
    text = prefix + json.dumps(document) + ",\n" * (depth > 0) + twice + "]" * depth
    if depth == 0:
        text = twice
    with pytest.raises(InputError) as info:
        load_json(text, "d.json")
    message = str(info.value)
    line, column = (int(part) for part in message.split(":")[1:3])
    # The place named is the `{` of the object with the key twice (line and column from 1).
    offset = sum(len(row) + 1 for row in text.split("\n")[: line - 1]) + column - 1
    assert text[offset:].startswith(twice)
    assert f"the key {json.dumps(key)} twice" in message


def test_keys_equal_once_decoded_are_the_same_key() -> None:
    with pytest.raises(InputError, match=r'd\.json:1:1: .*the key "start" twice'):
        load_json('{"start": 0, "\\u0073tart": 1}', "d.json")


def test_an_object_nested_too_deep_to_place_is_still_refused() -> None:
    text = "[" * 900 + '{"a": 1, "a": 2}' + "]" * 900  # the C parser reads it, the Python one cannot
    with pytest.raises(InputError, match=r'^d\.json: invalid JSON for this tool: an object has the key "a" twice'):
        load_json(text, "d.json")


def test_a_map_entry_with_its_type_twice_is_refused() -> None:
    text = (
        '[{"start": 0, "end": 4096, "type": "System RAM"},\n'
        ' {"start": 4096, "end": 8192, "type": "Reserved", "type": "System RAM"}]'
    )
    with pytest.raises(InputError, match=r'^m\.json:2:2: .*the key "type" twice'):
        parse_json_map(text, "m.json")


def test_a_map_with_its_entries_twice_is_refused() -> None:
    entries = '[{"start": 0, "end": 4096, "type": "System RAM"}]'
    with pytest.raises(InputError, match=r'^m\.json:1:1: .*the key "entries" twice'):
        parse_json_map(f'{{"entries": {entries}, "entries": []}}', "m.json")


def test_a_batch_entry_with_its_size_twice_is_refused() -> None:
    with pytest.raises(InputError, match=r'^b\.json:1:2: .*the key "size" twice'):
        parse_json_batch('[{"base": 4096, "size": 4096, "size": 1099511627776}]', "b.json")


def test_validate_refuses_a_map_with_a_key_twice_and_passes_nothing(tmp_path: Path) -> None:
    """The pool's RAM in the map, but the entry also says it is reserved: exit 3, one error line."""
    memmap = tmp_path / "map.json"
    memmap.write_text('[{"start": 0, "end": 1099511627776, "type": "Reserved", "type": "System RAM"}]\n')
    result = run_cli(["validate", str(EXAMPLES / "pool.dtb"), "--memmap", str(memmap)])
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr == (
        f'error: {memmap}:1:2: invalid JSON for this tool: an object has the key "type" twice, '
        "and which value counts is not defined\n"
    )
