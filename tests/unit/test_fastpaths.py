"""The fast paths of issue 19 against the reference paths they stand in for.

Each fast path must give exactly what the slower one gives, or hand over to it:

- the reader's `_walk_fast` against `_walk` (the reference walk, held to dtc's checks by
  name): the same nodes for every blob `_walk` accepts, and never a tree for one it refuses,
  over real trees and thousands of corrupted copies of them;
- `write_table`'s one-`%`-per-chunk path against its cell-by-cell path, byte for byte;
- `dump --dts`'s chunked `%` formatting against a format call per pair and per cell;
- `arrayops.union`'s merge of a batch into the pool's gaps against the walking union;
- `pool_names`' search of the bytes against the root's children read one by one;
- `is_canonical_like` (diff's second pool) against `is_canonical`, and `common_ends` against
  a plain loop.
"""

from __future__ import annotations

import random
import struct
import sys
from array import array
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmpoolctl.dtb import reader
from pmpoolctl.dtb.dts import render_dts, value_parts
from pmpoolctl.dtb.model import Node
from pmpoolctl.dtb.reader import DTC_NAMES, KERNEL_NAMES, parse_blob
from pmpoolctl.dtb.writer import append_child, build_minimal_blob
from pmpoolctl.errors import BlobError
from pmpoolctl.memmap.model import MemoryMap
from pmpoolctl.output.tables import Column, Fast, hex_column, index_column, int_column, size_column, write_table
from pmpoolctl.pool.poolfile import pool_names, pool_names_by_walk
from pmpoolctl.ranges import arrayops
from pmpoolctl.ranges.rangearray import RangeArray, common_ends
from tests.conftest import DATA

ROOT = Path(__file__).resolve().parents[2]
REAL_TREES = sorted((ROOT / "tests" / "data").glob("*.dtb")) + sorted((ROOT / "examples").glob("*.dtb"))


# --- the reader ------------------------------------------------------------------------------------------------------


def walks(data: bytes, names: str) -> tuple[object, object]:
    """(the fast walk's outcome, the reference walk's): nodes and end, or the exception's type."""

    def outcome(walk: object) -> object:
        fail = reader._Failure("x")
        try:
            header, _layout = reader._check_header(data, fail)
            tokens = reader._Tokens(data[: header.totalsize], header, names == DTC_NAMES, fail)
            nodes, end = walk(tokens, fail)  # type: ignore[operator]
        except (BlobError, reader._Unusual) as exc:
            return type(exc)
        return [_node_tuple(node) for node in nodes], end

    return outcome(reader._walk_fast), outcome(reader._walk)


def _node_tuple(node: Node) -> tuple[object, ...]:
    return (node.name, node.parent, node.depth, node.begin, node.end, tuple(node.properties), tuple(node.children))


def assert_same_walk(data: bytes, names: str = DTC_NAMES) -> None:
    fast, reference = walks(data, names)
    if isinstance(reference, type):  # the reference refuses: the fast walk must not accept
        assert fast in (reader._Unusual, BlobError), fast
    elif fast is not reader._Unusual:  # the fast walk may hand over, but what it gives must be the same
        assert fast == reference


@pytest.mark.parametrize("path", REAL_TREES, ids=lambda p: p.name)
def test_the_fast_walk_reads_real_trees_as_the_reference_does(path: Path) -> None:
    data = path.read_bytes()
    fast, reference = walks(data, DTC_NAMES)
    assert fast == reference  # real trees, phandles and all, never need the reference walk
    assert walks(data, KERNEL_NAMES)[0] == reference


@pytest.mark.parametrize("path", REAL_TREES, ids=lambda p: p.name)
def test_corrupted_copies_walk_alike_or_hand_over(path: Path) -> None:
    data = path.read_bytes()
    header = parse_blob(data, "x").header
    start, stop = header.off_dt_struct, header.off_dt_struct + header.size_dt_struct
    rng = random.Random(path.name)
    for _ in range(400):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(start, stop)
            mutated[at] = rng.choice([0, 1, 2, 3, 4, 9, 0x40, 0x2F, 0xFF, rng.randrange(256)])
        for names in (DTC_NAMES, KERNEL_NAMES):
            assert_same_walk(bytes(mutated), names)


def test_special_properties_and_faults_come_out_as_the_reference_walk_makes_them() -> None:
    cell = (1).to_bytes(4, "big")
    blob = build_minimal_blob([("phandle", cell), ("linux,phandle", cell), ("x", b"")])
    assert_same_walk(blob)
    for bad in ([("phandle", cell), ("linux,phandle", (2).to_bytes(4, "big"))], [("phandle", bytes(4))]):
        data = build_minimal_blob(bad)
        assert_same_walk(data)
        with pytest.raises(BlobError):
            parse_blob(data, "x")


def test_parse_blob_leaves_the_garbage_collector_as_it_found_it() -> None:
    import gc

    data = (ROOT / "examples" / "pool.dtb").read_bytes()
    assert gc.isenabled()
    parse_blob(data, "x")
    assert gc.isenabled()
    gc.disable()
    try:
        parse_blob(data, "x")
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(BlobError):
        parse_blob(data[:-8] + b"\xff" * 8, "x")
    assert gc.isenabled()


def test_a_run_in_process_gives_the_collector_back_and_a_real_run_goes_without_it() -> None:
    import gc
    import subprocess

    from pmpoolctl.cli import cli

    example = str(ROOT / "examples" / "pool.dtb")
    for args in (["dump", example], ["dump", example + ".missing"]):
        with pytest.raises(SystemExit):
            cli.main(args, prog_name="pmpoolctl")
        assert gc.isenabled()
    probe = (
        "import gc, sys\n"
        "import pmpoolctl.cli.inspect as inspect\n"
        "real = inspect.api.read_blob\n"
        "def read_blob(*args, **kwargs):\n"
        "    print('collecting', gc.isenabled(), file=sys.stderr)\n"
        "    return real(*args, **kwargs)\n"
        "inspect.api.read_blob = read_blob\n"
        "from pmpoolctl.__main__ import main\n"
        "sys.argv = ['pmpoolctl', 'dump', sys.argv[1]]\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, example], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "collecting False" in done.stderr


# --- finding the pools ------------------------------------------------------------------------------------------------

_POOL_BYTES = b"pmpool-v1\0"
# compatible values near the binding's, and values of other properties that hold its bytes
_COMPATIBLES = [_POOL_BYTES, b"pmpool-v1", b"x\0pmpool-v1\0", _POOL_BYTES * 2, b"pmpool-v2\0", b"\0" + _POOL_BYTES]
_OTHER_VALUES = [_POOL_BYTES, b"ab" + _POOL_BYTES, _POOL_BYTES * 3, b"\1\2\3\4"]


@st.composite
def _root_children(draw: st.DrawFn) -> list[tuple[str, list[tuple[str, bytes]], bool]]:
    """Root children: (name, properties, whether a grandchild says it is a pool)."""
    count = draw(st.integers(0, 7))
    names = [f"n{index}" for index in range(count)]
    if count and draw(st.booleans()):
        names[draw(st.integers(0, count - 1))] = "default_pmpool"
    children = []
    for name in names:
        properties: list[tuple[str, bytes]] = []
        if draw(st.booleans()):
            properties.append(("label", draw(st.sampled_from(_OTHER_VALUES))))
        if draw(st.booleans()):
            properties.append(("compatible", draw(st.sampled_from(_COMPATIBLES))))
        if draw(st.booleans()):
            properties.append(("reg", draw(st.sampled_from(_OTHER_VALUES))))
        children.append((name, properties, draw(st.booleans())))
    return children


@settings(max_examples=200, deadline=None)
@given(_root_children(), st.sampled_from([[], [("compatible", _POOL_BYTES)], [("x", _POOL_BYTES * 9)]]))
def test_pools_found_in_the_bytes_are_the_pools_found_node_by_node(
    children: list[tuple[str, list[tuple[str, bytes]], bool]], root_properties: list[tuple[str, bytes]]
) -> None:
    blob = parse_blob(build_minimal_blob(root_properties), "x")
    for name, properties, pool_below in children:
        blob = parse_blob(append_child(blob, blob.root, name, properties), "x")
        if pool_below:
            child = blob.child(blob.root, name)
            assert child is not None
            blob = parse_blob(append_child(blob, child, "inner", [("compatible", _POOL_BYTES)]), "x")
    assert pool_names(blob) == pool_names_by_walk(blob)


def test_pools_are_found_in_node_order_among_many_children() -> None:
    blob = parse_blob(build_minimal_blob([]), "x")
    for index in range(40):
        compatible = _POOL_BYTES if index % 7 == 3 else b"other\0"
        name = "default_pmpool" if index == 20 else f"dev@{index:x}"
        blob = parse_blob(append_child(blob, blob.root, name, [("compatible", compatible)]), "x")
    expected = ["dev@3", "dev@a", "dev@11", "default_pmpool", "dev@18", "dev@1f", "dev@26"]
    assert pool_names(blob) == pool_names_by_walk(blob) == expected


# --- tables --------------------------------------------------------------------------------------------------------


def _slow(columns: list[Column]) -> list[Column]:
    return [Column(c.title, c.cells, c.right, c.wrap) for c in columns]


def _text(columns: list[Column], rows: int, **options: object) -> str:
    parts: list[str] = []
    write_table(parts.append, columns, rows, **options)  # type: ignore[arg-type]
    return "".join(parts)


def test_the_fast_table_fits_no_width_and_draws_the_ascii_rule_as_the_slow_one() -> None:
    values = array("Q", [0, 0x1000, 1 << 63])
    columns = [index_column("#", 3), hex_column("base", values), size_column("size", values)]
    for options in ({"width": 10}, {"ascii": True}, {"width": 10, "ascii": True}):
        fast = _text(columns, 3, **options)
        assert fast == _text(_slow(columns), 3, **options)
    assert "-" * 10 in _text(columns, 3, ascii=True) and "─" not in _text(columns, 3, ascii=True)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, (1 << 64) - 1), st.integers(0, 1 << 44)), max_size=40),
    st.booleans(),
)
def test_the_fast_table_is_the_cell_by_cell_table(rows: list[tuple[int, int]], last_right: bool) -> None:
    bases = array("Q", [b for b, _ in rows])
    sizes = array("Q", [s for _, s in rows])
    columns = [
        index_column("#", len(rows)),
        hex_column("base", bases),
        int_column("bytes", sizes),
        size_column("size", sizes),
        hex_column("last", sizes, right=last_right),
    ]
    assert _text(columns, len(rows)) == _text(_slow(columns), len(rows))


@pytest.mark.parametrize("joined_max", [1 << 16, 1])
def test_columns_of_one_key_joined_or_not_are_the_cell_by_cell_table(
    joined_max: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pmpoolctl.output import tables

    monkeypatch.setattr(tables, "_JOINED_MAX", joined_max)  # 1: too many distinct values, one by one
    rng = random.Random(joined_max)
    sizes = array("Q", [rng.choice([0, 1, 4096, 1 << 20, 3 << 30]) for _ in range(10_000)])
    bases = array("Q", range(0, 10_000 * 4096, 4096))
    for last_left in (False, True):
        columns = [
            hex_column("base", bases),
            int_column("bytes", sizes),
            size_column("size", sizes),
            int_column("again", sizes, right=not last_left),
        ]
        assert _text(columns, len(sizes)) == _text(_slow(columns), len(sizes))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, (1 << 64) - 1), max_size=60),
    st.integers(1, 9),
    st.booleans(),
)
def test_ascending_columns_padded_chunk_by_chunk_are_the_cell_by_cell_table(
    values: list[int], chunk_rows: int, right: bool
) -> None:
    """Literal padding per chunk (`Fast.ascending`) where a chunk's cells are as wide, a field width
    where the width changes inside a chunk (0xfff to 0x1000): the same text either way."""
    from pmpoolctl.output import tables

    ascending = array("Q", sorted(values))
    columns = [
        index_column("#", len(values)),
        hex_column("base", ascending, right=right, ascending=True),
        hex_column("end", ascending, largest=ascending[-1] if values else None, ascending=True),
        int_column("bytes", ascending),
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tables, "FORMAT_ROWS", chunk_rows)  # chunks of a few rows: many cross a width
        assert _text(columns, len(values)) == _text(_slow(columns), len(values))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1 << 40), st.text(max_size=30), st.text(" a%b-/:0x1", max_size=40)), max_size=30),
    st.sampled_from([None, 20, 40, 80, 400]),
)
def test_string_columns_that_may_wrap_are_the_cell_by_cell_table(
    rows: list[tuple[int, str, str]], width: int | None
) -> None:
    """Text columns (`s`, wrap=True, as memmap's type and source) take the fast path where the table
    fits (or no width is given) and the cell-by-cell one where they must wrap: the same text."""
    starts = [r[0] for r in rows]
    texts, words = [r[1] for r in rows], [r[2] for r in rows]

    def text_column(title: str, values: list[str]) -> Column:
        width_of = lambda: max(map(len, values), default=0)  # noqa: E731
        cells = lambda a, b: iter(values[a:b])  # noqa: E731
        return Column(title, cells, wrap=True, fast=Fast(lambda a, b: values[a:b], "s", width_of))

    columns = [hex_column("start", array("Q", starts)), text_column("type", texts), text_column("source", words)]
    assert _text(columns, len(rows), width=width) == _text(_slow(columns), len(rows), width=width)


class _Lines:
    """A stand-in console: what `print` is given, as lines."""

    def __init__(self, parts: list[str]) -> None:
        self.parts = parts

    def print(self, text: str) -> None:
        self.parts.append(text + "\n")


def test_memmap_tables_are_the_cell_by_cell_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    from pmpoolctl.memmap.sources import load_memory_map
    from pmpoolctl.output import memmap as memmap_output

    def rendered(memory_map: MemoryMap, width: int | None, reference: bool) -> str:
        parts: list[str] = []

        def table(_console: object, columns: list[Column], rows: int) -> None:
            write_table(parts.append, _slow(columns) if reference else columns, rows, width=width)

        monkeypatch.setattr(memmap_output, "print_table", table)
        memmap_output.render_memmap(_Lines(parts), memory_map)  # type: ignore[arg-type]
        return "".join(parts)

    for name in ("iomem.txt", "dmesg.txt", "firmware-memmap"):
        memory_map = load_memory_map(str(DATA / "memmap" / name))
        for width in (None, 60, 300):
            fast = rendered(memory_map, width, reference=False)
            assert fast == rendered(memory_map, width, reference=True), (name, width)
            assert fast.count("\n") >= len(memory_map.entries) + 3


def test_the_fast_table_pads_to_titles_and_chunks_rows() -> None:
    count = 20_000  # more than one chunk of FORMAT_ROWS, and a short last one
    values = array("Q", range(0, count * 4096, 4096))
    columns = [
        index_column("a rather long title", count),
        hex_column("b", values),
        Column("c", lambda a, b: map(str, range(a, b)), fast=Fast(range, "d", lambda: len(str(count - 1)))),
    ]
    fast = _text(columns, count)
    assert fast == _text(_slow(columns), count)
    assert fast.count("\n") == count + 2 and "% " not in fast


# --- dump --dts ------------------------------------------------------------------------------------------------------


def test_page_ranges_and_cells_format_as_one_call_each_did() -> None:
    rng = random.Random(19)
    pairs = [(rng.randrange(1 << 64), rng.randrange(1 << 40)) for _ in range(20_000)]
    words = array("Q", [v for pair in pairs for v in pair])
    if sys.byteorder == "little":
        words.byteswap()
    base = parse_blob(build_minimal_blob([("#address-cells", (2).to_bytes(4, "big"))]), "x")
    properties = [("compatible", b"pmpool-v1\0"), ("page-ranges", words.tobytes())]
    blob = parse_blob(append_child(base, base.root, "default_pmpool", properties), "x")
    text = "".join(render_dts(blob, frozenset({"default_pmpool"})))
    indent = "\t\t" + " " * len("page-ranges = ")
    expected = (",\n" + indent).join("/bits/ 64 <{:#x} {:#x}>".format(*pair) for pair in pairs)
    assert "page-ranges = " + expected + ";\n" in text
    cells = [rng.randrange(1 << 32) for _ in range(40_000)]
    value = struct.pack(f">{len(cells)}I", *cells)
    assert "".join(value_parts(value)) == "<" + " ".join(map("{:#x}".format, cells)) + ">"


# --- union of a batch, canonical checks -----------------------------------------------------------------------------


def canonical(rng: random.Random, count: int, unit: int, gaps: tuple[int, int] = (1, 6)) -> RangeArray:
    bases, sizes = array("Q"), array("Q")
    cursor = rng.randint(0, 3) * unit
    for _ in range(count):
        cursor += rng.randint(*gaps) * unit
        size = rng.randint(1, 4) * unit
        bases.append(cursor)
        sizes.append(size)
        cursor += size
    return RangeArray(bases, sizes)


def walking_union(pool: RangeArray, addition: RangeArray) -> RangeArray:
    return pool.union(addition) if len(addition) <= len(pool) else addition.union(pool)


@pytest.mark.parametrize("seed", range(40))
def test_a_batch_merged_in_c_is_the_walking_union(seed: int) -> None:
    check_batch_union(seed)


@pytest.mark.parametrize(
    ("chunk", "items"), [(1, 1 << 16), (2, 1 << 16), (7, 1 << 16), (64, 1 << 16), (4096, 1), (7, 5)]
)
@pytest.mark.parametrize("seed", range(8))
def test_the_merge_is_the_same_whatever_its_chunks(
    seed: int, chunk: int, items: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge joins `_INSERT_CHUNK` insertions, and `_CHUNK_ITEMS` of the pool's, at a time; the
    tests' batches fit in one chunk of the real sizes, so smaller chunks put chunk ends between
    insertions, and a small item limit copies the runs between them into place alone."""
    monkeypatch.setattr(arrayops, "_INSERT_CHUNK", chunk)
    monkeypatch.setattr(arrayops, "_CHUNK_ITEMS", items)
    check_batch_union(seed)


def check_batch_union(seed: int) -> None:
    rng = random.Random(seed)
    unit = rng.choice([1, 4096, 1 << 40])
    pool = canonical(rng, rng.randint(300, 800), unit)
    # Pages inside the pool's gaps; in some seeds one of them touches or overlaps a range of the
    # pool (then the walk decides), in the others none does (then the merge in C answers).
    fault = rng.choice(["none", "none", "touches before", "touches after", "overlaps"])
    fault_at = rng.randrange(len(pool) - 1)
    bases, sizes = array("Q"), array("Q")
    cursor = 0
    for i in range(len(pool) - 1):
        gap_start, gap_end = pool.bases[i] + pool.sizes[i], pool.bases[i + 1]
        wide = gap_end - gap_start >= 3 * unit
        if wide and gap_start + unit > cursor and (rng.random() < 0.7 or (i >= fault_at and fault != "none")):
            base = gap_start + unit * rng.randint(1, (gap_end - gap_start) // unit - 2)
            if i >= fault_at and fault != "none":
                base = {"touches before": gap_start, "touches after": gap_end - unit}.get(fault, gap_start - unit)
                fault = "none"  # one fault
            bases.append(base)
            sizes.append(unit)
            cursor = base + 2 * unit
    if rng.random() < 0.3:  # before the pool's first range and after its last
        if pool.bases[0] >= 2 * unit:
            bases.insert(0, 0)
            sizes.insert(0, unit)
        bases.append(pool.bases[-1] + pool.sizes[-1] + 2 * unit)
        sizes.append(unit)
    addition = RangeArray(bases, sizes)
    if not addition.is_canonical(1):
        return
    expected = walking_union(pool, addition)
    result = arrayops.union(pool, addition)
    assert isinstance(result, RangeArray)  # never all 2^64 addresses here
    apart = len(expected) == len(pool) + len(addition)
    # The merge in C holds the new blob's pairs, not yet decoded into columns (read below).
    assert (result._bases is None) == apart
    assert result == expected
    assert result.total_size == expected.total_size == sum(result.sizes)
    assert result.to_be_bytes() == expected.to_be_bytes()
    assert result.is_canonical(1)
    # The merge in C answers exactly when nothing touches; otherwise the walk does.
    assert (arrayops._insert_apart(pool, addition) is not None) == apart
    assert len(addition) >= arrayops._INSERT_MIN


def test_a_batch_edit_writes_the_merged_pairs_without_decoding_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge's result is the pairs the new blob holds; its columns (a second copy of the
    pool, 17.6 MB at 1.1M ranges) are decoded only if something reads them. The edit does not:
    it needs the count and total, which the merge knows."""
    from pmpoolctl import api
    from pmpoolctl.ranges.rangeset import Range

    pool = canonical(random.Random(5), 500, 4096, gaps=(3, 6))
    blob = tmp_path / "pool.dtb"
    api.create(str(blob), list(pool))
    batch = tmp_path / "batch.txt"
    added = [Range(base + size + 4096, 4096) for base, size in zip(pool.bases[:-1], pool.sizes[:-1])]
    batch.write_text("".join(f"{r.base:#x} {r.size:#x}\n" for r in added))

    def refuse(self: RangeArray) -> None:
        raise AssertionError("the edit decoded the merged pairs")

    monkeypatch.setattr(RangeArray, "_decoded", refuse)
    edit = api.add_ranges(str(blob), from_file=str(batch))
    monkeypatch.undo()
    assert edit.change.after == (len(pool) + len(added), pool.total_size + 4096 * len(added))
    assert list(api.read_pool(str(blob)).ranges) == sorted([*pool, *added])


@pytest.mark.parametrize("seed", range(60))
def test_is_canonical_like_is_is_canonical(seed: int) -> None:
    rng = random.Random(seed)
    unit = 4096
    other = canonical(rng, rng.randint(1, 200), unit)
    bases, sizes = array("Q", other.bases), array("Q", other.sizes)
    for _ in range(rng.randint(0, 3)):
        i = rng.randrange(len(bases))
        change = rng.choice(["base", "size", "drop", "add", "unalign", "zero"])
        if change == "base":
            bases[i] = max(0, bases[i] + rng.choice([-2, -1, 1, 2]) * unit)
        elif change == "size":
            sizes[i] = max(unit, sizes[i] + rng.choice([-1, 1, 5]) * unit)
        elif change == "drop" and len(bases) > 1:
            del bases[i], sizes[i]
        elif change == "add":
            bases.insert(i, bases[i] + rng.choice([0, 1]) * unit)
            sizes.insert(i, unit)
        elif change == "unalign":
            bases[i] += 1
        elif change == "zero":
            sizes[i] = 0
    ranges = RangeArray(bases, sizes)
    for page in (unit, 2 * unit):
        if other.is_canonical(page):
            assert ranges.is_canonical_like(page, other) == ranges.is_canonical(page)


@pytest.mark.parametrize("seed", range(30))
def test_common_ends_is_the_plain_count(seed: int) -> None:
    rng = random.Random(seed)
    a = canonical(rng, rng.randint(0, 40_000 if seed % 5 == 0 else 300), 1)
    bases, sizes = array("Q", a.bases), array("Q", a.sizes)
    if bases and rng.random() < 0.8:
        i = rng.randrange(len(bases))
        sizes[i] += 1
        if rng.random() < 0.5:
            bases.insert(i, bases[i])
            sizes.insert(i, 1)
    b = RangeArray(bases, sizes)
    pairs_a, pairs_b = list(zip(a.bases, a.sizes)), list(zip(b.bases, b.sizes))
    head = 0
    while head < min(len(pairs_a), len(pairs_b)) and pairs_a[head] == pairs_b[head]:
        head += 1
    tail = 0
    while tail < min(len(pairs_a), len(pairs_b)) - head and pairs_a[-1 - tail] == pairs_b[-1 - tail]:
        tail += 1
    assert common_ends(a, b) == (head, tail)
    assert common_ends(b, a) == (head, tail)
