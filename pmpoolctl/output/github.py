"""`validate --github`: findings as GitHub Actions workflow commands, and a job summary in markdown.

A workflow command is one stdout line, `::error file=F,line=N,title=RULE::MESSAGE`, that
the runner turns into an annotation on line N of F: the memory-map line a finding's first
conflict was read from (`FILE:LINE`), or the blob for a finding about the pool itself.
Values are escaped as the runner unescapes them (actions/toolkit's `escapeData` and
`escapeProperty`): `%`, CR and LF in both, and `:` and `,` in a property too, so no
input can end a command early or start another.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from pmpoolctl.check.findings import Finding, Severity
from pmpoolctl.numbers import plural

if TYPE_CHECKING:  # only for annotations: `dump` need not import the validator
    from pmpoolctl.check.validate import Report

# How a conflict's source names where it was read: `FILE:LINE` (iomem, e820 logs, JSON maps,
# scratch_phys), or a blob's own entries as `BLOB:/path` and `BLOB:memreserve[N]`.
_FILE_LINE = re.compile(r"(?s)(.+):([1-9][0-9]*)")
_BLOB_PLACE = re.compile(r"(?s)(.+?):(/.*|memreserve\[[0-9]+\])")

# The summary's table stops here (GitHub keeps 1 MiB of a step's summary): the rest are counted.
SUMMARY_ROWS = 200


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def location(finding: Finding, blob_source: str) -> tuple[str, int | None]:
    """(file, line) a finding points at: its first conflict's source line, else the blob."""
    if finding.conflict is None:
        return blob_source, None
    source = finding.conflict.source
    match = _FILE_LINE.fullmatch(source)
    if match:
        return match[1], int(match[2])
    match = _BLOB_PLACE.fullmatch(source)
    return (match[1], None) if match else (source, None)


def workflow_command(finding: Finding, blob_source: str) -> str:
    """One `::error ...::message` (or `::warning`) line, without its newline."""
    file, line = location(finding, blob_source)
    properties = [f"file={escape_property(file)}"]
    if line is not None:
        properties.append(f"line={line}")
    properties.append(f"title={escape_property(finding.rule)}")
    command = "error" if finding.severity is Severity.ERROR else "warning"
    return f"::{command} {','.join(properties)}::{escape_data(finding.message)}"


def workflow_commands(findings: Iterable[Finding], blob_source: str) -> Iterator[str]:
    """The workflow command lines of `findings`, each ending in a newline."""
    for finding in findings:
        yield workflow_command(finding, blob_source) + "\n"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def markdown_text(text: str) -> str:
    """Text as a markdown table cell shows it: no HTML, no markup, no line break."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = " ".join(text.splitlines()) if ("\n" in text or "\r" in text) else text
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def summary_markdown(report: Report, source: str, ok: bool, notes: Sequence[str] = ()) -> str:
    """The job summary: verdict, what was checked, the findings as a table (the first SUMMARY_ROWS)."""
    count = len(report.pool.ranges)
    verdict = "OK" if ok else "FAIL"
    errors, warnings = report.errors, report.warnings
    lines = [
        f"### pmpoolctl validate: {verdict}",
        "",
        f"{markdown_text(source)}: {markdown_text(report.pool.path)}: {count} {plural(count, 'range', 'ranges')} "
        f"checked, {errors} {plural(errors, 'error', 'errors')}, {warnings} {plural(warnings, 'warning', 'warnings')}",
        "",
    ]
    for memory_map in report.maps:
        entries = len(memory_map.entries)
        lines.append(
            f"- memory map {markdown_text(memory_map.source)} ({markdown_text(memory_map.format)}, "
            f"{entries} {plural(entries, 'entry', 'entries')})"
        )
    lines.extend(f"- note: {markdown_text(note)}" for note in notes)
    if report.maps or notes:
        lines.append("")
    if report.findings:
        lines += ["| severity | rule | range | where | message |", "|---|---|---|---|---|"]
        for finding in report.findings[:SUMMARY_ROWS]:
            file, line = location(finding, source)
            where = file if line is None else f"{file}:{line}"
            shown = "" if finding.range is None else str(finding.range)
            cells = (finding.severity.value, finding.rule, shown, where, finding.message)
            lines.append("| " + " | ".join(markdown_text(cell) for cell in cells) + " |")
        more = len(report.findings) - SUMMARY_ROWS
        if more > 0:
            lines += ["", f"... and {more} more {plural(more, 'finding', 'findings')} (`--json` lists every one)"]
        lines.append("")
    return "\n".join(lines) + "\n"
