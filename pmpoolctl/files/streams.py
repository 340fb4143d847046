"""The process's standard streams, made safe before anything is opened or printed.

Run once by the command's entry point (never by a library import):

- fds 0, 1 and 2 are always open. A closed one is reopened on /dev/null, so that no
  file pmpoolctl opens (a lock, a temp file, a blob) can become fd 1 or 2 and take
  in output or error lines. Python leaves `sys.stdin` None for a closed stdin, and
  reading `-` then says so (files.standard_input).
- A write to stdout that fails (a closed pipe, a full disk, a closed stdout) raises
  `OutputError`, so the CLI can tell a lost report from every other failure and keep
  the verdict (cli.md: the exit code is the verdict). After the first failure the
  rest of the output is dropped, so the interpreter's own flush at exit cannot fail.
- Text that the stream's encoding cannot hold (a file name that is not UTF-8) is
  escaped, never an exception.
"""

from __future__ import annotations

import errno
import io
import os
import select
import sys

from pmpoolctl.errors import OutputError


class _GuardedStdout(io.RawIOBase):
    """fd 1 as a raw stream whose failed writes raise OutputError once, then drop what follows."""

    def __init__(self, fd: int, *, closed: bool) -> None:
        super().__init__()
        self._fd = fd
        self._closed_at_start = closed
        self._failed = False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return not self._closed_at_start and os.isatty(self._fd)

    def write(self, data: object) -> int:
        view = memoryview(data)  # type: ignore[arg-type]  # io hands us a bytes-like object
        if self._failed:
            return view.nbytes
        try:
            if self._closed_at_start:
                raise OSError(errno.EBADF, "standard output is closed")
            while True:
                try:
                    return os.write(self._fd, view)
                except BlockingIOError:  # a parent left the pipe non-blocking: wait until it drains
                    select.select([], [self._fd], [])
        except OSError as exc:
            self._failed = True
            raise OutputError(exc.errno or errno.EIO, exc.strerror or str(exc)) from exc


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _occupy(fd: int, flags: int) -> None:
    """Put /dev/null on a closed fd, so that the next file opened does not get it."""
    null = os.open(os.devnull, flags)
    if null != fd:
        os.dup2(null, fd)
        os.close(null)


def prepare_standard_streams() -> None:
    """Make fds 0-2 safe and stdout's failures visible (see the module's docstring)."""
    stdout_closed = not _is_open(1)
    for fd, flags in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
        if not _is_open(fd):
            _occupy(fd, flags)
    previous = sys.stdout
    encoding = getattr(previous, "encoding", None) or "utf-8"
    if previous is not None:
        previous.flush()
    raw = _GuardedStdout(1, closed=stdout_closed)
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(raw, buffer_size=1 << 16),
        encoding=encoding,
        errors="backslashreplace",
        line_buffering=raw.isatty(),
    )
    if sys.stderr is None:  # closed: errors go nowhere, but writing them must not fail
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    else:
        sys.stderr.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
