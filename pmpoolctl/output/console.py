"""Where human output goes: rich on a terminal, plain lines everywhere else.

A terminal gets rich's console (colour unless NO_COLOR or --no-color, its own
width). A pipe or a file gets exactly the text, and the command never imports
rich, which would be most of a small command's start-up time.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any, Protocol, cast


class Console(Protocol):
    """What the renderers use: `print` for lines (with an optional rich style) and `file` for bulk text."""

    @property
    def file(self) -> IO[str]: ...

    def print(self, *objects: Any, style: str | None = None) -> None: ...


class PlainConsole:
    """Lines as they are: no markup, no wrapping, no colour."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file

    @property
    def file(self) -> IO[str]:
        return self._file

    def print(self, *objects: Any, style: str | None = None) -> None:
        self._file.write(" ".join(str(o) for o in objects) + "\n")


def make_console(*, stderr: bool = False, no_color: bool = False, file: IO[str] | None = None) -> Console:
    """The console for `file` (default stdout, or stderr): rich on a terminal, plain otherwise.

    rich gets markup and highlighting off (memory-map text has brackets) and
    honours NO_COLOR itself.
    """
    stream = file if file is not None else sys.stderr if stderr else sys.stdout
    if not stream.isatty():
        return PlainConsole(stream)
    from rich.console import Console as RichConsole

    return RichConsole(file=stream, markup=False, highlight=False, no_color=no_color or None, soft_wrap=True)


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
