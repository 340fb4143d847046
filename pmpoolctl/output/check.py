"""`validate` and `kho validate`: findings as text and as pmpoolctl.validate/v1 JSON."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from pmpoolctl.check.findings import Finding
from pmpoolctl.numbers import plural
from pmpoolctl.output.common import finding_cells, finding_json, print_table
from pmpoolctl.output.console import Console
from pmpoolctl.output.jsonwriter import Lines
from pmpoolctl.output.memmap import memmap_label, memmap_summary
from pmpoolctl.output.tables import Column

if TYPE_CHECKING:  # only for annotations: `dump` need not import the validator
    from pmpoolctl.check.validate import Report


VALIDATE_SCHEMA = "pmpoolctl.validate/v1"


def validate_json(report: Report, source: str, ok: bool, notes: Sequence[str] = ()) -> dict[str, Any]:
    """The `validate --json` document (schema pmpoolctl.validate/v1); `notes` say what was not checked."""
    return {
        "schema": VALIDATE_SCHEMA,
        "file": source,
        "pool": report.pool.path,
        "ok": ok,
        "memmaps": [memmap_summary(m) for m in report.maps],
        "findings": Lines(map(finding_json, report.findings)),
        "summary": {"ranges": len(report.pool.ranges), "errors": report.errors, "warnings": report.warnings},
        "notes": list(notes),
    }


def _conflict_text(finding: Finding) -> str:
    """The first conflict, or for a finding about the pool's own shape what is wrong with it."""
    c = finding.conflict
    return finding.message if c is None else f"{c.type} [{c.start:#x}, {c.end:#x})"


SOURCES_SHOWN = 3


def _sources_text(finding: Finding) -> str:
    """Where every conflict was read: each map that refuses the range."""
    sources = list(dict.fromkeys(c.source for c in finding.conflicts))
    shown = ", ".join(sources[:SOURCES_SHOWN])
    return shown + (f" (+{len(sources) - SOURCES_SHOWN} more)" if len(sources) > SOURCES_SHOWN else "")


def validate_summary(report: Report, source: str) -> str:
    """`FILE: /POOL: N ranges checked against MAP (FORMAT, N entries), ...`: the report's first line."""
    maps = ", ".join(f"{m.source} ({memmap_label(m)})" for m in report.maps) or "no memory map"
    count = len(report.pool.ranges)
    return f"{source}: {report.pool.path}: {count} {plural(count, 'range', 'ranges')} checked against {maps}"


def render_validate(console: Console, report: Report, source: str, ok: bool, notes: Sequence[str] = ()) -> None:
    console.print(validate_summary(report, source))
    for note in notes:
        console.print(f"note: {note}")
    if report.findings:
        cells = finding_cells(report.findings)
        columns = [
            Column("severity", cells(lambda f: f.severity.value)),
            Column("rule", cells(attrgetter("rule"))),
            Column("range", cells(lambda f: str(f.range) if f.range else ""), wrap=True),
            Column("conflict", cells(_conflict_text), wrap=True),
            Column("source", cells(_sources_text), wrap=True),
        ]
        print_table(console, columns, len(report.findings))
    verdict = "OK" if ok else "FAIL"
    console.print(
        f"{verdict}: {report.errors} {plural(report.errors, 'error', 'errors')}, "
        f"{report.warnings} {plural(report.warnings, 'warning', 'warnings')}",
        style="bold green" if ok else "bold red",
    )
