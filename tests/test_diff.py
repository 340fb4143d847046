"""`pmpoolctl diff`: pools compared as pages, exit 0 same / 1 different, on blobs dtc compiled."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pmpoolctl.pooldiff import address_changes
from pmpoolctl.rangearray import RangeArray
from pmpoolctl.ranges import Range
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


def pages_of(ranges: list[Range]) -> set[int]:
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


def test_pool_added_removed_or_in_neither(dtc: str, tmp_path: Path) -> None:
    bare = blob(dtc, tmp_path, "bare.dtb", None)
    with_pool = blob(dtc, tmp_path, "pool.dtb", pool((0x200000, 0x1000)))
    added = run_cli(["diff", str(bare), str(with_pool)])
    assert added.exit_code == 1 and "pool /default_pmpool: added (1 range, 4 KiB, 1 page)" in added.stdout
    removed = json.loads(run_cli(["diff", "--json", str(with_pool), str(bare)]).stdout)
    assert removed["same"] is False and removed["new"]["pool"] is None and removed["old"]["pool"]["ranges"] == 1
    neither = run_cli(["diff", str(bare), str(bare)])
    assert neither.exit_code == 0 and "in neither blob" in neither.stdout


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
