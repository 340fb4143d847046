"""Rendering for people (a `console.Console`: rich on a terminal) and for scripts (JSON)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from operator import add, attrgetter, floordiv
from typing import TYPE_CHECKING, Any

from pmpoolctl.check.findings import Conflict, Finding, Severity
from pmpoolctl.dtb.dts import format_value
from pmpoolctl.dtb.model import Blob
from pmpoolctl.numbers import human_size, plural
from pmpoolctl.output.console import Console, write_lines
from pmpoolctl.output.jsonwriter import INTEGER, JSON_TEXT, Lines, Records, json_strings
from pmpoolctl.output.tables import Cells, Column, hex_cells, int_cells, size_cells, write_table
from pmpoolctl.pool.binding import Pool
from pmpoolctl.ranges.rangearray import RangeArray
from pmpoolctl.ranges.rangeset import Range

if TYPE_CHECKING:  # only for annotations: `dump` need not import the validator
    from pmpoolctl.check.validate import Report
    from pmpoolctl.memmap.model import MapEntry, MemoryMap
    from pmpoolctl.pool.diff import PoolDiff, PoolSide

DUMP_SCHEMA = "pmpoolctl.dump/v1"


def _finding_cells(findings: Sequence[Finding]) -> Callable[[Callable[[Finding], str]], Cells]:
    def cells(formatter: Callable[[Finding], str]) -> Cells:  # per chunk: a report can hold a million
        return lambda start, stop: map(formatter, findings[start:stop])

    return cells


def _print_problems(console: Console, problems: Sequence[Finding]) -> None:
    """A pool's binding problems as a table (never `error:` lines, which read as the tool's own errors)."""
    cells = _finding_cells(problems)
    columns = [
        Column("severity", cells(lambda f: f.severity.value)),
        Column("rule", cells(attrgetter("rule"))),
        Column("range", cells(lambda f: str(f.range) if f.range else "")),
        Column("problem", cells(attrgetter("message"))),
    ]
    _print_table(console, columns, len(problems))


def _print_table(console: Console, columns: list[Column], rows: int) -> None:
    """A table written straight to the console's stream (see `columns` for why not rich's Table)."""
    write_table(console.file.write, columns, rows)


def _bytes(size: int) -> str:
    """`N bytes`, with binary units beside it once they say something."""
    return f"{size} bytes" if size < 1024 else f"{size} bytes ({human_size(size)})"


def range_json(r: Range) -> dict[str, int]:
    return {"base": r.base, "size": r.size, "end": r.end}


def _end_cells(ranges: RangeArray) -> Cells:
    """Hex cells of each range's end, computed per chunk (a million ends are never held at once)."""
    bases, sizes = ranges.bases, ranges.sizes
    return lambda start, stop: map("{:#x}".format, map(add, bases[start:stop], sizes[start:stop]))


def dump_json(blob: Blob, pool: Pool | None, source: str) -> dict[str, Any]:
    """The `dump --json` document (schema pmpoolctl.dump/v1)."""
    header = blob.header
    document: dict[str, Any] = {
        "schema": DUMP_SCHEMA,
        "file": source,
        "header": {
            "version": header.version,
            "last_comp_version": header.last_comp_version,
            "totalsize": header.totalsize,
            "boot_cpuid_phys": header.boot_cpuid_phys,
            "off_dt_struct": header.off_dt_struct,
            "off_dt_strings": header.off_dt_strings,
            "off_mem_rsvmap": header.off_mem_rsvmap,
            "size_dt_struct": header.size_dt_struct,
            "size_dt_strings": header.size_dt_strings,
        },
        "reservations": Records(
            [("address", INTEGER), ("size", INTEGER)],
            len(blob.reservations),
            lambda start, stop: (
                blob.reservations.addresses[start:stop].tolist(),
                blob.reservations.sizes[start:stop].tolist(),
            ),
        ),
        "pool": None,
    }
    if pool is not None:
        ranges = pool.ranges
        document["pool"] = {
            "path": pool.path,
            "compatible": pool.compatible,
            "page_size": pool.page_size,
            "ranges": Records(RANGE_FIELDS, len(ranges), _range_columns(ranges)),
            "total_bytes": pool.total_bytes,
            "total_pages": pool.total_pages,
            "other_properties": [
                {"name": n, "value": format_value(v) if v else None} for n, v in pool.extra_properties()
            ],
            "problems": [{"rule": p.rule, "severity": p.severity.value, "message": p.message} for p in pool.problems],
        }
    return document


RANGE_FIELDS = [("base", INTEGER), ("size", INTEGER), ("end", INTEGER)]


def _range_columns(ranges: RangeArray) -> Callable[[int, int], tuple[list[int], ...]]:
    def columns(start: int, stop: int) -> tuple[list[int], ...]:
        bases, sizes = ranges.bases[start:stop].tolist(), ranges.sizes[start:stop].tolist()
        return bases, sizes, list(map(add, bases, sizes))

    return columns


def _print_ranges(console: Console, ranges: RangeArray, page_size: int) -> None:
    sizes = ranges.sizes
    columns = [
        Column("#", lambda start, stop: map(str, range(start, stop)), right=True),
        Column("base", hex_cells(ranges.bases)),
        Column("end", _end_cells(ranges)),
        Column("bytes", int_cells(sizes), right=True),
        Column("size", size_cells(sizes), right=True),
        Column("pages", lambda start, stop: map(str, map(floordiv, sizes[start:stop], repeat(page_size))), right=True),
    ]
    _print_table(console, columns, len(ranges))


def render_dump(console: Console, blob: Blob, pool: Pool | None, source: str, pool_name: str) -> None:
    header = blob.header
    used = header.off_dt_strings + header.size_dt_strings
    console.print(f"{source}: FDT version {header.version} (last compatible {header.last_comp_version})")
    console.print(f"  totalsize {_bytes(header.totalsize)}, boot CPU {header.boot_cpuid_phys:#x}")
    console.print(
        f"  structure block {header.size_dt_struct} bytes at {header.off_dt_struct:#x}, "
        f"strings block {header.size_dt_strings} bytes at {header.off_dt_strings:#x}, "
        f"{max(header.totalsize - used, 0)} bytes free"
    )
    console.print()
    if blob.reservations:
        count = len(blob.reservations)
        console.print(
            f"Memory reservation block at {header.off_mem_rsvmap:#x}: {count} {plural(count, 'entry', 'entries')}"
        )
        addresses, sizes = blob.reservations.addresses, blob.reservations.sizes
        columns = [
            Column("#", lambda start, stop: map(str, range(start, stop)), right=True),
            Column("address", hex_cells(addresses)),
            Column("end", lambda start, stop: map("{:#x}".format, map(add, addresses[start:stop], sizes[start:stop]))),
            Column("size", size_cells(sizes), right=True),
        ]
        _print_table(console, columns, count)
    else:
        console.print(f"Memory reservation block at {header.off_mem_rsvmap:#x}: empty")
    console.print()
    if pool is None:
        console.print(f"Pool /{pool_name}: none")
        return
    console.print(
        f'Pool {pool.path}: compatible "{pool.compatible}", page size {pool.page_size} ({human_size(pool.page_size)})'
    )
    for name, value in pool.extra_properties():
        console.print(f"  {name} = {format_value(value)};" if value else f"  {name};")
    if pool.ranges:
        _print_ranges(console, pool.ranges, pool.page_size)
    else:
        console.print()
    console.print(f"Total: {len(pool.ranges)} ranges, {_bytes(pool.total_bytes)}, {pool.total_pages} pages")
    if pool.problems:
        count = len(pool.problems)
        console.print()
        console.print(f"The pool breaks the binding: {count} {plural(count, 'problem', 'problems')}")
        _print_problems(console, pool.problems)


# --- validate and memmap ------------------------------------------------------

VALIDATE_SCHEMA = "pmpoolctl.validate/v1"
MEMMAP_SCHEMA = "pmpoolctl.memmap/v1"


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


def validate_json(report: Report, source: str, ok: bool, notes: Sequence[str] = ()) -> dict[str, Any]:
    """The `validate --json` document (schema pmpoolctl.validate/v1); `notes` say what was not checked."""
    return {
        "schema": VALIDATE_SCHEMA,
        "file": source,
        "pool": report.pool.path,
        "ok": ok,
        "memmaps": [_memmap_summary(m) for m in report.maps],
        "findings": Lines(map(finding_json, report.findings)),
        "summary": {"ranges": len(report.pool.ranges), "errors": report.errors, "warnings": report.warnings},
        "notes": list(notes),
    }


def _memmap_summary(memory_map: MemoryMap) -> dict[str, Any]:
    """A map in validate's JSON; `note` only when the source held more than the map (a log's last boot)."""
    summary: dict[str, Any] = {
        "source": memory_map.source,
        "format": memory_map.format,
        "entries": len(memory_map.entries),
    }
    if memory_map.note:
        summary["note"] = memory_map.note
    return summary


def _memmap_label(memory_map: MemoryMap) -> str:
    """`FORMAT, N entries[, NOTE]`: how a map is named in text output."""
    note = f", {memory_map.note}" if memory_map.note else ""
    return f"{memory_map.format}, {len(memory_map.entries)} entries{note}"


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


def render_validate(console: Console, report: Report, source: str, ok: bool, notes: Sequence[str] = ()) -> None:
    maps = ", ".join(f"{m.source} ({_memmap_label(m)})" for m in report.maps) or "no memory map"
    count = len(report.pool.ranges)
    console.print(f"{source}: {report.pool.path}: {count} {plural(count, 'range', 'ranges')} checked against {maps}")
    for note in notes:
        console.print(f"note: {note}")
    if report.findings:
        cells = _finding_cells(report.findings)
        columns = [
            Column("severity", cells(lambda f: f.severity.value)),
            Column("rule", cells(attrgetter("rule"))),
            Column("range", cells(lambda f: str(f.range) if f.range else "")),
            Column("conflict", cells(_conflict_text)),
            Column("source", cells(_sources_text)),
        ]
        _print_table(console, columns, len(report.findings))
    verdict = "OK" if ok else "FAIL"
    console.print(
        f"{verdict}: {report.errors} {plural(report.errors, 'error', 'errors')}, "
        f"{report.warnings} {plural(report.warnings, 'warning', 'warnings')}",
        style="bold green" if ok else "bold red",
    )


def junit_xml(report: Report, source: str, strict: bool) -> bytes:
    """JUnit XML: one test case per rule; failures carry that rule's findings."""
    import xml.etree.ElementTree as ET

    from pmpoolctl.check.validate import RULES

    by_rule: dict[str, list[Finding]] = {rule: [] for rule in RULES}
    for finding in report.findings:
        by_rule.setdefault(finding.rule, []).append(finding)
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name=_xml_text(f"pmpoolctl validate {source}"), tests=str(len(by_rule)))
    failures = 0
    for rule, findings in by_rule.items():
        case = ET.SubElement(suite, "testcase", classname=f"pmpoolctl.check.validate.{report.pool.path}", name=rule)
        failing = [f for f in findings if f.severity is Severity.ERROR or strict]
        text = _xml_text("\n".join(f"{f.severity.value}: {f.message}" for f in findings))
        if failing:
            failures += 1
            message = _xml_text(f"{len(findings)} finding(s): {findings[0].message}")
            failure = ET.SubElement(case, "failure", message=message)
            failure.set("type", rule)
            failure.text = text
        elif findings:
            ET.SubElement(case, "system-out").text = text
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    return bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True))


def junit_error_xml(command: str, subject: str | None, message: str, code: int | None) -> bytes:
    """JUnit XML for a check that did not reach a verdict: one test case in error, never a pass.

    `code` is the run's exit code, or None for the stand-in written while the check runs.
    """
    import xml.etree.ElementTree as ET

    name = f"{command} {subject}" if subject is not None else command
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name=_xml_text(name), tests="1", failures="0", errors="1")
    case = ET.SubElement(suite, "testcase", classname=_xml_text(command.replace(" ", ".")), name="run")
    error = ET.SubElement(case, "error", message=_xml_text(message))
    error.set("type", "did-not-finish" if code is None else f"exit-{code}")
    error.text = _xml_text(message if code is None else f"exit {code}: {message}")
    return bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True))


def _xml_text(text: str) -> str:
    """Text XML 1.0 can hold: other characters (controls, lone surrogates) as \\xNN escapes."""
    if all(_xml_char(c) for c in text):
        return text
    return "".join(c if _xml_char(c) else f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}" for c in text)


def _xml_char(char: str) -> bool:
    code = ord(char)
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code >= 0x10000


def memmap_json(memory_map: MemoryMap) -> dict[str, Any]:
    """The `memmap --json` document (schema pmpoolctl.memmap/v1); write it with `jsonout.write_json`."""
    entries = memory_map.entries
    fields = [("start", INTEGER), ("end", INTEGER), ("type", JSON_TEXT), ("class", JSON_TEXT), ("source", JSON_TEXT)]

    def columns(start: int, stop: int) -> tuple[list[Any], ...]:
        rows = entries[start:stop]
        return (
            [e.start for e in rows],
            [e.end for e in rows],
            json_strings(e.type for e in rows),
            json_strings(e.kind for e in rows),
            json_strings(e.source for e in rows),
        )

    document: dict[str, Any] = {"schema": MEMMAP_SCHEMA, "source": memory_map.source, "format": memory_map.format}
    if memory_map.note:
        document["note"] = memory_map.note
    document["entries"] = Records(fields, len(entries), columns)
    return document


def render_memmap(console: Console, memory_map: MemoryMap) -> None:
    entries = memory_map.entries
    console.print(f"{memory_map.source}: {_memmap_label(memory_map)}")

    def cells(formatter: Callable[[MapEntry], str]) -> Cells:  # made per chunk, never for all rows at once
        return lambda start, stop: map(formatter, entries[start:stop])

    columns = [
        Column("start", cells(lambda e: f"{e.start:#x}")),
        Column("end", cells(lambda e: f"{e.end:#x}")),
        Column("size", cells(lambda e: human_size(e.end - e.start)), right=True),
        Column("class", cells(attrgetter("kind"))),
        Column("type", cells(attrgetter("type"))),
        Column("source", cells(attrgetter("source"))),
    ]
    _print_table(console, columns, len(entries))


# --- diff -----------------------------------------------------------------------

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


def _page_ranges_json(ranges: RangeArray, page_size: int) -> Records:
    """Ranges with their page counts, streamed from the arrays (a pool that appears can hold a million)."""
    range_columns = _range_columns(ranges)

    def columns(start: int, stop: int) -> tuple[list[int], ...]:
        bases, sizes, ends = range_columns(start, stop)
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


def _page_range_lines(sign: str, ranges: RangeArray, page_size: int) -> Iterable[str]:
    for base, size in zip(ranges.bases, ranges.sizes):
        yield f"  {sign} {Range(base, size)}  {human_size(size)}, {_pages(size // page_size)}\n"


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
