"""`validate --html FILE` and `map --html FILE`: one self-contained HTML page.

The page is the verdict, what was checked, the address-space picture as inline SVG (a
mark per finding) and the findings table. It loads nothing: the style is inline, there
is no script, and its Content-Security-Policy (`default-src 'none'`) stops a browser
from fetching anything even if a string got through. Every string from input is
escaped (`svg.esc`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pmpoolctl import __version__
from pmpoolctl.check.addrspace import Picture
from pmpoolctl.check.findings import Finding
from pmpoolctl.numbers import human_size, plural
from pmpoolctl.output.svg import esc, svg_document

ROWS_SHOWN = 1000  # findings in the table; the rest are counted (validate --json has them all)
SOURCES_LISTED = 10  # per finding: one range over 262,144 reservations names the first few

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #1a1a1a; }
h1 { font-size: 1.4em; }
h1.ok { color: #18794e; } h1.fail { color: #c00000; } h1.none { color: #444444; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #cccccc; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
td.range, td.source { font-family: monospace; white-space: nowrap; }
tr.error td.severity { color: #c00000; font-weight: bold; } tr.warning td.severity { color: #a86800; }
figure { margin: 1em 0; overflow-x: auto; }
.note { color: #444444; }
"""
_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'"


@dataclass(frozen=True)
class Verdict:
    """What validate decided: ok, and the counts the heading gives."""

    ok: bool
    errors: int
    warnings: int


def html_report(
    title: str,
    summary: str,
    picture: Picture,
    findings: Sequence[Finding],
    verdict: Verdict | None,
    notes: Sequence[str] = (),
) -> str:
    """The page: `verdict` None for a map without a pool (no check made)."""
    return "".join(_page(title, summary, picture, findings, verdict, notes))


def _page(
    title: str,
    summary: str,
    picture: Picture,
    findings: Sequence[Finding],
    verdict: Verdict | None,
    notes: Sequence[str],
) -> Iterator[str]:
    if verdict is None:
        heading, css = "address space", "none"
    else:
        word = "OK" if verdict.ok else "FAIL"
        heading = (
            f"{word}: {verdict.errors} {plural(verdict.errors, 'error', 'errors')}, "
            f"{verdict.warnings} {plural(verdict.warnings, 'warning', 'warnings')}"
        )
        css = "ok" if verdict.ok else "fail"
    yield '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
    yield f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">\n'
    yield f"<title>{esc(title)}: {esc(heading)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
    yield f'<h1 class="verdict {css}">{esc(heading)}</h1>\n<p>{esc(summary)}</p>\n'
    for note in notes:
        yield f'<p class="note">note: {esc(note)}</p>\n'
    yield "<figure>\n" + svg_document(picture, standalone=False) + '\n<figcaption class="note">'
    yield esc(_caption(picture)) + "</figcaption>\n</figure>\n"
    if findings:
        yield from _table(findings)
    yield f'<p class="note">pmpoolctl {esc(__version__)}</p>\n</body>\n</html>\n'


def _caption(picture: Picture) -> str:
    axis = picture.layout
    parts = [
        f"[{axis.start:#x}, {axis.end:#x}), 1 pixel = {human_size(round(axis.bytes_per_column))}; "
        f"grey: {len(axis.compressed)} {plural(len(axis.compressed), 'stretch', 'stretches')} compressed, "
        "their sizes written below; hover over a mark for its finding"
    ]
    if picture.unmarked:
        parts.append(f"+{picture.unmarked} more findings not marked")
    if picture.outside:
        parts.append(f"{picture.outside} findings outside the view")
    if picture.rangeless:
        parts.append(f"{picture.rangeless} findings about no one range (in the table only)")
    return "; ".join(parts) + "."


def _table(findings: Sequence[Finding]) -> Iterator[str]:
    yield '<table class="findings">\n<thead><tr><th>severity</th><th>rule</th><th>range</th><th>conflict</th>'
    yield "<th>source</th><th>message</th></tr></thead>\n<tbody>\n"
    for f in findings[:ROWS_SHOWN]:
        c = f.conflict
        conflict = "" if c is None else f"{c.type} [{c.start:#x}, {c.end:#x})"
        named = list(dict.fromkeys(x.source for x in f.conflicts))
        more = f" (+{len(named) - SOURCES_LISTED} more)" if len(named) > SOURCES_LISTED else ""
        sources = ", ".join(named[:SOURCES_LISTED]) + more
        yield (
            f'<tr class="{f.severity.value}"><td class="severity">{f.severity.value}</td><td>{esc(f.rule)}</td>'
            f'<td class="range">{esc(str(f.range) if f.range else "")}</td><td>{esc(conflict)}</td>'
            f'<td class="source">{esc(sources)}</td><td>{esc(f.message)}</td></tr>\n'
        )
    yield "</tbody>\n</table>\n"
    if len(findings) > ROWS_SHOWN:
        yield f'<p class="note">+{len(findings) - ROWS_SHOWN} more findings (validate --json lists them all)</p>\n'


def html_error_page(command: str, subject: str | None, message: str, code: int | None) -> str:
    """The page a run that ended without a verdict leaves: it did not finish, or failed, and why (never a pass)."""
    what = f" on {subject}" if subject else ""
    status = "" if code is None else f" (exit {code})"
    heading = f"NO VERDICT: {command}{what} did not complete{status}"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">\n'
        f"<title>{esc(heading)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f'<h1 class="verdict fail">{esc(heading)}</h1>\n<p>{esc(message)}</p>\n'
        f'<p class="note">pmpoolctl {esc(__version__)}</p>\n</body>\n</html>\n'
    )
