"""`pmpoolctl diff`: pools compared as pages, exit 0 same / 1 different, on blobs dtc compiled."""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pmpoolctl.dtb.reader import parse_blob
from pmpoolctl.dtb.writer import build_minimal_blob
from pmpoolctl.output.diff import DIFF_FINDINGS_SHOWN
from pmpoolctl.pool.binding import DEFAULT_POOL, Pool, decode_pool
from pmpoolctl.pool.diff import address_changes, diff_blobs, read_pools
from pmpoolctl.pool.poolfile import with_new_pool
from pmpoolctl.ranges.rangearray import RangeArray
from pmpoolctl.ranges.rangeset import Range
from tests.conftest import assert_input_error, check_golden, run_cli

PAGE = 0x1000


def blob(dtc: str, tmp_path: Path, name: str, pool: str | None, memreserve: str = "", root_extra: str = "") -> Path:
    """A blob compiled by dtc: /memory, an optional pool node body, optional /memreserve/ lines."""
    pool_node = f"default_pmpool {{ {pool} }};" if pool is not None else ""
    source = f"""/dts-v1/;
{memreserve}
/ {{
    #address-cells = <2>;
    #size-cells = <2>;
    {root_extra}
    memory@0 {{ device_type = "memory"; reg = <0x0 0x0 0x1 0x0>; }};
    {pool_node}
}};
"""
    out = tmp_path / name
    subprocess.run([dtc, "-I", "dts", "-O", "dtb", "-o", str(out), "-"], input=source.encode(), check=True)
    return out


def pool(*pairs: tuple[int, int], page_size: int = PAGE, extra: str = "") -> str:
    cells = " ".join(f"{base:#x} {size:#x}" for base, size in pairs)
    return f'compatible = "pmpool-v1"; page-size = <{page_size:#x}>; page-ranges = /bits/ 64 <{cells}>; {extra}'


# --- the address arithmetic -----------------------------------------------------------------------------------------


def canonical(pages: set[int]) -> RangeArray:
    ranges: list[Range] = []
    for page in sorted(pages):
        if ranges and ranges[-1].end == page * PAGE:
            ranges[-1] = Range(ranges[-1].base, ranges[-1].size + PAGE)
        else:
            ranges.append(Range(page * PAGE, PAGE))
    return RangeArray.from_ranges(ranges)


def pages_of(ranges: Iterable[Range]) -> set[int]:
    return {page for r in ranges for page in range(r.base // PAGE, r.end // PAGE)}


@given(st.sets(st.integers(0, 200)), st.sets(st.integers(0, 200)))
def test_address_changes_are_the_page_set_differences(old: set[int], new: set[int]) -> None:
    removed, added = address_changes(canonical(old), canonical(new))
    assert pages_of(removed) == old - new
    assert pages_of(added) == new - old
    for ranges in (removed, added):  # canonical: sorted, not touching
        assert all(a.end < b.base for a, b in itertools.pairwise(ranges))


@given(st.sets(st.integers(0, 2000), min_size=1), st.data())
def test_a_small_edit_of_a_long_pool_is_found_in_its_middle(pages: set[int], data: st.DataObject) -> None:
    changed = data.draw(st.sets(st.integers(0, 2000), max_size=3))
    new = pages ^ changed
    removed, added = address_changes(canonical(pages), canonical(new))
    assert pages_of(removed) == pages - new and pages_of(added) == new - pages


# --- the command ------------------------------------------------------------------------------------------------------


def test_same_pool_is_exit_0(dtc: str, tmp_path: Path) -> None:
    a = blob(dtc, tmp_path, "a.dtb", pool((0x1000000, 0x200000)))
    b = blob(dtc, tmp_path, "b.dtb", pool((0x1000000, 0x100000), (0x1100000, 0x100000)))  # split: same pages
    run = run_cli(["diff", str(a), str(b)])
    assert run.exit_code == 0, run
    assert run.stdout.splitlines()[-1] == "same pool /default_pmpool"
    document = json.loads(run_cli(["diff", "--json", str(a), str(b)]).stdout)
    assert document["same"] is True and document["added"] == document["removed"] == []


def test_added_and_removed_pages_text_and_json(dtc: str, tmp_path: Path) -> None:
    old = blob(
        dtc, tmp_path, "old.dtb", pool((0x1000000, 0x200000), (0x4000000, 0x1000)), "/memreserve/ 0x800000 0x1000;"
    )
    new = blob(dtc, tmp_path, "new.dtb", pool((0x1000000, 0x300000)), "/memreserve/ 0x900000 0x2000;")
    run = run_cli(["diff", str(old), str(new)])
    assert run.exit_code == 1 and run.stderr == ""
    check_golden("diff.txt", run.stdout.replace(str(tmp_path), "TMP"))
    document = json.loads(run_cli(["diff", "--json", str(old), str(new)]).stdout)
    assert document["schema"] == "pmpoolctl.diff/v1" and document["same"] is False
    assert document["added"] == [{"base": 0x1200000, "size": 0x100000, "end": 0x1300000, "pages": 256}]
    assert document["removed"] == [{"base": 0x4000000, "size": 0x1000, "end": 0x4001000, "pages": 1}]
    assert document["old"]["pool"]["total_bytes"] == 0x201000 and document["new"]["pool"]["total_pages"] == 0x300
    assert document["reservations"] == {
        "removed": [{"address": 0x800000, "size": 0x1000}],
        "added": [{"address": 0x900000, "size": 0x2000}],
    }


def test_property_changes_make_the_pools_differ(dtc: str, tmp_path: Path) -> None:
    old = blob(dtc, tmp_path, "old.dtb", pool((0x200000, 0x200000), extra='label = "hv";'))
    new = blob(dtc, tmp_path, "new.dtb", pool((0x200000, 0x200000), page_size=0x200000))
    run = run_cli(["diff", "--json", str(old), str(new)])
    assert run.exit_code == 1
    changes = {c["name"]: (c["old"], c["new"]) for c in json.loads(run.stdout)["properties"]}
    assert changes == {"page-size": ("<0x1000>", "<0x200000>"), "label": ('"hv"', None)}
    assert json.loads(run.stdout)["added"] == []


def test_header_and_reservation_changes_alone_keep_exit_0(dtc: str, tmp_path: Path) -> None:
    old = blob(dtc, tmp_path, "old.dtb", pool((0x200000, 0x1000)))
    new = blob(dtc, tmp_path, "new.dtb", pool((0x200000, 0x1000)), "/memreserve/ 0x0 0x1000;", 'model = "x";')
    run = run_cli(["diff", str(old), str(new)])
    assert run.exit_code == 0, run
    assert "header: totalsize" in run.stdout
    assert "reservation + [0x0, 0x1000)" in run.stdout


def test_pool_that_appears_or_disappears_lists_all_its_pages(dtc: str, tmp_path: Path) -> None:
    bare = blob(dtc, tmp_path, "bare.dtb", None)
    with_pool = blob(dtc, tmp_path, "pool.dtb", pool((0x200000, 0x1000), (0x400000, 0x2000)))
    added = run_cli(["diff", str(bare), str(with_pool)])
    assert added.exit_code == 1, added
    assert "pool /default_pmpool: none -> 2 ranges, 12 KiB, 3 pages" in added.stdout
    assert "  + [0x200000, 0x201000)  4 KiB, 1 page\n  + [0x400000, 0x402000)  8 KiB, 2 pages\n" in added.stdout
    assert added.stdout.splitlines()[-1] == "pools differ: pool added, 0 ranges removed, 2 added"
    document = json.loads(run_cli(["diff", "--json", str(bare), str(with_pool)]).stdout)
    assert document["same"] is False and document["old"]["pool"] is None and document["removed"] == []
    assert document["added"] == [
        {"base": 0x200000, "size": 0x1000, "end": 0x201000, "pages": 1},
        {"base": 0x400000, "size": 0x2000, "end": 0x402000, "pages": 2},
    ]
    removed = run_cli(["diff", str(with_pool), str(bare)])
    assert removed.exit_code == 1 and "pool /default_pmpool: 2 ranges, 12 KiB, 3 pages -> none\n" in removed.stdout
    assert "  - [0x400000, 0x402000)  8 KiB, 2 pages\n" in removed.stdout
    assert removed.stdout.splitlines()[-1] == "pools differ: pool removed, 2 ranges removed, 0 added"
    document = json.loads(run_cli(["diff", "--json", str(with_pool), str(bare)]).stdout)
    assert document["same"] is False and document["new"]["pool"] is None and document["old"]["pool"]["ranges"] == 2
    assert [(r["base"], r["pages"]) for r in document["removed"]] == [(0x200000, 1), (0x400000, 2)]
    assert document["added"] == []


def test_pool_in_neither_blob_is_exit_3(dtc: str, tmp_path: Path) -> None:
    """`same` about nothing is no verdict: the default pool too, and --json too (a gate must not pass)."""
    bare = blob(dtc, tmp_path, "bare.dtb", None)
    other = blob(dtc, tmp_path, "other.dtb", None, root_extra='model = "x";')
    with_pool = blob(dtc, tmp_path, "pool.dtb", pool((0x200000, 0x1000)))
    for args in (
        [str(bare), str(other)],
        [str(bare), str(bare), "--json"],
        [str(with_pool), str(with_pool), "--pool", "iommu_pmpool"],
        [str(with_pool), str(with_pool), "--pool", "iommu_pmpool", "--json"],
    ):
        run = run_cli(["diff", *args])
        name = "/iommu_pmpool" if "--pool" in args else "/default_pmpool"
        assert_input_error(run, args[0], args[1], name)
    piped = run_cli(["diff", "-", str(bare)], stdin=bare.read_bytes())
    assert_input_error(piped, "<stdin>", str(bare), "/default_pmpool")


def test_stdin_quiet_and_errors(dtc: str, tmp_path: Path) -> None:
    a = blob(dtc, tmp_path, "a.dtb", pool((0x200000, 0x1000)))
    b = blob(dtc, tmp_path, "b.dtb", pool((0x200000, 0x2000)))
    from_stdin = run_cli(["diff", "-", str(b)], stdin=a.read_bytes())
    assert from_stdin.exit_code == 1 and from_stdin.stdout.startswith("--- <stdin>\n")
    for args in (["-q", "diff", str(a), str(b)], ["diff", "--quiet", str(a), str(b)], ["diff", str(a), str(b), "-q"]):
        quiet = run_cli(args)
        assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (1, "", ""), args
    both_stdin = run_cli(["diff", "-", "-"])
    assert both_stdin.exit_code == 2 and both_stdin.stderr.startswith("error: only one of OLD and NEW")
    corrupt = tmp_path / "corrupt.dtb"
    corrupt.write_bytes(a.read_bytes()[:40])
    assert_input_error(run_cli(["diff", str(a), str(corrupt)]), str(corrupt))


# --- a pool that breaks the binding -----------------------------------------------------------------------------------

GOOD = pool((0x200000, 0x1000), (0x400000, 0x2000))
# Each damages GOOD's stored form while keeping (as far as it can) the pages it holds, so canonicalising
# both sides would call the pools the same: (pool body, a rule it breaks).
DAMAGED = {
    "unsorted": (pool((0x400000, 0x2000), (0x200000, 0x1000)), "ranges-unsorted"),
    "overlapping": (pool((0x200000, 0x1000), (0x400000, 0x2000), (0x401000, 0x1000)), "range-overlap"),
    "unaligned": (pool((0x200000, 0x1000), (0x400000, 0x800), (0x400800, 0x1800)), "range-unaligned"),
    "empty": (pool((0x200000, 0x1000), (0x300000, 0), (0x400000, 0x2000)), "range-empty"),
    "torn page-ranges": (
        'compatible = "pmpool-v1"; page-size = <0x1000>; '
        "page-ranges = /bits/ 64 <0x200000 0x1000 0x400000 0x2000 0x0>;",
        "binding-invalid",
    ),
}
# Broken in a way both sides share: no property or address changes, only the binding says what is wrong.
BROKEN_ALIKE = {
    "compatible": 'compatible = "pmpool-v0"; page-ranges = /bits/ 64 <0x200000 0x1000>;',
    "page-size": 'compatible = "pmpool-v1"; page-size = <0x1800>; page-ranges = /bits/ 64 <0x200000 0x1000>;',
    "unsorted": pool((0x400000, 0x2000), (0x200000, 0x1000)),
}


def _side_rules(document: dict[str, Any], side: str) -> list[str]:
    return [f["rule"] for f in document[side]["pool"]["findings"]]


@pytest.mark.parametrize("damage", list(DAMAGED))
@pytest.mark.parametrize("broken_side", ["new", "old"])
def test_a_pool_that_breaks_the_binding_is_a_difference(
    dtc: str, tmp_path: Path, damage: str, broken_side: str
) -> None:
    body, rule = DAMAGED[damage]
    good, broken = blob(dtc, tmp_path, "good.dtb", GOOD), blob(dtc, tmp_path, "broken.dtb", body)
    old, new = (good, broken) if broken_side == "new" else (broken, good)
    run = run_cli(["diff", str(old), str(new)])
    assert run.exit_code == 1, run
    assert run.stderr == ""
    assert f"{broken_side} pool breaks the binding: " in run.stdout
    assert f"  error {rule}: " in run.stdout
    assert run.stdout.splitlines()[-1].endswith(f"the {broken_side} pool breaks the binding")
    assert not any(line.startswith(("error:", "warning:")) for line in run.stdout.splitlines())
    document = json.loads(run_cli(["diff", "--json", str(old), str(new)]).stdout)
    assert document["same"] is False
    side = document[broken_side]["pool"]
    assert rule in _side_rules(document, broken_side)
    assert side["errors"] >= 1 and side["problems"] == len(side["findings"])
    assert all(set(f) >= {"rule", "severity", "message"} for f in side["findings"])
    other = "old" if broken_side == "new" else "new"
    assert document[other]["pool"]["findings"] == [] and document[other]["pool"]["problems"] == 0


@pytest.mark.parametrize("damage", list(BROKEN_ALIKE))
def test_a_broken_pool_is_not_the_same_even_as_itself(dtc: str, tmp_path: Path, damage: str) -> None:
    broken = blob(dtc, tmp_path, "broken.dtb", BROKEN_ALIKE[damage])
    run = run_cli(["diff", str(broken), str(broken)])
    assert run.exit_code == 1, run
    assert "old pool breaks the binding" in run.stdout and "new pool breaks the binding" in run.stdout
    assert (
        run.stdout.splitlines()[-1]
        == "pools differ: 0 ranges removed, 0 added, the old and new pools break the binding"
    )
    document = json.loads(run_cli(["diff", "--json", str(broken), str(broken)]).stdout)
    assert document["same"] is False and document["added"] == document["removed"] == []
    assert _side_rules(document, "old") == _side_rules(document, "new") != []


def test_findings_name_the_range_in_json(dtc: str, tmp_path: Path) -> None:
    good, broken = blob(dtc, tmp_path, "good.dtb", GOOD), blob(dtc, tmp_path, "broken.dtb", DAMAGED["unsorted"][0])
    document = json.loads(run_cli(["diff", "--json", str(good), str(broken)]).stdout)
    assert document["new"]["pool"]["findings"] == [
        {
            "rule": "ranges-unsorted",
            "severity": "error",
            "range": {"base": 0x200000, "size": 0x1000, "end": 0x201000},
            "message": "range [0x200000, 0x201000) comes after [0x400000, 0x402000), which starts higher",
        }
    ]


def test_warnings_are_shown_but_keep_the_pools_the_same(dtc: str, tmp_path: Path) -> None:
    """Touching ranges (ranges-not-coalesced) are the same pages: listed, not a difference; counts as stored."""
    merged = blob(dtc, tmp_path, "merged.dtb", pool((0x200000, 0x3000)))
    split = blob(dtc, tmp_path, "split.dtb", pool((0x200000, 0x1000), (0x201000, 0x1000), (0x202000, 0x1000)))
    run = run_cli(["diff", str(merged), str(split)])
    assert run.exit_code == 0, run
    lines = run.stdout.splitlines()
    assert "pool /default_pmpool: 1 range, 12 KiB, 3 pages -> 3 ranges (1 after merging), 12 KiB, 3 pages" in lines
    assert "new pool: 2 binding warnings (not a difference by itself)" in lines
    assert sum(line.startswith("  warning ranges-not-coalesced: ") for line in lines) == 2
    assert lines[-1] == "same pool /default_pmpool"
    document = json.loads(run_cli(["diff", "--json", str(merged), str(split)]).stdout)
    assert document["same"] is True
    assert (document["new"]["pool"]["ranges"], document["new"]["pool"]["canonical_ranges"]) == (3, 1)
    assert (document["old"]["pool"]["ranges"], document["old"]["pool"]["canonical_ranges"]) == (1, 1)
    assert document["new"]["pool"]["warnings"] == 2 and document["new"]["pool"]["errors"] == 0
    assert _side_rules(document, "new") == ["ranges-not-coalesced"] * 2


def test_range_counts_are_what_the_blob_holds(dtc: str, tmp_path: Path) -> None:
    old = blob(dtc, tmp_path, "old.dtb", pool((0x400000, 0x2000), (0x200000, 0x1000), (0x201000, 0x1000)))
    new = blob(dtc, tmp_path, "new.dtb", pool((0x200000, 0x2000), (0x400000, 0x2000)))
    run = run_cli(["diff", str(old), str(new)])
    assert run.exit_code == 1  # old is unsorted
    assert (
        "pool /default_pmpool: 3 ranges (2 after merging), 16 KiB, 4 pages -> 2 ranges, 16 KiB, 4 pages" in run.stdout
    )
    document = json.loads(run_cli(["diff", "--json", str(old), str(new)]).stdout)
    assert (document["old"]["pool"]["ranges"], document["old"]["pool"]["canonical_ranges"]) == (3, 2)


def test_a_long_list_of_findings_is_cut_short_in_text_but_whole_in_json(tmp_path: Path) -> None:
    count = 50  # every range misaligned: a finding per range
    good = _library_blob(tmp_path, "good.dtb", RangeArray.from_ranges(Range(i * 0x4000, PAGE) for i in range(count)))
    misaligned = RangeArray.from_ranges(Range(i * 0x4000 + 0x800, PAGE) for i in range(count))
    broken = _library_blob(tmp_path, "misaligned.dtb", misaligned)
    run = run_cli(["diff", str(good), str(broken)])
    assert run.exit_code == 1
    assert sum(line.startswith("  error range-unaligned: ") for line in run.stdout.splitlines()) == DIFF_FINDINGS_SHOWN
    assert f"  ... and {count - DIFF_FINDINGS_SHOWN} more (--json lists every one)" in run.stdout
    document = json.loads(run_cli(["diff", "--json", str(good), str(broken)]).stdout)
    assert _side_rules(document, "new") == ["range-unaligned"] * count


def test_a_reversed_pool_is_a_few_findings_and_a_count(tmp_path: Path) -> None:
    """Order problems are one fault: the first five, then one finding that counts the rest."""
    count = 50
    reversed_pool = RangeArray.from_ranges(Range((count - i) * 0x2000, PAGE) for i in range(count))
    good = _library_blob(tmp_path, "good.dtb", RangeArray.from_ranges(sorted(reversed_pool)))
    broken = _library_blob(tmp_path, "reversed.dtb", reversed_pool)
    document = json.loads(run_cli(["diff", "--json", str(good), str(broken)]).stdout)
    findings = document["new"]["pool"]["findings"]
    assert [f["rule"] for f in findings] == ["ranges-unsorted"] * 6
    assert findings[-1]["count"] == count - 1 - 5 and "range" not in findings[-1]
    assert f"{count - 1 - 5} more ranges come after a range that starts higher" in findings[-1]["message"]


def _library_blob(tmp_path: Path, name: str, ranges: RangeArray, page_size: int = PAGE) -> Path:
    """A blob with a pool whose page-ranges are `ranges` as given (broken or not), without dtc."""
    base = parse_blob(build_minimal_blob([("#address-cells", b"\0\0\0\2"), ("#size-cells", b"\0\0\0\2")]), name)
    out = tmp_path / name
    out.write_bytes(with_new_pool(base, DEFAULT_POOL, ranges, page_size))
    return out


def test_a_million_range_pool_that_appears_streams_its_pages(tmp_path: Path) -> None:
    count = 1 << 20
    bases = array("Q", range(0x100000000, 0x100000000 + count * 0x2000, 0x2000))
    ranges = RangeArray(bases, array("Q", [PAGE]) * count)
    big = _library_blob(tmp_path, "big.dtb", ranges)
    bare = tmp_path / "bare.dtb"
    bare.write_bytes(build_minimal_blob([("#address-cells", b"\0\0\0\2"), ("#size-cells", b"\0\0\0\2")]))
    pools = read_pools(parse_blob(bare.read_bytes(), "bare"), parse_blob(big.read_bytes(), "big"), DEFAULT_POOL)
    result = diff_blobs(parse_blob(bare.read_bytes(), "bare"), pools[0], parse_blob(big.read_bytes(), "big"), pools[1])
    assert pools[1] is not None and result.added is pools[1].ranges  # the decoded arrays, no Range objects
    start = time.perf_counter()
    run = run_cli(["diff", "--json", str(bare), str(big)])
    seconds = time.perf_counter() - start
    assert run.exit_code == 1
    assert run.stdout.count('"pages": 1}') == count
    assert seconds < 30, seconds  # streamed: a few seconds; a Python object per range and rich would take minutes


# --- a property: damage is never "same" -----------------------------------------------------------------------------


def _damaged(ranges: list[Range], how: str, at: int) -> list[Range]:
    """`ranges` (canonical, at least two) with one error-level fault that keeps every address."""
    i = at % len(ranges)
    if how == "swap":  # unsorted
        j = (i + 1) % len(ranges)
        swapped = list(ranges)
        swapped[i], swapped[j] = swapped[j], swapped[i]
        return swapped
    if how == "duplicate":  # overlap
        return [*ranges[: i + 1], ranges[i], *ranges[i + 1 :]]
    if how == "empty":
        return [*ranges[:i], Range(ranges[i].base, 0), *ranges[i:]]
    # unaligned: split a range at a half page
    r = ranges[i]
    return [*ranges[:i], Range(r.base, PAGE // 2), Range(r.base + PAGE // 2, r.size - PAGE // 2), *ranges[i + 1 :]]


@given(
    st.sets(st.integers(0, 300), min_size=3),
    st.sampled_from(["swap", "duplicate", "empty", "unaligned"]),
    st.integers(0, 1000),
    st.booleans(),
)
def test_a_pool_against_itself_damaged_is_never_same(pages: set[int], how: str, at: int, old_damaged: bool) -> None:
    good = canonical(pages)
    if len(good) < 2:
        good = canonical(pages | {max(pages) + 2})
    damaged = RangeArray.from_ranges(_damaged(list(good), how, at))
    blob_ = parse_blob(build_minimal_blob([]), "blob")

    def decoded(ranges: RangeArray) -> Pool:
        return decode_pool(
            DEFAULT_POOL,
            [
                ("compatible", b"pmpool-v1\0"),
                ("page-size", PAGE.to_bytes(4, "big")),
                ("page-ranges", ranges.to_be_bytes()),
            ],
        )

    old, new = (decoded(damaged), decoded(good)) if old_damaged else (decoded(good), decoded(damaged))
    result = diff_blobs(blob_, old, blob_, new)
    assert not result.same
    assert result.broken == ["old" if old_damaged else "new"]
    assert pages_of(result.added) == pages_of(result.removed) == set()  # the same addresses
    assert diff_blobs(blob_, decoded(good), blob_, decoded(good)).same


def test_broken_pool_text_golden(dtc: str, tmp_path: Path) -> None:
    """The whole text of a diff whose new side is broken (errors and a warning) and adds a half page."""
    old = blob(dtc, tmp_path, "old.dtb", GOOD)
    new = blob(
        dtc, tmp_path, "new.dtb", pool((0x400000, 0x1000), (0x200000, 0x1000), (0x401000, 0x1000), (0x500000, 0x800))
    )
    run = run_cli(["diff", str(old), str(new)])
    assert run.exit_code == 1 and run.stderr == ""
    check_golden("diff-broken.txt", run.stdout.replace(str(tmp_path), "TMP"))
