"""Batches as u64 arrays (issue 14) against the paths they replaced: the same ranges, or the same error.

Parsing: the plain chunks (an anchored regex, then C conversion) against the exact
paths, which are batch.py's code from before, line by line with `parse_number` and
entry by entry after `json.loads`; chunks are cut a few dozen characters long so that
one batch mixes both paths. Edits: plan_add and plan_remove over arrays against the
plans from before over lists and RangeSet only (written out below), for sorted and
unsorted, touching, overlapping, duplicated, misaligned, zero-size and past-2**64
requests; pools smaller and larger than the request (both sides of `arrayops`);
requests that are runs of the pool's own ranges (the galloping skip); requests as
arrays, as text and as JSON.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from pmpoolctl.errors import EditError, InputError
from pmpoolctl.numbers import U64_LIMIT, U64_MAX
from pmpoolctl.pool import batchjson, batchtext
from pmpoolctl.pool.batch import parse_batch
from pmpoolctl.pool.edits import plan_add, plan_remove
from pmpoolctl.pool.request import _refuse_first_bad, first_holding, first_overlap, in_order, merged
from pmpoolctl.ranges.everyaddress import EVERY_ADDRESS
from pmpoolctl.ranges.rangearray import RangeArray
from pmpoolctl.ranges.rangeset import Range, RangeSet

PROPERTY = settings(max_examples=300, deadline=None)
PAGE = 4096

Outcome = tuple[str, Any]  # ("ok", ranges) or ("error", message)


def outcome(run: Callable[[], Any]) -> Outcome:
    try:
        return ("ok", list(run()))
    except (InputError, EditError) as exc:
        return ("error", str(exc))


@contextmanager
def chunks_of(chars: int) -> Iterator[None]:
    """Batches cut into chunks of about `chars` characters (a megabyte in use)."""
    with patch.object(batchtext, "CHUNK_CHARS", chars), patch.object(batchjson, "CHUNK_CHARS", chars):
        yield


@contextmanager
def exact_paths_only() -> Iterator[None]:
    """No chunk takes the plain path: every line and entry is read as before issue 14."""
    with (
        patch.object(batchtext, "_read_plain", lambda *args: None),
        patch.object(batchjson, "_read_plain", lambda text: None),
    ):
        yield


def assert_paths_agree(text: str, chunk: int) -> None:
    """The same ranges or the same error message with plain chunks as with the exact paths only."""
    with chunks_of(chunk):
        fast = outcome(lambda: parse_batch(text, "batch"))
        with exact_paths_only():
            exact = outcome(lambda: parse_batch(text, "batch"))
    event(fast[0])
    assert fast == exact


# --- text ----------------------------------------------------------------------------------------------------------

u64_values = st.one_of(st.integers(0, U64_MAX), st.integers(0, 1 << 24), st.integers(U64_MAX - (1 << 20), U64_MAX))
WRITTEN: st.SearchStrategy[Callable[[int], str]] = st.sampled_from([hex, str])  # how a script prints a number
SUFFIXES = ["k", "K", "m", "M", "g", "G", "t", "T", "p", "P", "e", "E"]


@st.composite
def numbers(draw: st.DrawFn) -> str:
    """A token as people and scripts write them: mostly valid, sometimes what parse_number refuses."""
    kind = draw(st.sampled_from(["hex"] * 6 + ["decimal"] * 4 + ["HEX", "padded", "suffix", "bad"]))
    value = draw(u64_values)
    if kind == "hex":
        return hex(value)
    if kind == "HEX":
        return "0X" + format(value, "X")
    if kind == "decimal":
        return str(value)
    if kind == "padded":
        return "0x" + format(value, "x").zfill(draw(st.integers(1, 20)))
    if kind == "suffix":
        return str(draw(st.integers(0, 1 << 12))) + draw(st.sampled_from(SUFFIXES))
    bad = ["010", "00", "0b1", "0o7", "12Q", "-4096", "0x", "x10", "1_000", str(U64_LIMIT), hex(U64_LIMIT)]
    return draw(st.sampled_from([*bad, "16E", "0x" + "f" * 17, "\u0661\u0662", "4096.0", "+4096", "0x1g"]))


@st.composite
def text_lines(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["range"] * 16 + ["blank", "comment", "one", "three"]))
    if kind == "blank":
        return draw(st.sampled_from(["", " ", "\t", "\r"]))
    if kind == "comment":
        return draw(st.sampled_from(["# c", "  # indented", "#0x1000 0x1000"]))
    fields = [draw(numbers()) for _ in range({"range": 2, "one": 1, "three": 3}[kind])]
    separators = st.sampled_from([" ", " ", "\t", "  ", " \t", "\x0c"])
    line = draw(st.sampled_from(["", "", " ", "\t"])) + fields[0]
    for field in fields[1:]:
        line += draw(separators) + field
    return line + draw(st.sampled_from(["", "", "", " ", "\r", "  # note", "#x"]))


@st.composite
def text_batches(draw: st.DrawFn) -> str:
    lines = draw(st.lists(text_lines(), max_size=12))
    text = "\n".join(lines)
    return text + draw(st.sampled_from(["", "\n"])) if lines else text


@PROPERTY
@given(text_batches(), st.integers(1, 80))
def test_text_plain_chunks_read_as_the_exact_lines_do(text: str, chunk: int) -> None:
    assert_paths_agree(text, chunk)


@PROPERTY
@given(st.lists(st.tuples(u64_values, u64_values), max_size=40), st.data())
def test_plain_text_takes_the_plain_path(pairs: list[tuple[int, int]], data: st.DataObject) -> None:
    lines = [f"{data.draw(WRITTEN)(b)} {data.draw(WRITTEN)(s)}" for b, s in pairs]
    text = "\n".join(lines) + (data.draw(st.sampled_from(["", "\n"])) if lines else "")
    refused = AssertionError("a plain chunk took the exact path")
    with chunks_of(data.draw(st.integers(1, 200))), patch.object(batchtext, "_read_lines", side_effect=refused):
        assert list(parse_batch(text, "b")) == [Range(b, s) for b, s in pairs]


@pytest.mark.parametrize("form", ["text", "json"])
def test_a_size_suffix_is_read_on_the_plain_path(form: str) -> None:
    bases = [0x100000000 + i * 0x400000 for i in range(100)]
    if form == "text":
        text, exact = "".join(f"{base:#x} 2M\n" for base in bases), (batchtext, "_read_lines")
    else:
        text, exact = json.dumps([{"base": hex(base), "size": "2M"} for base in bases]), (batchjson, "_read_document")
    with patch.object(*exact, side_effect=AssertionError("the exact path")):
        assert list(parse_batch(text, "b")) == [Range(base, 2 << 20) for base in bases]


def test_progress_counts_every_line_once() -> None:
    text = "# header\n" + "".join(f"{i * 0x2000:#x} 0x1000\n" for i in range(1, 5000)) + "0x1000 4K"
    for chunk in (1, 100, 1 << 20):
        seen: list[int] = []
        with chunks_of(chunk):
            parse_batch(text, "b", seen.append)
        assert sum(seen) == text.count("\n")


# --- JSON ----------------------------------------------------------------------------------------------------------


@st.composite
def json_values(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["int"] * 12 + ["hex"] * 4 + ["decimal", "suffix", "spaced", "big", "other"]))
    value = draw(u64_values)
    if kind == "int":
        return value
    if kind == "hex":
        return draw(st.sampled_from([hex(value), "0X" + format(value, "X")]))
    if kind == "decimal":
        return str(value)
    if kind == "suffix":
        return str(draw(st.integers(0, 1 << 12))) + draw(st.sampled_from(SUFFIXES))
    if kind == "spaced":
        return f" {value} "
    if kind == "big":
        return draw(st.sampled_from([U64_LIMIT, str(U64_LIMIT), -1, "010", "00"]))
    return draw(st.sampled_from([True, None, 1.5, [4096], {"x": 1}, "12Q", "", "\u0661"]))


@st.composite
def json_batches(draw: st.DrawFn) -> str:
    gap = st.sampled_from(["", "", " ", "\n  ", "\t", "\r\n"])
    entries = []
    for _ in range(draw(st.integers(0, 10))):
        keys = draw(st.sampled_from([["base", "size"]] * 16 + [["size", "base"], ["base"], ["base", "size", "x"]]))
        members = [f"{draw(gap)}{json.dumps(k)}{draw(gap)}:{draw(gap)}{json.dumps(draw(json_values()))}" for k in keys]
        entry = "{" + ",".join(members) + draw(gap) + "}"
        entries.append(draw(st.sampled_from([entry] * 30 + ["null", "[4096, 4096]", "4096"])))
    body = ",".join(draw(gap) + e for e in entries)
    text = draw(gap) + "[" + body + draw(gap) + "]" + draw(gap)
    damage = draw(st.sampled_from([None] * 12 + ["trailing comma", "unclosed", "after", "object"]))
    if damage == "trailing comma":
        close = text.rfind("]")
        text = text[:close] + "," + text[close:]
    elif damage == "unclosed":
        text = text.rstrip().removesuffix("]")
    elif damage == "after":
        text += "x"
    elif damage == "object":
        text = '{"base": 4096, "size": 4096}'
    return text


@PROPERTY
@given(json_batches(), st.integers(1, 80))
def test_json_plain_chunks_read_as_json_loads_does(text: str, chunk: int) -> None:
    assert_paths_agree(text, chunk)


@PROPERTY
@given(st.lists(st.tuples(u64_values, u64_values), max_size=30), st.integers(1, 200), st.data())
def test_plain_json_takes_the_plain_path(pairs: list[tuple[int, int]], chunk: int, data: st.DataObject) -> None:
    forms: list[Callable[[int], object]] = [int, hex, str]
    form = st.sampled_from(forms)
    entries = [{"base": data.draw(form)(b), "size": data.draw(form)(s)} for b, s in pairs]
    text = json.dumps(entries, indent=data.draw(st.sampled_from([None, 1, "\t"])))
    with chunks_of(chunk), patch.object(batchjson, "_read_document", side_effect=AssertionError("json.loads")):
        assert list(parse_batch(text, "b.json")) == [Range(b, s) for b, s in pairs]


# --- edits: the plans from before, over lists and RangeSet ---------------------------------------------------------


def plan_add_before(current: list[Range], requested: list[Range], page_size: int, merge: bool) -> list[Range]:
    """edits.plan_add before issue 14; a range of size 2**64 where the pool would hold every address."""
    _refuse_first_bad(requested, page_size, "added")  # the per-range loop, as it was
    ordered = sorted(requested)
    if not merge:
        for prev, cur in itertools.pairwise(ordered):
            if cur.overlaps(prev):
                raise EditError(f"added ranges {prev} and {cur} overlap each other (use --merge to allow)")
        for r in ordered:
            clash = next((p for p in current if p.overlaps(r)), None)
            if clash is not None:
                raise EditError(f"added range {r} overlaps pool range {clash} (use --merge to allow)")
    return RangeSet(current + ordered).ranges()


def plan_remove_before(current: list[Range], requested: list[Range], page_size: int, ignore: bool) -> list[Range]:
    """edits.plan_remove before issue 14."""
    _refuse_first_bad(requested, page_size, "removed")
    removal = RangeSet(requested)
    if not ignore:
        missing = removal.difference(RangeSet(current)).ranges()
        if missing:
            first = missing[0]
            owner = next(r for r in sorted(requested) if r.base <= first.base < r.end)
            raise EditError(
                f"removed range {owner} is not all in the pool: {first} is missing (use --ignore-missing to allow)"
            )
    return RangeSet(current).difference(removal).ranges()


# Cells of `unit` bytes from `offset`: at 0, across 2**32, or flush with 2**64; 40 cells at most.
EXTENT = 40


@st.composite
def spaces(draw: st.DrawFn) -> tuple[int, int]:
    unit = PAGE * draw(st.sampled_from([1, 2, 16, 256]))
    where = draw(st.sampled_from(["bottom", "2^32", "top"]))
    offset = {"bottom": 0, "2^32": (1 << 32) - 8 * unit, "top": U64_LIMIT - EXTENT * unit}[where]
    return unit, offset


@st.composite
def pools(draw: st.DrawFn, unit: int, offset: int) -> list[Range]:
    """A canonical pool: runs of cells with gaps, as few or as many ranges as drawn."""
    ranges, cursor = [], draw(st.integers(0, 3))
    for _ in range(draw(st.integers(0, 14))):
        length = draw(st.integers(1, 4))
        if cursor + length > EXTENT:
            break
        ranges.append(Range(offset + cursor * unit, length * unit))
        cursor += length + draw(st.integers(1, 3))
    return ranges


@st.composite
def requests(draw: st.DrawFn, pool: list[Range], unit: int, offset: int) -> list[Range]:
    """Ranges in any order: free spans, pieces of the pool, runs of its ranges, and a bad one now and then."""
    shape = draw(st.sampled_from(["free", "inside", "pool runs", "mixed"]))
    ranges: list[Range] = []
    if shape in ("inside", "mixed") and pool:
        for _ in range(draw(st.integers(0, 12))):
            r = draw(st.sampled_from(pool))
            first = draw(st.integers(0, r.size // unit - 1))
            count = draw(st.integers(1, r.size // unit - first))
            ranges.append(Range(r.base + first * unit, count * unit))
    if shape in ("pool runs", "mixed") and pool:
        start = draw(st.integers(0, len(pool) - 1))
        ranges += pool[start : draw(st.integers(start + 1, len(pool)))]
    if shape in ("free", "mixed") or not ranges:
        for _ in range(draw(st.integers(0, 16))):
            first = draw(st.integers(0, EXTENT - 1))
            ranges.append(Range(offset + first * unit, draw(st.integers(1, min(6, EXTENT - first))) * unit))
    order = draw(st.sampled_from(["sorted", "as drawn", "reversed", "shuffled"]))
    if order == "sorted":
        ranges = sorted(set(ranges)) if draw(st.booleans()) else sorted(ranges)
    elif order == "reversed":
        ranges.reverse()
    elif order == "shuffled":
        ranges = draw(st.permutations(ranges))
    bad = draw(st.sampled_from([None] * 6 + ["zero", "base", "size", "past 2^64"]))
    if bad is not None:
        at = draw(st.integers(0, len(ranges)))
        base = offset + draw(st.integers(0, EXTENT - 1)) * unit
        ranges.insert(
            at,
            {
                "zero": Range(base, 0),
                "base": Range(base + PAGE // 2, unit),
                "size": Range(base, unit + PAGE // 2),
                "past 2^64": Range(U64_LIMIT - unit, 2 * unit),
            }[bad],
        )
    return ranges


def as_parsed(ranges: list[Range], form: str, draw: Callable[[Any], Any]) -> RangeArray:
    """The ranges as an edit gets them: an array, or a batch file read by parse_batch."""
    if form == "array":
        return RangeArray.from_ranges(ranges)
    if form == "text":
        text = "".join(f"{draw(WRITTEN)(r.base)} {draw(WRITTEN)(r.size)}\n" for r in ranges)
    else:
        text = json.dumps([{"base": r.base, "size": hex(r.size)} for r in ranges])
    with chunks_of(draw(st.integers(1, 120))):
        parsed = parse_batch(text, "batch")
    assert list(parsed) == ranges
    return parsed


@st.composite
def edits(draw: st.DrawFn) -> tuple[list[Range], list[Range], RangeArray]:
    unit, offset = draw(spaces())
    pool = draw(pools(unit, offset))
    requested = draw(requests(pool, unit, offset))
    return pool, requested, as_parsed(requested, draw(st.sampled_from(["array", "text", "json"])), draw)


def expected(run: Callable[[], list[Range]]) -> Outcome:
    result = outcome(run)
    if result[0] == "ok" and any(r.size > U64_MAX for r in result[1]):  # before, a crash (OverflowError)
        return (
            "error",
            "the pool would hold all 2^64 addresses, [0x0, 0x10000000000000000): a range of size 2^64, "
            "which no u64 size can say",
        )
    return result


Plan = Callable[[RangeArray, Sequence[Range], int, bool], RangeArray]
PlanBefore = Callable[[list[Range], list[Range], int, bool], list[Range]]
PLANS: dict[str, tuple[Plan, PlanBefore]] = {
    "add": (plan_add, plan_add_before),  # the flag: --merge
    "remove": (plan_remove, plan_remove_before),  # the flag: --ignore-missing
}


@pytest.mark.parametrize("kind", list(PLANS))
@PROPERTY
@given(edits(), st.booleans())
def test_plans_on_arrays_are_the_plans_from_before(
    kind: str, edit: tuple[list[Range], list[Range], RangeArray], flag: bool
) -> None:
    plan, plan_before = PLANS[kind]
    pool, requested, parsed = edit
    current = RangeArray.from_ranges(pool)
    got = outcome(lambda: plan(current, parsed, PAGE, flag))
    event(f"{got[0]}, {'request larger' if len(requested) > len(pool) else 'pool larger'}")
    assert got == expected(lambda: plan_before(pool, requested, PAGE, flag))
    assert list(current) == pool  # the edit made new arrays


@pytest.mark.parametrize("ignore", [False, True])
def test_requests_covering_every_address(ignore: bool) -> None:
    """Two halves of the address space: no u64 size holds their union. Before, an OverflowError (exit 70)."""
    halves = [Range(1 << 63, 1 << 63), Range(0, 1 << 63)]
    with pytest.raises(EditError, match="all 2\\^64 addresses"):
        plan_add(RangeArray(), halves, PAGE, merge=False)
    pool = RangeArray.from_ranges([Range(0x1000, 0x1000)])
    if ignore:
        assert not plan_remove(pool, halves, PAGE, ignore_missing=True)
    else:
        with pytest.raises(EditError, match=r"removed range \[0x0, 0x8000000000000000\) is not all in the pool"):
            plan_remove(pool, halves, PAGE, ignore_missing=False)


@st.composite
def raw_requests(draw: st.DrawFn) -> list[Range]:
    """Non-empty ranges inside the address space, in any order, at its bottom or flush with its top."""
    unit = draw(st.sampled_from([1, 3, PAGE, 1 << 62]))
    cells = U64_LIMIT // unit if unit == 1 << 62 else 24
    offset = draw(st.sampled_from([0, U64_LIMIT - cells * unit]))
    ranges = []
    for _ in range(draw(st.integers(0, 20))):
        first = draw(st.integers(0, cells - 1))
        # At most the cells left, and short of all 2**64 addresses (a size no u64 holds, so never asked for).
        ranges.append((first, draw(st.integers(1, min(cells - first, U64_MAX // unit)))))
    return [Range(offset + first * unit, count * unit) for first, count in ranges]


@PROPERTY
@given(raw_requests())
def test_request_ordered_and_merged_by_c_loops(ranges: list[Range]) -> None:
    ordered = in_order(RangeArray.from_ranges(ranges))
    assert list(ordered) == sorted(ranges)
    pairs = list(itertools.pairwise(sorted(ranges)))
    assert first_overlap(ordered) == next((i for i, (a, b) in enumerate(pairs) if b.overlaps(a)), None)
    assert ordered.is_apart() == all(a.end < b.base for a, b in pairs)
    canonical = RangeSet(ranges).ranges()
    if any(r.size > U64_MAX for r in canonical):  # all 2**64 addresses: a type of its own, no OverflowError
        assert merged(ordered) is EVERY_ADDRESS
    else:
        assert list(merged(ordered)) == canonical
    for r in ranges:
        assert first_holding(ordered, r.base) == next(o for o in sorted(ranges) if o.base <= r.base < o.end)
