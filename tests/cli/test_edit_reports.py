"""What an edit reports: `before` and `after` are the pool's canonical pages (cli.md's edit/v1), for every edit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_edge_of_2_64 import blob_storing
from tests.cli.test_schemas import assert_valid
from tests.conftest import run_cli

TOUCHING = [(0x2000, 0x1000), (0x3000, 0x1000), (0x8000, 0x1000)]  # stored as 3 pairs: 2 canonical ranges
LISTED_TWICE = [(0x2000, 0x2000), (0x2000, 0x1000)]  # a page listed twice: canonicalize --merge only


def edit_document(args: list[str]) -> dict[str, Any]:
    run = run_cli([*args, "--json"])
    assert run.exit_code == 0, (run.exit_code, run.stderr)
    document: dict[str, Any] = json.loads(run.stdout)
    assert_valid(document)
    return document


def listed_bytes(ranges: list[dict[str, int]]) -> int:
    return sum(r["size"] for r in ranges)


@pytest.mark.parametrize(
    ("stored", "args"),
    [
        (TOUCHING, ["add-range", "{blob}", "0x10000", "0x1000"]),
        (TOUCHING, ["add-range", "{blob}", "0x4000", "0x1000"]),
        (TOUCHING, ["remove-range", "{blob}", "0x3000", "0x1000"]),
        (TOUCHING, ["canonicalize", "{blob}"]),
        (LISTED_TWICE, ["canonicalize", "{blob}", "--merge"]),
    ],
    ids=["add", "add-merging", "remove", "canonicalize", "canonicalize-merge"],
)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "written"])
def test_before_and_after_are_the_canonical_pages_and_add_up(
    tmp_path: Path, stored: list[tuple[int, int]], args: list[str], dry_run: bool
) -> None:
    """after = before - removed + added, in bytes and pages; `ranges` is canonical, `stored_ranges` the pairs."""
    blob = blob_storing(tmp_path, stored)
    canonical = edit_document(["canonicalize", str(blob), "--dry-run", "--merge"])["after"]  # the pages it holds
    document = edit_document([a.format(blob=blob) for a in args] + (["--dry-run"] if dry_run else []))
    before, after = document["before"], document["after"]
    assert {k: before[k] for k in ("ranges", "total_bytes", "total_pages")} == {
        k: canonical[k] for k in ("ranges", "total_bytes", "total_pages")
    }
    assert before["stored_ranges"] == len(stored)
    assert before["total_bytes"] == len({a for base, size in stored for a in range(base, base + size, 0x1000)}) * 0x1000
    assert after["total_bytes"] == before["total_bytes"] - listed_bytes(document["removed"]) + listed_bytes(
        document["added"]
    )
    assert after["total_pages"] * 0x1000 == after["total_bytes"]
    assert after["stored_ranges"] == after["ranges"]  # what an edit writes is canonical


def test_canonicalize_of_a_page_listed_twice_keeps_every_page(tmp_path: Path) -> None:
    """The text says the pages stay: no `-` line for the second listing of a page, the same totals."""
    blob = blob_storing(tmp_path, LISTED_TWICE)
    run = run_cli(["canonicalize", str(blob), "--merge", "--dry-run"])
    assert run.exit_code == 0, run.stderr
    assert run.stdout.splitlines()[1:] == [
        "  before: 1 range, 8 KiB, 2 pages",
        "  after:  1 range, 8 KiB, 2 pages",
        "  stored: 2 ranges -> 1 range in page-ranges",
    ]


@pytest.mark.parametrize("ranges", [[], ["--range", "0x1000", "0x1000"]], ids=["empty", "one-range"])
def test_create_json_says_changed_for_the_pool_it_wrote(tmp_path: Path, ranges: list[str]) -> None:
    out = tmp_path / "new.dtb"
    document = edit_document(["create", str(out), *ranges])
    assert out.exists()
    assert document["changed"] is True and document["written"] is True
    assert document["before"] == {"ranges": 0, "total_bytes": 0, "total_pages": 0, "stored_ranges": 0}
    assert document["after"]["ranges"] == document["after"]["stored_ranges"] == len(ranges) // 3
