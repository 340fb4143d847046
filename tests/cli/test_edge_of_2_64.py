"""The commands at the top of the address space: pools whose ranges cover all 2^64 addresses, and map's view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_schemas import assert_valid
from tests.conftest import assert_input_error, run_cli

TOP = 1 << 64
HALF = 1 << 63
WHOLE = "[0x0, 0x10000000000000000)"


def blob_storing(tmp_path: Path, pairs: list[tuple[int, int]], name: str = "stored.dtb") -> Path:
    """A blob whose page-ranges holds `pairs` as they are (no edit writes them): created, then patched."""
    blob = tmp_path / name
    placeholders = [(0x1000 * (2 * i + 1), 0x1000) for i in range(len(pairs))]
    args = [a for base, size in placeholders for a in ("--range", str(base), str(size))]
    assert run_cli(["create", str(blob), *args]).exit_code == 0
    data = bytearray(blob.read_bytes())
    for (old_base, old_size), (base, size) in zip(placeholders, pairs):
        at = data.index(old_base.to_bytes(8, "big") + old_size.to_bytes(8, "big"))
        data[at : at + 16] = base.to_bytes(8, "big") + size.to_bytes(8, "big")
    blob.write_bytes(bytes(data))
    return blob


@pytest.fixture
def whole(tmp_path: Path) -> Path:
    """Two touching ranges, each fine, that together are every address."""
    return blob_storing(tmp_path, [(0, HALF), (HALF, HALF)], "whole.dtb")


@pytest.fixture
def all_ram(tmp_path: Path) -> Path:
    """A map in which every address is RAM: nothing but the pool itself can fail it."""
    path = tmp_path / "all-ram.json"
    path.write_text(json.dumps([{"start": 0, "end": TOP, "type": "System RAM"}]))
    return path


def test_validate_fails_a_pool_of_every_address_even_where_all_is_ram(whole: Path, all_ram: Path) -> None:
    run = run_cli(["validate", str(whole), "--memmap", str(all_ram), "--json"])
    assert run.exit_code == 1, (run.exit_code, run.stderr)
    document = json.loads(run.stdout)
    overflow = [f for f in document["findings"] if f["rule"] == "range-overflow"]
    assert [(f["severity"], f["range"]) for f in overflow] == [("error", {"base": 0, "size": TOP, "end": TOP})]
    assert not document["ok"]
    assert_valid(document)  # a size of 2^64, as the schema allows for this one case
    dumped = json.loads(run_cli(["dump", str(whole), "--json"]).stdout)
    assert_valid(dumped)
    assert "range-overflow" in [p["rule"] for p in dumped["pool"]["problems"]]


def test_validate_all_pools_of_every_address(whole: Path, all_ram: Path) -> None:
    run = run_cli(["validate", str(whole), "--memmap", str(all_ram), "--all-pools"])
    assert run.exit_code == 1, (run.exit_code, run.stderr)
    assert "range-overflow" in run.stdout


def test_diff_shows_what_the_other_side_lacks(whole: Path, tmp_path: Path) -> None:
    small = blob_storing(tmp_path, [(0x1000, 0x1000)], "small.dtb")
    run = run_cli(["diff", str(small), str(whole), "--json"])
    assert run.exit_code == 1, (run.exit_code, run.stderr)
    document = json.loads(run.stdout)
    assert [(r["base"], r["end"]) for r in document["added"]] == [(0, 0x1000), (0x2000, TOP)]
    assert document["removed"] == [] and document["new"]["pool"]["canonical_ranges"] == 1
    assert_valid(document)
    empty = blob_storing(tmp_path, [], "empty.dtb")
    gone = json.loads(run_cli(["diff", str(whole), str(empty), "--json"]).stdout)
    assert gone["removed"] == [{"base": 0, "size": TOP, "end": TOP, "pages": TOP // 4096}]
    assert_valid(gone)
    text = run_cli(["diff", str(whole), str(empty)])
    assert text.exit_code == 1 and f"  - {WHOLE}  16 EiB" in text.stdout, text.stdout
    same = run_cli(["diff", str(whole), str(whole)])
    assert same.exit_code == 1 and "the old and new pools break the binding" in same.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["add-range", "{blob}", "0x1000", "0x1000", "--merge"],
        ["remove-range", "{blob}", "0x1000", "0x1000"],
        ["canonicalize", "{blob}"],
    ],
    ids=["add-range", "remove-range", "canonicalize"],
)
def test_edits_refuse_a_pool_of_every_address_naming_it(whole: Path, args: list[str]) -> None:
    before = whole.read_bytes()
    run = run_cli([a.format(blob=whole) for a in args])
    assert_input_error(run, str(whole), WHOLE)
    assert whole.read_bytes() == before


def test_an_add_that_would_fill_all_2_64_is_refused(tmp_path: Path) -> None:
    blob = blob_storing(tmp_path, [(0, HALF)])
    before = blob.read_bytes()
    for merge in ([], ["--merge"]):
        assert_input_error(run_cli(["add-range", str(blob), "8E", "8E", *merge]), str(blob), WHOLE)
    assert blob.read_bytes() == before
    out = tmp_path / "new.dtb"
    assert_input_error(run_cli(["create", str(out), "--range", "0", "8E", "--range", "8E", "8E"]), str(out), WHOLE)
    assert not out.exists()


# --- map --from/--to -----------------------------------------------------------------------------------------------

VIEW_ADDRESSES = [None, "0", "0x1000", "4G", "0x100200000", "0xfffffffffffff000", "0xffffffffffffffff"]


def _number(text: str | None) -> int | None:
    if text is None:
        return None
    return 4 << 30 if text == "4G" else int(text, 0)


@pytest.mark.parametrize("view_to", VIEW_ADDRESSES, ids=lambda a: f"to={a}")
@pytest.mark.parametrize("view_from", VIEW_ADDRESSES, ids=lambda a: f"from={a}")
def test_map_draws_every_from_and_to_inside_2_64_or_names_the_option(
    tmp_path: Path, view_from: str | None, view_to: str | None
) -> None:
    """Against RAM below 8 GiB: a view from past it (near 2^64) is a page's, cut at 2^64, never past it."""
    blob = blob_storing(tmp_path, [(4 << 30, 2 << 20)])
    low_ram = tmp_path / "low-ram.json"
    low_ram.write_text(json.dumps([{"start": 0x1000, "end": 8 << 30, "type": "System RAM"}]))
    args = ["map", str(blob), "--memmap", str(low_ram)]
    args += ["--from", view_from] if view_from is not None else []
    args += ["--to", view_to] if view_to is not None else []
    run = run_cli(args)
    start, end = _number(view_from), _number(view_to)
    if end is not None and (end == 0 or (start is not None and end <= start)):
        assert run.exit_code == 2, (run.exit_code, run.stderr)
        assert run.stderr.startswith("error: --to ") and "Traceback" not in run.stderr
        return
    assert run.exit_code == 0, (run.exit_code, run.stderr)
    view = run.stdout.splitlines()[1]  # [lo, hi) in N columns: ...
    lo, hi = (int(x, 16) for x in view[1 : view.index(")")].split(", "))
    assert 0 <= lo < hi <= TOP
    assert start is None or lo == start
    assert end is None or hi == end
