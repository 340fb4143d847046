"""How `create`, `add-range` and `remove-range` report an edit: text, or pmpoolctl.edit/v1 JSON.

Apart from the other reports: an edit imports neither the tables nor the findings; its JSON
lists the ranges that go and come as streamed `Records` (a batch can add ten million).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pmpoolctl.numbers import counted, human_size
from pmpoolctl.output.common import RANGE_FIELDS, range_columns
from pmpoolctl.output.console import Console, write_lines
from pmpoolctl.output.jsonwriter import Records
from pmpoolctl.pool.change import Change
from pmpoolctl.ranges.rangearray import RangeArray


def _range_lines(sign: str, ranges: RangeArray) -> Iterator[str]:
    """`  - [base, end)  size` lines; a batch repeats a few sizes, so each is put in words once."""
    words: dict[int, str] = {}
    for base, size in zip(ranges.bases, ranges.sizes):
        shown = words.get(size) or words.setdefault(size, human_size(size))
        yield f"  {sign} [{base:#x}, {base + size:#x})  {shown}\n"  # the range as Range.__str__ writes it


def _totals(totals: tuple[int, int], page_size: int) -> str:
    count, size = totals
    return f"{counted(count, 'range')}, {human_size(size)}, {counted(size // page_size, 'page')}"


def render_change(
    console: Console, source: str, pool_path: str, change: Change, page_size: int, *, dry_run: bool
) -> None:
    """What an edit changes: canonical ranges that go (-) and come (+) on a dry run, the totals, and the
    stored pairs when they are not the canonical ranges (canonicalize's change)."""
    verb = "would change" if dry_run else "changed"
    if change.same:
        console.print(f"{source}: {pool_path}: no change" + (" (dry run)" if dry_run else ""))
        return
    console.print(f"{source}: {pool_path} {verb}" + (" (dry run, nothing written)" if dry_run else ""))
    for sign, ranges in (("-", change.removed), ("+", change.added)):
        if ranges is not None:
            write_lines(console, _range_lines(sign, ranges))
    console.print(f"  before: {_totals(change.before, page_size)}")
    console.print(f"  after:  {_totals(change.after, page_size)}")
    if change.stored != (change.before[0], change.after[0]):  # stored otherwise than canonical (canonicalize)
        was, now = change.stored
        console.print(f"  stored: {counted(was, 'range')} -> {counted(now, 'range')} in page-ranges")


EDIT_SCHEMA = "pmpoolctl.edit/v1"


def _totals_json(totals: tuple[int, int], page_size: int, stored: int) -> dict[str, int]:
    count, size = totals
    return {"ranges": count, "total_bytes": size, "total_pages": size // page_size, "stored_ranges": stored}


def _ranges_json(ranges: RangeArray | None) -> Records:
    listed = RangeArray() if ranges is None else ranges
    return Records(RANGE_FIELDS, len(listed), range_columns(listed))


def edit_json(
    source: str, pool_path: str, change: Change, page_size: int, *, dry_run: bool, written: bool
) -> dict[str, Any]:
    """The `--json` document of an edit (schema pmpoolctl.edit/v1); write it with `jsonwriter.write_json`.

    `changed` is whether the pool changes (on a dry run: would change), so that Ansible's
    `changed_when` and the like read it; `written` is whether a file was written (a dry run
    writes none, an edit in place that changes nothing neither, `-o OUT` always). `before` and
    `after` are the canonical pages, with the pairs page-ranges stores as `stored_ranges`; `added`
    and `removed` are the canonical ranges that come and go (`change` must list them:
    `Change.of(..., listed=True)`), streamed from the arrays.
    """
    if not change.same and (change.added is None or change.removed is None):
        raise ValueError("edit_json needs a Change that lists its ranges (Change.of(..., listed=True))")
    return {
        "schema": EDIT_SCHEMA,
        "file": source,
        "pool": pool_path,
        "changed": not change.same,
        "dry_run": dry_run,
        "written": written,
        "page_size": page_size,
        "before": _totals_json(change.before, page_size, change.stored[0]),
        "after": _totals_json(change.after, page_size, change.stored[1]),
        "removed": _ranges_json(change.removed),
        "added": _ranges_json(change.added),
    }
