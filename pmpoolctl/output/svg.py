"""The address-space picture as SVG: `--svg FILE` alone, and inline in the `--html` report.

A column of the layout is a pixel. A lane is a row of rectangles, one per run of columns
of the same cover (so at most a few hundred per lane, whatever the count of ranges), a
compressed stretch a grey band with its size written under it, and each finding one
`<g class="finding">` mark whose `<title>` (the hover text) gives its range, rule and
source lines. Every string from input is escaped (`esc`): a map's type words and a
blob's names are hostile text.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Iterator, Sequence

from pmpoolctl.check.addrspace import EMPTY, FULL, LANE_KINDS, Mark, Picture
from pmpoolctl.check.findings import Finding, Severity
from pmpoolctl.numbers import human_size
from pmpoolctl.output.common import short_size
from pmpoolctl.text import printable

PLOT_WIDTH = 960  # pixels: the layout's width
GAP_PIXELS = 44  # a compressed stretch: room for "1023 GiB"
LABEL_WIDTH = 180
RIGHT = 24
ROW = 18
LANE = 14
SOURCES_SHOWN = 3

_COLOURS = dict(
    zip(
        LANE_KINDS,
        (
            "#2e8b57",
            "#c8a400",
            "#d62728",
            "#9467bd",
            "#17becf",
            "#ff4f8b",
            "#e08a00",
            "#6cc",
            "#1f77b4",
            "#b05fc0",
            "#1a4fa0",
        ),
    )
)
_SEVERITY = {Severity.ERROR: "#d00000", Severity.WARNING: "#e69500"}


def esc(text: str) -> str:
    """Text from input as safe XML/HTML text or attribute: controls as visible escapes, then &, <, >, quotes."""
    return html.escape(printable(text), quote=True)


def finding_title(finding: Finding) -> str:
    """The hover text of a finding's mark: severity, rule, range, the source lines, the message."""
    sources = list(dict.fromkeys(c.source for c in finding.conflicts))
    shown = ", ".join(sources[:SOURCES_SHOWN]) + (
        f" (+{len(sources) - SOURCES_SHOWN} more)" if len(sources) > SOURCES_SHOWN else ""
    )
    where = f" at {shown}" if shown else ""
    return f"{finding.severity.value} {finding.rule} {finding.range}{where}: {finding.message}"


def svg_document(picture: Picture, heading: str = "", *, standalone: bool = True) -> str:
    """The picture as an SVG element; `standalone` adds the XML namespace a file of its own needs."""
    return "\n".join(_svg(picture, heading, standalone)) + "\n"


def _svg(picture: Picture, heading: str, standalone: bool) -> Iterator[str]:
    axis = picture.layout
    edges = axis.column_edges()
    top = ROW if heading else 0
    marks_top = top
    lanes_top = marks_top + ROW
    height = lanes_top + ROW * len(picture.lanes) + 2 * ROW + 8
    width = LABEL_WIDTH + axis.width + RIGHT
    namespace = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    yield (
        f'<svg{namespace} class="addrspace" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="sans-serif" font-size="11" role="img">'
    )
    yield f"<title>{esc(heading or 'address space')}: [{axis.start:#x}, {axis.end:#x})</title>"
    yield f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>'
    if heading:
        yield f'<text x="4" y="{ROW - 5}" font-weight="bold">{esc(heading)}</text>'
    x0 = LABEL_WIDTH
    bottom = lanes_top + ROW * len(picture.lanes)
    yield '<g class="pieces">'
    for piece in axis.compressed:
        yield (
            f'<rect class="gap" x="{x0 + piece.x0}" y="{marks_top}" width="{piece.x1 - piece.x0}" '
            f'height="{bottom - marks_top}" fill="#e8e8e8"><title>[{piece.start:#x}, {piece.end:#x}) '
            f"{esc(human_size(piece.size))}, compressed</title></rect>"
        )
    yield "</g>"
    compressed = [False] * axis.width
    for piece in axis.compressed:
        compressed[piece.x0 : piece.x1] = [True] * (piece.x1 - piece.x0)
    for index, (lane, cells) in enumerate(zip(picture.lanes, picture.cells)):
        y = lanes_top + ROW * index
        colour = _COLOURS.get(lane.kind, "#555555")
        yield f'<g class="lane" data-kind="{esc(lane.kind)}">'
        yield f'<text x="4" y="{y + LANE - 3}">{esc(lane.label)}</text>'
        yield f'<rect x="{x0}" y="{y}" width="{axis.width}" height="{LANE}" fill="none" stroke="#cccccc"/>'
        column = 0
        for (cell, gap), run in itertools.groupby(zip(cells, compressed)):
            count = len(list(run))
            if cell != EMPTY:
                opacity = "0.45" if gap else ("1" if cell == FULL else "0.5")
                how = "covered" if cell == FULL else "partly covered"
                yield (
                    f'<rect x="{x0 + column}" y="{y}" width="{count}" height="{LANE}" fill="{colour}" '
                    f'fill-opacity="{opacity}"><title>{esc(lane.label)}: [{edges[column]:#x}, '
                    f"{edges[column + count]:#x}) {how}</title></rect>"
                )
            column += count
        yield "</g>"
    yield '<g class="findings">'
    if picture.marks:
        yield f'<text x="4" y="{marks_top + LANE - 3}">findings</text>'
    for mark in picture.marks:
        yield _mark(mark, x0, axis.width, marks_top, bottom)
    yield "</g>"
    yield from _axis(picture, x0, bottom, edges)
    yield "</svg>"


def _brief(size: int) -> str:
    """`452 MiB`, `2.5 GiB`: a compressed stretch's size in the room it has."""
    text = short_size(size)
    return f"{text} B" if text[-1].isdigit() else f"{text[:-1]} {text[-1]}iB"


def _mark(mark: Mark, x0: int, plot: int, top: int, bottom: int) -> str:
    finding = mark.finding
    colour = _SEVERITY.get(finding.severity, "#d00000")
    span = max(2, mark.x1 - mark.x0)
    x = x0 + min(mark.x0, max(0, plot - span))
    return (
        f'<g class="finding {finding.severity.value}" data-rule="{esc(finding.rule)}">'
        f"<title>{esc(finding_title(finding))}</title>"
        f'<rect x="{x}" y="{top + ROW}" width="{span}" height="{bottom - top - ROW}" fill="{colour}" '
        'fill-opacity="0.18"/>'
        f'<rect x="{x}" y="{top + 2}" width="{span}" height="{LANE - 2}" fill="{colour}"/></g>'
    )


def _axis(picture: Picture, x0: int, y: int, edges: Sequence[int]) -> Iterator[str]:
    axis = picture.layout
    yield '<g class="axis">'
    yield f'<line x1="{x0}" y1="{y + 2}" x2="{x0 + axis.width}" y2="{y + 2}" stroke="#333333"/>'
    for piece in axis.compressed:
        middle = x0 + (piece.x0 + piece.x1) / 2
        yield (f'<text x="{middle:g}" y="{y + 14}" text-anchor="middle" font-size="8">{esc(_brief(piece.size))}</text>')
    last = -1000
    for piece in axis.pieces:
        x = x0 + piece.x0
        if x - last >= 90 and x0 + axis.width - x >= 90:
            yield f'<line x1="{x}" y1="{y}" x2="{x}" y2="{y + 6}" stroke="#333333"/>'
            yield f'<text x="{x}" y="{y + 28}" font-size="9">{piece.start:#x}</text>'
            last = x
    yield f'<text x="{x0 + axis.width}" y="{y + 28}" font-size="9" text-anchor="end">{axis.end:#x}</text>'
    yield "</g>"


def svg_error_document(command: str, subject: str | None, message: str, code: int | None) -> str:
    """The picture a run that ended without a verdict leaves: no address space, only that it did not complete, and why.

    As the --html error page does, so that an older picture never outlives a failed run as if it were its own.
    """
    what = f" on {subject}" if subject else ""
    status = "" if code is None else f" (exit {code})"
    heading = f"NO VERDICT: {command}{what} did not complete{status}"
    width, height = LABEL_WIDTH + PLOT_WIDTH + RIGHT, 3 * ROW
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="addrspace error" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" role="img">\n'
        f"<title>{esc(heading)}</title>\n"
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>\n'
        f'<text x="4" y="{ROW - 5}" font-weight="bold" fill="#d00000">{esc(heading)}</text>\n'
        f'<text x="4" y="{2 * ROW - 5}">{esc(message)}</text>\n'
        "</svg>\n"
    )
