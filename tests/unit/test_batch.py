"""Batch files for add-range/remove-range --from: text lines and JSON lists."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmpoolctl.errors import InputError
from pmpoolctl.numbers import U64_LIMIT, U64_MAX
from pmpoolctl.pool.batch import parse_batch
from pmpoolctl.ranges.rangeset import Range

PROPERTY = settings(max_examples=200, deadline=None)


def refused(text: str, source: str = "batch.txt") -> str:
    with pytest.raises(InputError) as info:
        parse_batch(text, source)
    message = str(info.value)
    assert "\n" not in message  # one line, as every error is
    return message


# --- text -----------------------------------------------------------------------------------------------------------


def test_text_with_comments_blank_lines_hex_and_suffixes() -> None:
    text = (
        "# ranges handed to the hypervisor\n"
        "\n"
        "0x100000000 2M   # first\n"
        "   \t\n"
        "4096\t0x1000\n"
        "  1G 1g#no space before the comment\n"
        "#0x1 0x2\n"
        "5368709120 0x40000000"  # no final newline
    )
    assert list(parse_batch(text, "batch.txt")) == [
        Range(0x100000000, 2 << 20),
        Range(4096, 4096),
        Range(1 << 30, 1 << 30),
        Range(0x140000000, 0x40000000),
    ]


def test_text_keeps_order_and_duplicates() -> None:
    # Overlap and order are the edit's business (plan_add refuses or merges), not the parser's.
    assert list(parse_batch("8192 4096\n4096 8192\n8192 4096\n", "b")) == [
        Range(8192, 4096),
        Range(4096, 8192),
        Range(8192, 4096),
    ]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "   \n\t# indented comment\n"])
def test_text_without_ranges_is_an_empty_batch(text: str) -> None:
    assert list(parse_batch(text, "b")) == []


def test_text_with_crlf_line_endings() -> None:
    assert list(parse_batch("0x1000 0x1000\r\n# c\r\n0x2000 4k\r\n", "b")) == [
        Range(0x1000, 0x1000),
        Range(0x2000, 0x1000),
    ]


def test_zero_and_unaligned_sizes_pass_the_parser() -> None:
    assert list(parse_batch("0 0\n0x1001 1\n", "b")) == [Range(0, 0), Range(0x1001, 1)]


@pytest.mark.parametrize(
    ("text", "prefix", "needle"),
    [
        ("0x1000 0x1000\n0x2000\n", "pool.txt:2:", "found 1 fields"),
        ("0x1000 0x1000 0x1000\n", "pool.txt:1:", "found 3 fields"),
        ("# header\n\n0x1000 0x1000\n0x2000 0x1000 extra # comment\n", "pool.txt:4:", "found 3 fields"),
        ("0x1000,0x1000\n", "pool.txt:1:", "found 1 fields"),
        ("# header\n\n0x1000 12Q\n", "pool.txt:3:", "12Q"),
        ("12Q 0x1000\n", "pool.txt:1:", "12Q"),
        ("0x1000 0x1000\n010 0x1000\n", "pool.txt:2:", "leading zero"),
        ("0x1000 -4096\n", "pool.txt:1:", "negative"),
        ("16E 0x1000\n", "pool.txt:1:", "64 bits"),
        ("0x1000 0x10000000000000000\n", "pool.txt:1:", "64 bits"),
        ("0x1000 0x1000\r\n\r\n0x1000 bad\r\n", "pool.txt:3:", "bad"),
    ],
)
def test_text_errors_name_file_and_line(text: str, prefix: str, needle: str) -> None:
    message = refused(text, "pool.txt")
    assert message.startswith(prefix), message
    assert needle in message


def test_text_error_line_numbers_count_newlines_only() -> None:
    # A form feed is whitespace inside a line (str.split drops it), not a line break:
    # the bad number is on line 2 as an editor or `grep -n` counts lines.
    message = refused("0x1000 0x1000\x0c\n0x2000 junk\n", "pool.txt")
    assert message.startswith("pool.txt:2:"), message


@PROPERTY
@given(st.lists(st.tuples(st.integers(0, U64_MAX), st.integers(0, U64_MAX)), max_size=10), st.data())
def test_text_round_trip(pairs: list[tuple[int, int]], data: st.DataObject) -> None:
    lines = []
    for base, size in pairs:
        base_text = data.draw(st.sampled_from([str(base), hex(base)]))
        size_text = data.draw(st.sampled_from([str(size), hex(size)]))
        comment = data.draw(st.sampled_from(["", "  # note", "#x"]))
        lines.append(f"{base_text} {size_text}{comment}")
        if data.draw(st.booleans()):
            lines.append("# between")
    assert list(parse_batch("\n".join(lines), "b")) == [Range(b, s) for b, s in pairs]


@PROPERTY
@given(st.integers(0, 8), st.integers(0, 8))
def test_text_error_line_is_counted_over_blank_and_comment_lines(blanks: int, comments: int) -> None:
    text = "4096 4096\n" + "\n" * blanks + "# c\n" * comments + "4096 nope\n"
    assert refused(text, "f").startswith(f"f:{2 + blanks + comments}:")


# --- JSON -----------------------------------------------------------------------------------------------------------


def test_json_list_with_integers_and_strings() -> None:
    text = '[{"base": 4096, "size": "2M"}, {"base": "0x100000000", "size": 8192}, {"size": " 1g ", "base": "1G"}]'
    assert list(parse_batch(text, "b.json")) == [
        Range(4096, 2 << 20),
        Range(0x100000000, 8192),
        Range(1 << 30, 1 << 30),
    ]


def test_json_spread_over_lines_with_leading_whitespace() -> None:
    text = '\n  [\n  {"base": 4096,\n   "size": 4096, "comment": "extra keys are ignored"}\n]\n'
    assert list(parse_batch(text, "b.json")) == [Range(4096, 4096)]


def test_json_empty_list() -> None:
    assert list(parse_batch("[]", "b.json")) == []
    assert list(parse_batch(" [ ]\n", "b.json")) == []


def test_json_u64_limits() -> None:
    text = json.dumps([{"base": 0, "size": U64_MAX}, {"base": str(U64_MAX), "size": hex(U64_MAX)}])
    assert list(parse_batch(text, "b.json")) == [Range(0, U64_MAX), Range(U64_MAX, U64_MAX)]


@PROPERTY
@given(st.lists(st.tuples(st.integers(0, U64_MAX), st.integers(0, U64_MAX)), max_size=10), st.data())
def test_json_round_trip(pairs: list[tuple[int, int]], data: st.DataObject) -> None:
    entries: list[dict[str, object]] = []
    for base, size in pairs:
        entries.append(
            {
                "base": data.draw(st.sampled_from([base, str(base), hex(base)])),
                "size": data.draw(st.sampled_from([size, str(size), hex(size)])),
            }
        )
    indent = data.draw(st.sampled_from([None, 2]))
    assert list(parse_batch(json.dumps(entries, indent=indent), "b.json")) == [Range(b, s) for b, s in pairs]


@pytest.mark.parametrize(
    ("text", "prefix"),
    [
        ('[{"base": 1,}]', "b.json:1:13:"),
        ('[\n  {"base": 4096, "size": 4096},\n  {"base": 8192 "size": 4096}\n]', "b.json:3:17:"),
        ("[", "b.json:1:2:"),
        ('[{"base": 4096, "size": 4096}', "b.json:1:30:"),
        ("[0x1000]", "b.json:1:"),
    ],
)
def test_invalid_json_names_line_and_column(text: str, prefix: str) -> None:
    message = refused(text, "b.json")
    assert message.startswith(prefix), message
    assert "JSON" in message


def test_json_nested_too_deeply_is_an_input_error() -> None:
    depth = 200_000
    message = refused("[" * depth + "]" * depth, "b.json")
    assert message.startswith("b.json:")


def test_json_integer_with_too_many_digits_is_an_input_error() -> None:
    # Python refuses to convert integers of more than 4300 digits with a plain ValueError,
    # not a JSONDecodeError; that must still be an input error, not a crash (exit 70).
    text = '[{"base": 1' + "0" * 5000 + ', "size": 4096}]'
    message = refused(text, "b.json")
    assert message.startswith("b.json:")


def test_a_json_object_instead_of_a_list_is_refused_as_json() -> None:
    # Valid JSON, but not a list: the user should hear that a list is expected,
    # not that line 1 has the wrong number of 'BASE SIZE' fields.
    message = refused('{"base": 4096, "size": 4096}', "b.json")
    assert message.startswith("b.json:"), message
    assert "list" in message, message


@pytest.mark.parametrize("text", ['"0x1000 0x1000"', "4096", "null"])
def test_a_json_scalar_is_refused(text: str) -> None:
    assert refused(text, "b.json").startswith("b.json:")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param('[{"base": 4096, "size": 4096}, {"base": 8192}]', "entry 1", id="missing-size"),
        pytest.param('[{"size": 4096}]', "entry 0", id="missing-base"),
        pytest.param('[{"base": 4096, "size": 4096}, [8192, 4096]]', "entry 1", id="not-an-object"),
        pytest.param("[null]", "entry 0", id="null-entry"),
        pytest.param('[{"base": true, "size": 4096}]', "entry 0 base", id="bool-base"),
        pytest.param('[{"base": 4096, "size": false}]', "entry 0 size", id="bool-size"),
        pytest.param('[{"base": 4096.0, "size": 4096}]', "entry 0 base", id="float"),
        pytest.param('[{"base": null, "size": 4096}]', "entry 0 base", id="null-value"),
        pytest.param('[{"base": [4096], "size": 4096}]', "entry 0 base", id="list-value"),
        pytest.param('[{"base": 4096, "size": 4096}, {"base": 4096, "size": -4096}]', "entry 1 size", id="negative"),
        pytest.param('[{"base": "-4096", "size": 4096}]', "entry 0 base", id="negative-string"),
        pytest.param(f'[{{"base": {U64_LIMIT}, "size": 4096}}]', "entry 0 base", id="past-u64"),
        pytest.param(f'[{{"base": 4096, "size": "{U64_LIMIT:#x}"}}]', "entry 0 size", id="past-u64-string"),
        pytest.param('[{"base": 4096, "size": "12Q"}]', "entry 0 size", id="bad-string"),
        pytest.param('[{"base": "010", "size": 4096}]', "entry 0 base", id="leading-zero-string"),
    ],
)
def test_json_entry_errors_name_the_entry(text: str, where: str) -> None:
    message = refused(text, "b.json")
    assert message.startswith(f"b.json: {where}"), message


@PROPERTY
@given(st.integers(0, 20), st.sampled_from([-1, U64_LIMIT, True, 1.5, None, "x"]))
def test_json_error_names_the_index_of_the_bad_entry(good: int, bad: object) -> None:
    entries: list[dict[str, object]] = [{"base": 4096 * i, "size": 4096} for i in range(good)]
    entries.append({"base": 4096, "size": bad})
    message = refused(json.dumps(entries), "b.json")
    assert message.startswith(f"b.json: entry {good} size:"), message
