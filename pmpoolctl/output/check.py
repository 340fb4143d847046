"""`validate` and `kho validate`: findings as text and as pmpoolctl.validate/v1 JSON."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from pmpoolctl.check.findings import Finding
from pmpoolctl.numbers import counted, plural
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
        "zones": zones_json(report),
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


def zones_json(report: Report) -> list[dict[str, Any]]:
    """What the ranges were held clear of besides the maps: KHO's scratch areas and what it preserves."""
    return [{"rule": z.rule, "where": z.where, "entries": len(z.entries)} for z in report.zones]


def validate_summary(report: Report, source: str) -> str:
    """`FILE: /POOL: N ranges checked against MAP (FORMAT, N entries), ...`: the report's first line;
    with KHO's zones, `; clear of WHAT (N entries), ...` after the maps."""
    maps = ", ".join(f"{m.source} ({memmap_label(m)})" for m in report.maps) or "no memory map"
    count = len(report.pool.ranges)
    summary = f"{source}: {report.pool.path}: {count} {plural(count, 'range', 'ranges')} checked against {maps}"
    if not report.zones:
        return summary
    zones = (f"{z.where} ({counted(len(z.entries), 'entry', 'entries')})" for z in report.zones)
    return summary + "; clear of " + ", ".join(zones)


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


def validate_all_json(reports: Sequence[Report], source: str, ok: bool, notes: Sequence[str] = ()) -> dict[str, Any]:
    """`validate --all-pools --json`: every pool's findings (each naming its `pool`), and totals.

    `pool` is null and `pools` lists the pools checked; `summary` counts them all.
    """
    documents = []
    for report in reports:
        for one in report.findings:
            document = finding_json(one)
            documents.append({"pool": report.pool.path, **document})
    maps = reports[0].maps if reports else []
    return {
        "schema": VALIDATE_SCHEMA,
        "file": source,
        "pool": None,
        "pools": [
            {
                "path": r.pool.path,
                "ranges": len(r.pool.ranges),
                "errors": r.errors,
                "warnings": r.warnings,
            }
            for r in reports
        ],
        "ok": ok,
        "memmaps": [memmap_summary(m) for m in maps],
        "zones": zones_json(reports[0]) if reports else [],
        "findings": documents,
        "summary": {
            "pools": len(reports),
            "ranges": sum(len(r.pool.ranges) for r in reports),
            "errors": sum(r.errors for r in reports),
            "warnings": sum(r.warnings for r in reports),
        },
        "notes": list(notes),
    }


def render_validate_all(
    console: Console, reports: Sequence[Report], source: str, ok: bool, oks: Sequence[bool], notes: Sequence[str] = ()
) -> None:
    """Each pool's report in node order (its own verdict), then the verdict of them all."""
    for report, pool_ok in zip(reports, oks):
        render_validate(console, report, source, pool_ok, notes)
        console.print()
    errors = sum(r.errors for r in reports)
    warnings = sum(r.warnings for r in reports)
    console.print(
        f"{'OK' if ok else 'FAIL'}: {len(reports)} {plural(len(reports), 'pool', 'pools')}, "
        f"{errors} {plural(errors, 'error', 'errors')}, {warnings} {plural(warnings, 'warning', 'warnings')}",
        style="bold green" if ok else "bold red",
    )
