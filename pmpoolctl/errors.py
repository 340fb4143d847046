"""The project's exceptions: one base class, a subclass per kind of failure.

Library code raises these and never prints or exits; the CLI maps them to exit
codes in one place (`cli.main`). Every message is one line that says what is
wrong, where (file, byte offset, line, range) and, where it helps, what was
expected.
"""

from __future__ import annotations


class PmpoolError(Exception):
    """Base class of every error pmpoolctl reports to a user."""

    exit_code = 3


class InputError(PmpoolError):
    """Unreadable, corrupt or unusable input (exit 3)."""


class BlobError(InputError):
    """A blob that breaks the FDT format; names the field and the byte offset."""

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        self.offset = offset
        where = f" (at byte offset {offset:#x})" if offset is not None else ""
        super().__init__(f"{message}{where}")


class BindingError(InputError):
    """A pool node that breaks the pmpool-v1 binding."""


class EditError(InputError):
    """An edit that cannot be applied (overlap, missing pages, misalignment)."""


class WriteError(InputError):
    """A file that cannot be written or locked."""


class PoolNameError(PmpoolError, ValueError):
    """A pool name that no pool node can have (`--pool`, `pool=`): a usage error (exit 2), and a
    ValueError to a script, as a bad argument is."""

    exit_code = 2


class OutputError(OSError):
    """A write to standard output failed: a closed pipe (EPIPE), a full disk, a closed stdout.

    An OSError, so that the io stack passes it on unchanged; the CLI keeps the run's
    verdict when only its report was lost (cli.md: the exit code is the verdict).
    """


class NumberError(ValueError):
    """A number argument that is not a valid 64-bit memparse value.

    A ValueError rather than a PmpoolError: callers turn it into a usage error
    (exit 2) for arguments or an InputError (exit 3) for file contents.
    """
