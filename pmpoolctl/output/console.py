"""Where human output goes: rich on a terminal, plain lines everywhere else.

A terminal gets rich's console (colour unless NO_COLOR or --no-color, its own
width). A pipe or a file gets exactly the text, and the command never imports
rich, which would be most of a small command's start-up time.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any, Protocol, cast


class Console(Protocol):
    """What the renderers use: `print` for lines (with an optional rich style), `file` for bulk text,
    and `ascii`: tables drawn in ASCII whatever the stream can encode (--ascii)."""

    @property
    def file(self) -> IO[str]: ...

    ascii: bool

    def print(self, *objects: Any, style: str | None = None) -> None: ...


class PlainConsole:
    """Lines as they are: no markup, no wrapping, no colour."""

    def __init__(self, file: IO[str], ascii: bool = False) -> None:
        self._file = file
        self.ascii = ascii

    @property
    def file(self) -> IO[str]:
        return self._file

    def print(self, *objects: Any, style: str | None = None) -> None:
        self._file.write(" ".join(str(o) for o in objects) + "\n")


def make_console(
    *, stderr: bool = False, no_color: bool = False, file: IO[str] | None = None, ascii: bool = False
) -> Console:
    """The console for `file` (default stdout, or stderr): rich on a terminal, plain otherwise.

    rich gets markup and highlighting off (memory-map text has brackets) and
    honours NO_COLOR itself. `ascii` is --ascii, for the tables written to its file.
    """
    stream = file if file is not None else sys.stderr if stderr else sys.stdout
    if not stream.isatty():
        return PlainConsole(stream, ascii)
    from rich.console import Console as RichConsole

    console = RichConsole(file=stream, markup=False, highlight=False, no_color=no_color or None, soft_wrap=True)
    console.ascii = ascii  # type: ignore[attr-defined]  # the one attribute the Console protocol adds to rich's
    return cast(Console, console)


def print_segments(console: Console, segments: Sequence[tuple[str, str | None]]) -> None:
    """One line of (text, style) pieces: styled by rich on a terminal, the text alone elsewhere."""
    if isinstance(console, PlainConsole):
        console.file.write("".join(text for text, _ in segments) + "\n")
        return
    from rich.text import Text

    line = Text()
    for text, style in segments:
        line.append(text, style=style or "")
    console.print(line)


def output_width(stream: IO[str]) -> int | None:
    """The width tables fit: COLUMNS when set, else a terminal's own; None (no limit) for a pipe or file."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):  # a stream without a descriptor (a test's)
        pass
    return None


def ascii_only(console: Console) -> bool:
    """Whether to draw in ASCII: --ascii, or a stream whose encoding cannot hold the box-drawing rule."""
    if console.ascii:
        return True
    stream = console.file
    try:
        "─…".encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return True
    return False


CHUNK_LINES = 1 << 16  # lines joined into one write


def write_lines(console: Console, lines: Iterable[str]) -> None:
    """Lines that end in newlines, straight to the console's file in chunks (a print each takes minutes at 10M)."""
    lines = iter(lines)
    while chunk := "".join(itertools.islice(lines, CHUNK_LINES)):
        console.file.write(chunk)


Advance = Callable[[int], None]
PROGRESS_MIN_ITEMS = 100_000  # below this, work is over before a bar would be read


@contextmanager
def progress(console: Console, description: str, total: int) -> Iterator[Advance]:
    """A rich progress bar for long work on a terminal; yields the function that advances it.

    On a pipe or a file (a PlainConsole, which `--json` output always is), and for
    work of fewer than PROGRESS_MIN_ITEMS items, there is no bar and advancing does
    nothing. The bar is transient: it is gone when the work is done.
    """
    if isinstance(console, PlainConsole) or total < PROGRESS_MIN_ITEMS:
        yield _no_progress
        return
    from rich.console import Console as RichConsole
    from rich.progress import Progress

    with Progress(console=cast(RichConsole, console), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.advance(task, done)


def _no_progress(done: int) -> None:
    pass
