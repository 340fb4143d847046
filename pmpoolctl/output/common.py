"""What the reports share: findings as table cells, ranges as JSON records and rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import add
from typing import TYPE_CHECKING, Any

from pmpoolctl.check.findings import Conflict, Finding
from pmpoolctl.output.console import Console, ascii_only, output_width
from pmpoolctl.output.jsonwriter import INTEGER
from pmpoolctl.output.tables import Cells, Column, write_table
from pmpoolctl.ranges.everyaddress import Canonical, bases_and_sizes
from pmpoolctl.ranges.rangeset import Range

if TYPE_CHECKING:  # only for annotations: `dump` need not import the validator
    pass


def finding_cells(findings: Sequence[Finding]) -> Callable[[Callable[[Finding], str]], Cells]:
    def cells(formatter: Callable[[Finding], str]) -> Cells:  # per chunk: a report can hold a million
        return lambda start, stop: map(formatter, findings[start:stop])

    return cells


def print_table(console: Console, columns: list[Column], rows: int) -> None:
    """A table written straight to the console's stream (see `tables` for why not rich's Table).

    It fits the terminal's width (or COLUMNS), and is drawn in ASCII where the stream needs it.
    """
    stream = console.file
    write_table(stream.write, columns, rows, width=output_width(stream), ascii=ascii_only(console))


def range_json(r: Range) -> dict[str, int]:
    return {"base": r.base, "size": r.size, "end": r.end}


RANGE_FIELDS = [("base", INTEGER), ("size", INTEGER), ("end", INTEGER)]


def range_columns(ranges: Canonical) -> Callable[[int, int], tuple[list[int], ...]]:
    def columns(start: int, stop: int) -> tuple[list[int], ...]:
        bases, sizes = bases_and_sizes(ranges, start, stop)
        return bases, sizes, list(map(add, bases, sizes))

    return columns


def finding_json(finding: Finding) -> dict[str, Any]:
    document: dict[str, Any] = {"rule": finding.rule, "severity": finding.severity.value}
    if finding.range is not None:
        document["range"] = range_json(finding.range)
    if finding.conflict is not None:
        document["conflict"] = _conflict_json(finding.conflict)
        document["conflicts"] = [_conflict_json(c) for c in finding.conflicts]  # every map and entry, first first
    if finding.count > 1:
        document["count"] = finding.count  # a finding that stands for this many of the same fault
    document["message"] = finding.message
    return document


def _conflict_json(c: Conflict) -> dict[str, Any]:
    return {"start": c.start, "end": c.end, "type": c.type, "source": c.source}


def short_size(size: int) -> str:
    """A size in 4 or 5 characters: `512`, `4K`, `452M`, `2.5G`, `1003M`, `16E` (powers of 1024, rounded)."""
    if size < 1024:
        return str(size)
    value = float(size)
    for unit in "KMGTPE":
        value /= 1024
        if value < 1023.5 or unit == "E":
            text = f"{value:.1f}" if value < 9.95 else f"{value:.0f}"
            return f"{text.removesuffix('.0')}{unit}"
    raise AssertionError("unreachable")
