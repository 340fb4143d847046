"""`diff`: how two blobs' pools differ, as text and as pmpoolctl.diff/v1 JSON."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat
from operator import floordiv
from typing import TYPE_CHECKING, Any

from pmpoolctl.dtb.dts import format_value
from pmpoolctl.numbers import human_size, plural
from pmpoolctl.output.common import RANGE_FIELDS, finding_json, range_columns
from pmpoolctl.output.console import Console, write_lines
from pmpoolctl.output.jsonwriter import INTEGER, Lines, Records
from pmpoolctl.ranges.everyaddress import Canonical
from pmpoolctl.ranges.rangeset import Range

if TYPE_CHECKING:  # only for annotations: `dump` need not import the validator
    from pmpoolctl.pool.diff import PoolDiff, PoolSide


DIFF_SCHEMA = "pmpoolctl.diff/v1"
# Binding findings shown per side in text (a reversed million-range pool has a million); JSON has them all.
DIFF_FINDINGS_SHOWN = 10
PAGE_RANGE_FIELDS = [*RANGE_FIELDS, ("pages", INTEGER)]


def _side_json(side: PoolSide | None) -> dict[str, Any] | None:
    if side is None:
        return None
    return {
        "compatible": side.compatible,
        "page_size": side.page_size,
        "ranges": side.stored,  # as the blob holds them
        "canonical_ranges": len(side.ranges),  # after sorting and merging: what is compared
        "total_bytes": side.total_bytes,
        "total_pages": side.total_bytes // side.page_size,
        "problems": len(side.findings),
        "errors": side.errors,
        "warnings": len(side.findings) - side.errors,
        "findings": Lines(map(finding_json, side.findings)),
    }


def _page_ranges_json(ranges: Canonical, page_size: int) -> Records:
    """Ranges with their page counts, streamed from the arrays (a pool that appears can hold a million)."""
    base_columns = range_columns(ranges)

    def columns(start: int, stop: int) -> tuple[list[int], ...]:
        bases, sizes, ends = base_columns(start, stop)
        return bases, sizes, ends, list(map(floordiv, sizes, repeat(page_size)))

    return Records(PAGE_RANGE_FIELDS, len(ranges), columns)


def diff_json(diff: PoolDiff, old_source: str, new_source: str, pool_name: str) -> dict[str, Any]:
    """The `diff --json` document (schema pmpoolctl.diff/v1); write it with `jsonout.write_json`."""
    # Addresses removed are pages of the old pool, added ones pages of the new.
    old_page = diff.old.page_size if diff.old else 1
    new_page = diff.new.page_size if diff.new else 1
    return {
        "schema": DIFF_SCHEMA,
        "old": {"file": old_source, "pool": _side_json(diff.old)},
        "new": {"file": new_source, "pool": _side_json(diff.new)},
        "pool": "/" + pool_name,
        "same": diff.same,
        "removed": _page_ranges_json(diff.removed, old_page),
        "added": _page_ranges_json(diff.added, new_page),
        "properties": [
            {
                "name": c.name,
                "old": None if c.old is None else format_value(c.old),
                "new": None if c.new is None else format_value(c.new),
            }
            for c in diff.properties
        ],
        "header": [{"field": name, "old": old, "new": new} for name, old, new in diff.header],
        "reservations": {
            "removed": [{"address": r.address, "size": r.size} for r in diff.reservations_removed],
            "added": [{"address": r.address, "size": r.size} for r in diff.reservations_added],
        },
    }


def _pages(count: int) -> str:
    return f"{count} {plural(count, 'page', 'pages')}"


def _count(count: int, one: str) -> str:
    return f"{count} {plural(count, one, one + 's')}"


def _side_text(side: PoolSide) -> str:
    """`3 ranges (2 after merging), 1.00 GiB, 262656 pages`: the count the blob holds, then the pages."""
    merged = "" if len(side.ranges) == side.stored else f" ({len(side.ranges)} after merging)"
    size = side.total_bytes
    return f"{_count(side.stored, 'range')}{merged}, {human_size(size)}, {_pages(size // side.page_size)}"


def _property_text(value: bytes | None) -> str:
    if value is None:
        return "(none)"
    return format_value(value) if value else "(empty)"


def _page_range_lines(sign: str, ranges: Canonical, page_size: int) -> Iterable[str]:
    for r in ranges:  # a Range each: the line makes one anyway
        yield f"  {sign} {r}  {human_size(r.size)}, {_pages(r.size // page_size)}\n"


def _print_side_findings(console: Console, label: str, side: PoolSide | None) -> None:
    """A side's binding findings: errors make it a difference (said so), warnings alone do not."""
    if side is None or not side.findings:
        return
    errors, warnings = side.errors, len(side.findings) - side.errors
    if errors:
        counts = _count(errors, "error") + (f", {_count(warnings, 'warning')}" if warnings else "")
        console.print(f"{label} pool breaks the binding: {counts}")
    else:
        console.print(f"{label} pool: {_count(warnings, 'binding warning')} (not a difference by itself)")
    shown = side.findings[:DIFF_FINDINGS_SHOWN]
    write_lines(console, (f"  {f.severity.value} {f.rule}: {f.message}\n" for f in shown))
    if len(side.findings) > len(shown):
        console.print(f"  ... and {len(side.findings) - len(shown)} more (--json lists every one)")


def render_diff(console: Console, diff: PoolDiff, old_source: str, new_source: str, pool_name: str) -> None:
    """`--- OLD`/`+++ NEW`, then the pool's changes (- pages gone, + pages come), binding problems,
    header and reservations."""
    console.print(f"--- {old_source}")
    console.print(f"+++ {new_source}")
    path = "/" + pool_name
    old, new = diff.old, diff.new
    assert old is not None or new is not None, "read_pools refuses two blobs without the pool"
    before, after = (_side_text(side) if side is not None else "none" for side in (old, new))
    console.print(f"pool {path}: {before} -> {after}")
    if old is not None:
        write_lines(console, _page_range_lines("-", diff.removed, old.page_size))
    if new is not None:
        write_lines(console, _page_range_lines("+", diff.added, new.page_size))
    for change in diff.properties:
        console.print(f"  {change.name}: {_property_text(change.old)} -> {_property_text(change.new)}")
    _print_side_findings(console, "old", old)
    _print_side_findings(console, "new", new)
    if diff.header:
        console.print("header: " + ", ".join(f"{name} {old} -> {new}" for name, old, new in diff.header))
    for sign, entries in (("-", diff.reservations_removed), ("+", diff.reservations_added)):
        for entry in entries:
            console.print(f"reservation {sign} {Range(entry.address, entry.size)}  {human_size(entry.size)}")
    if diff.same:
        console.print(f"same pool {path}")
        return
    what = ["pool added"] if old is None else ["pool removed"] if new is None else []
    what += [f"{_count(len(diff.removed), 'range')} removed", f"{len(diff.added)} added"]
    if diff.properties:
        what.append(f"{len(diff.properties)} {plural(len(diff.properties), 'property', 'properties')} changed")
    if diff.broken:
        both = len(diff.broken) == 2
        what.append(f"the {' and '.join(diff.broken)} {'pools break' if both else 'pool breaks'} the binding")
    console.print(f"pools differ: {', '.join(what)}", style="bold")
