"""`map`: the address space drawn in the terminal, a row per lane (rich colour on a terminal, ASCII on a pipe).

A row is a label and one character per column: `#` a column the lane covers, `+` one it
covers in part, `~` a compressed stretch it covers (a terminal gets blocks and colour
instead). The axis row below writes each compressed stretch's size in its columns, and
the table of pieces gives every column's addresses.
"""

from __future__ import annotations

from collections.abc import Sequence

from pmpoolctl.check.addrspace import EMPTY, FULL, LANE_KINDS, PARTIAL, Picture
from pmpoolctl.check.findings import Finding, Severity
from pmpoolctl.numbers import human_size, plural
from pmpoolctl.output.common import short_size
from pmpoolctl.output.console import Console, PlainConsole, print_segments
from pmpoolctl.text import printable

GAP_COLUMNS = 5  # a compressed stretch in the terminal: room for its size ("231G")
LABEL_MAX = 24
FINDINGS_LISTED = 20

_PLAIN = {EMPTY: " ", PARTIAL: "+", FULL: "#"}
_RICH = {EMPTY: " ", PARTIAL: "▒", FULL: "█"}
_STYLES = dict(
    zip(LANE_KINDS, ("green", "yellow", "red", "magenta", "cyan", "yellow", "cyan", "blue", "magenta", "bold blue"))
)


def plot_width(columns: int, labels: Sequence[str]) -> int:
    """The columns left for the picture in a terminal `columns` wide (at least 20)."""
    return max(20, columns - _label_width(labels) - 3)  # the label, " |" and "|"


def _label_width(labels: Sequence[str]) -> int:
    return min(LABEL_MAX, max((len(label) for label in labels), default=8), LABEL_MAX)


def _label(text: str, width: int) -> str:
    text = printable(text)
    return (text if len(text) <= width else text[: width - 1] + "…").ljust(width)


def render_map(console: Console, picture: Picture, heading: str, findings: Sequence[Finding]) -> None:
    rich = not isinstance(console, PlainConsole)
    axis = picture.layout
    labels = [lane.label for lane in picture.lanes] + ["findings"]
    width = _label_width(labels)
    console.print(heading)
    console.print(
        f"[{axis.start:#x}, {axis.end:#x}) in {axis.width} columns: 1 column = "
        f"{human_size(round(axis.bytes_per_column))}; {len(axis.compressed)} "
        f"{plural(len(axis.compressed), 'stretch', 'stretches')} compressed ({'≈' if rich else '~'}, size below)"
    )
    compressed = [False] * axis.width
    for piece in axis.compressed:
        compressed[piece.x0 : piece.x1] = [True] * (piece.x1 - piece.x0)
    glyphs = _RICH if rich else _PLAIN
    gap_glyph = "≈" if rich else "~"
    for lane, cells in zip(picture.lanes, picture.cells):
        style = _STYLES.get(lane.kind)
        row = "".join(gap_glyph if c == FULL and gap else glyphs[c] for c, gap in zip(cells, compressed))
        print_segments(console, [(_label(lane.label, width) + " |", None), (row, style), ("|", None)])
    marks = [" "] * axis.width
    for mark in picture.marks:
        letter = "E" if mark.finding.severity is Severity.ERROR else "W"
        for column in range(mark.x0, mark.x1):
            if marks[column] != "E":
                marks[column] = letter
    if findings:
        row = "".join(marks)
        print_segments(console, [(_label("findings", width) + " |", None), (row, "bold red"), ("|", None)])
    axis_row = ["-"] * axis.width
    for piece in axis.compressed:
        text = short_size(piece.size).rjust(piece.x1 - piece.x0)[-(piece.x1 - piece.x0) :]
        axis_row[piece.x0 : piece.x1] = list(text)
    console.print(" " * width + " +" + "".join(axis_row) + "+")
    console.print("")
    console.print("columns    addresses".ljust(53) + " size")
    for piece in axis.pieces:
        span = f"{piece.x0 + 1}-{piece.x1}" if piece.x1 - piece.x0 > 1 else f"{piece.x0 + 1}"
        how = "  compressed" if piece.compressed else ""
        console.print(f"{span:<10} [{piece.start:#x}, {piece.end:#x})".ljust(53) + f" {human_size(piece.size)}{how}")
    _render_findings(console, picture, findings)


def _render_findings(console: Console, picture: Picture, findings: Sequence[Finding]) -> None:
    if not findings:
        return
    console.print("")
    for mark in picture.marks[:FINDINGS_LISTED]:
        f = mark.finding
        columns = f"{mark.x0 + 1}" if mark.x1 - mark.x0 == 1 else f"{mark.x0 + 1}-{mark.x1}"
        console.print(
            f"{f.severity.value:<8} {f.rule:<26} {f.range}  {plural(mark.x1 - mark.x0, 'column', 'columns')} {columns}"
        )
    left = len(picture.marks) - FINDINGS_LISTED + picture.unmarked
    notes = []
    if left > 0:
        notes.append(f"+{left} more in the view")
    if picture.outside:
        notes.append(f"{picture.outside} outside it")
    if picture.rangeless:
        notes.append(f"{picture.rangeless} about no one range")
    if notes:
        console.print("findings: " + ", ".join(notes) + " (validate lists them all)")
    errors = sum(1 for f in findings if f.severity is Severity.ERROR)
    warnings = len(findings) - errors
    console.print(
        f"{errors} {plural(errors, 'error', 'errors')}, {warnings} {plural(warnings, 'warning', 'warnings')} "
        "(validate gives the verdict)"
    )
