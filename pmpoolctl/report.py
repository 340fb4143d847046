"""Rendering for people (a `console.Console`: rich on a terminal) and for scripts (JSON)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from itertools import repeat
from operator import add, attrgetter, floordiv
from typing import TYPE_CHECKING, Any

from pmpoolctl.binding import Pool
from pmpoolctl.blob import Blob
from pmpoolctl.columns import CHUNK_ROWS, Cells, Column, hex_cells, int_cells, size_cells, write_table
from pmpoolctl.console import Console
from pmpoolctl.dts import format_value
from pmpoolctl.findings import Finding, Severity
from pmpoolctl.jsonout import INTEGER, JSON_TEXT, Lines, Records, json_strings
from pmpoolctl.numbers import hex_address, human_size, plural
from pmpoolctl.rangearray import RangeArray
from pmpoolctl.ranges import Range

if TYPE_CHECKING:  # only for annotations: `dump` need not import the validator
    from pmpoolctl.kho import KhoState, SubTree
    from pmpoolctl.memmap import MapEntry, MemoryMap
    from pmpoolctl.pooldiff import PoolDiff, PoolSide
    from pmpoolctl.validate import Report

DUMP_SCHEMA = "pmpoolctl.dump/v1"


def _print_messages(console: Console, findings: Iterable[Finding]) -> None:
    """`severity: message [rule]` lines, written in chunks (a broken pool can have a million)."""
    lines = (f"{f.severity.value}: {f.message} [{f.rule}]\n" for f in findings)
    while chunk := "".join(itertools.islice(lines, CHUNK_ROWS)):
        console.file.write(chunk)


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
    _print_messages(console, pool.problems)


# --- validate and memmap ------------------------------------------------------

VALIDATE_SCHEMA = "pmpoolctl.validate/v1"
MEMMAP_SCHEMA = "pmpoolctl.memmap/v1"


def finding_json(finding: Finding) -> dict[str, Any]:
    document: dict[str, Any] = {"rule": finding.rule, "severity": finding.severity.value}
    if finding.range is not None:
        document["range"] = range_json(finding.range)
    if finding.conflict is not None:
        c = finding.conflict
        document["conflict"] = {"start": c.start, "end": c.end, "type": c.type, "source": c.source}
    document["message"] = finding.message
    return document


def validate_json(report: Report, source: str, ok: bool) -> dict[str, Any]:
    """The `validate --json` document (schema pmpoolctl.validate/v1)."""
    return {
        "schema": VALIDATE_SCHEMA,
        "file": source,
        "pool": report.pool.path,
        "ok": ok,
        "memmaps": [_memmap_summary(m) for m in report.maps],
        "findings": Lines(map(finding_json, report.findings)),
        "summary": {"ranges": len(report.pool.ranges), "errors": report.errors, "warnings": report.warnings},
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
    c = finding.conflict
    return "" if c is None else f"{c.type} [{c.start:#x}, {c.end:#x})"


def render_validate(console: Console, report: Report, source: str, ok: bool) -> None:
    maps = ", ".join(f"{m.source} ({_memmap_label(m)})" for m in report.maps) or "no memory map"
    count = len(report.pool.ranges)
    console.print(f"{source}: {report.pool.path}: {count} {plural(count, 'range', 'ranges')} checked against {maps}")
    if report.findings:
        findings = report.findings

        def cells(formatter: Callable[[Finding], str]) -> Cells:  # per chunk: a report can hold a million
            return lambda start, stop: map(formatter, findings[start:stop])

        columns = [
            Column("severity", cells(lambda f: f.severity.value)),
            Column("rule", cells(attrgetter("rule"))),
            Column("range", cells(lambda f: str(f.range) if f.range else "")),
            Column("conflict", cells(_conflict_text)),
            Column("source", cells(lambda f: f.conflict.source if f.conflict else "")),
        ]
        _print_table(console, columns, len(findings))
        _print_messages(console, (f for f in findings if f.conflict is None))  # the table has the others
    verdict = "OK" if ok else "FAIL"
    console.print(
        f"{verdict}: {report.errors} {plural(report.errors, 'error', 'errors')}, "
        f"{report.warnings} {plural(report.warnings, 'warning', 'warnings')}",
        style="bold green" if ok else "bold red",
    )


def junit_xml(report: Report, source: str, strict: bool) -> bytes:
    """JUnit XML: one test case per rule; failures carry that rule's findings."""
    import xml.etree.ElementTree as ET

    from pmpoolctl.validate import RULES

    by_rule: dict[str, list[Finding]] = {rule: [] for rule in RULES}
    for finding in report.findings:
        by_rule.setdefault(finding.rule, []).append(finding)
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name=f"pmpoolctl validate {source}", tests=str(len(by_rule)))
    failures = 0
    for rule, findings in by_rule.items():
        case = ET.SubElement(suite, "testcase", classname=f"pmpoolctl.validate.{report.pool.path}", name=rule)
        failing = [f for f in findings if f.severity is Severity.ERROR or strict]
        text = "\n".join(f"{f.severity.value}: {f.message}" for f in findings)
        if failing:
            failures += 1
            failure = ET.SubElement(case, "failure", message=f"{len(findings)} finding(s): {findings[0].message}")
            failure.set("type", rule)
            failure.text = text
        elif findings:
            ET.SubElement(case, "system-out").text = text
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    return bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True))


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


def _side_json(side: PoolSide | None) -> dict[str, Any] | None:
    if side is None:
        return None
    return {
        "compatible": side.compatible,
        "page_size": side.page_size,
        "ranges": len(side.ranges),
        "total_bytes": side.total_bytes,
        "total_pages": side.total_bytes // side.page_size,
        "problems": side.problems,
    }


def _page_range_json(r: Range, page_size: int) -> dict[str, int]:
    return {**range_json(r), "pages": r.size // page_size}


def diff_json(diff: PoolDiff, old_source: str, new_source: str, pool_name: str) -> dict[str, Any]:
    """The `diff --json` document (schema pmpoolctl.diff/v1); write it with `jsonout.write_json`."""
    # Addresses removed are pages of the old pool, added ones pages of the new (lists are empty without both).
    old_page = diff.old.page_size if diff.old else 1
    new_page = diff.new.page_size if diff.new else 1
    return {
        "schema": DIFF_SCHEMA,
        "old": {"file": old_source, "pool": _side_json(diff.old)},
        "new": {"file": new_source, "pool": _side_json(diff.new)},
        "pool": "/" + pool_name,
        "same": diff.same,
        "removed": [_page_range_json(r, old_page) for r in diff.removed],
        "added": [_page_range_json(r, new_page) for r in diff.added],
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


def _side_text(side: PoolSide) -> str:
    count, size = len(side.ranges), side.total_bytes
    return f"{count} {plural(count, 'range', 'ranges')}, {human_size(size)}, {_pages(size // side.page_size)}"


def _property_text(value: bytes | None) -> str:
    if value is None:
        return "(none)"
    return format_value(value) if value else "(empty)"


def render_diff(console: Console, diff: PoolDiff, old_source: str, new_source: str, pool_name: str) -> None:
    """`--- OLD`/`+++ NEW`, then the pool's changes (- pages gone, + pages come), header and reservations."""
    console.print(f"--- {old_source}")
    console.print(f"+++ {new_source}")
    path = "/" + pool_name
    old, new = diff.old, diff.new
    if old is None and new is None:
        console.print(f"pool {path}: in neither blob")
    elif old is None or new is None:
        present = new if old is None else old
        assert present is not None
        console.print(f"pool {path}: {'added' if old is None else 'removed'} ({_side_text(present)})")
    else:
        console.print(f"pool {path}: {_side_text(old)} -> {_side_text(new)}")
        lines = [f"  - {r}  {human_size(r.size)}, {_pages(r.size // old.page_size)}\n" for r in diff.removed]
        lines += [f"  + {r}  {human_size(r.size)}, {_pages(r.size // new.page_size)}\n" for r in diff.added]
        console.file.writelines(lines)
        for change in diff.properties:
            console.print(f"  {change.name}: {_property_text(change.old)} -> {_property_text(change.new)}")
    if diff.header:
        console.print("header: " + ", ".join(f"{name} {old} -> {new}" for name, old, new in diff.header))
    for sign, entries in (("-", diff.reservations_removed), ("+", diff.reservations_added)):
        for entry in entries:
            console.print(f"reservation {sign} {Range(entry.address, entry.size)}  {human_size(entry.size)}")
    if diff.same:
        console.print(f"same pool {path}")
        return
    what = [f"{len(diff.removed)} {plural(len(diff.removed), 'range', 'ranges')} removed", f"{len(diff.added)} added"]
    if diff.properties:
        what.append(f"{len(diff.properties)} {plural(len(diff.properties), 'property', 'properties')} changed")
    console.print(f"pools differ: {', '.join(what)}", style="bold")


# --- kho ------------------------------------------------------------------------

KHO_SCHEMA = "pmpoolctl.kho/v1"


def _subtree_json(tree: SubTree) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": tree.name,
        "address": tree.address,
        "compatible": tree.compatible,
        "file": tree.file,
    }
    if tree.reserve_mem is not None:  # memblock's, when its sub-FDT was found
        document["reserve_mem"] = [
            {"name": r.name, "start": r.start, "size": r.size, "end": r.start + r.size} for r in tree.reserve_mem
        ]
    return document


def kho_json(state: KhoState) -> dict[str, Any]:
    """The `kho dump --json` document (schema pmpoolctl.kho/v1)."""
    return {
        "schema": KHO_SCHEMA,
        "source": state.source,
        "byte_order": state.byte_order,
        "compatible": state.compatible,
        "known": state.known,
        "preserved_memory_map": state.preserved_memory_map,
        "subtrees": [_subtree_json(tree) for tree in state.subtrees],
    }


def render_kho(console: Console, state: KhoState) -> None:
    version = state.compatible if state.compatible is not None else "no compatible"
    note = "" if state.known else " (unknown to this pmpoolctl: the next kernel may not read it)"
    console.print(f"{state.source}: KHO {version}{note}, u64 values {state.byte_order}-endian")
    console.print(f"  preserved-memory-map at {hex_address(state.preserved_memory_map)}")
    if not state.subtrees:
        console.print("  no users")
    for tree in state.subtrees:
        where = "no node in the root" if tree.address is None else f"sub-FDT at {hex_address(tree.address)}"
        found = f'compatible "{tree.compatible}"' if tree.compatible is not None else "sub-FDT not read"
        if tree.file is not None and tree.compatible is None:
            found = "sub-FDT without compatible"
        console.print(f"  {tree.name}: {where}, {found}" + (f" ({tree.file})" if tree.file else ""))
        for r in tree.reserve_mem or ():
            console.print(f"    reserve_mem {r.name}: {Range(r.start, r.size)}  {human_size(r.size)}")
