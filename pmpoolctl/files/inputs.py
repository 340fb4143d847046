"""Reading inputs: blobs, text maps and batches, standard input; how a path is shown.

Writing is `safefile`'s.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from typing import BinaryIO

from pmpoolctl.dtb.format import HEADER_OFFSET, HEADER_SIZE_V17, MAX_BLOB_SIZE, READ_VERSIONS, U32
from pmpoolctl.errors import InputError
from pmpoolctl.files.sniff import is_fdt
from pmpoolctl.text import printable

STDIN = "-"


def display_name(path: str) -> str:
    """`path` as messages and reports show it: `<stdin>` for -, and one printable line.

    A name that is not UTF-8 (its bytes arrive as surrogates) shows its bytes as \\xNN;
    control characters are escaped too, so a name can neither split an `error:` line
    nor reach a terminal raw.
    """
    if path == STDIN:
        return "<stdin>"
    if path == "":  # `--memmap=`: an error line must still show that a (empty) name was given
        return "''"
    try:
        text = os.fsencode(path).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte (from a script, not argv)
        text = path
    return printable(text)


def stat_of_input(path: str) -> os.stat_result | None:
    """What reading `path` would read (a link followed), or None when that is no file that could be written.

    For `-`, the file standard input was redirected from (`< next.dtb`): a write to that name
    destroys the input as surely as a write to its path. A pipe or a terminal is no such file.
    """
    if path != STDIN:
        try:
            return os.stat(path)
        except (OSError, ValueError):  # missing, unreadable, or a name no file can have
            return None
    try:
        found = os.fstat(sys.stdin.fileno()) if sys.stdin is not None else None
    except (OSError, ValueError, AttributeError):  # closed, or not a real descriptor (a test's stdin)
        return None
    return found if found is not None and stat.S_ISREG(found.st_mode) else None


def standard_input() -> BinaryIO:
    """Standard input's bytes; an InputError when the process was started with it closed."""
    if sys.stdin is None:
        raise InputError("<stdin>: standard input is closed (nothing to read for -)")
    return sys.stdin.buffer


def open_input(path: str, shown: str | None = None, *, dir_fd: int | None = None) -> BinaryIO:
    """`path` opened for reading, refused unless it is a regular file.

    A FIFO would block the read for ever (holding a lock, if one is taken), and a
    device or socket is never a blob, map or batch; the file is opened without
    blocking and checked by its descriptor, so what is read is what was checked.
    /proc and /sys files are regular files. With `dir_fd`, `path` is a name in that
    open directory and a symlink there is not followed (an edit reads the file it
    resolved and locked: `safewrite.Target`).
    """
    shown = display_name(path) if shown is None else shown

    def opener(name: str, flags: int) -> int:
        if dir_fd is None:
            return _open_nonblocking(name, flags)
        return os.open(name, _NONBLOCKING_READ | os.O_NOFOLLOW, dir_fd=dir_fd)

    try:
        # The file object owns the descriptor from the moment it exists (open's opener runs inside
        # it): a Ctrl-C at any point cannot make two owners close one descriptor twice.
        stream = open(path, "rb", opener=opener)  # noqa: SIM115 - returned to the caller
    except IsADirectoryError as exc:  # refused by open itself once the opener returned
        raise InputError(f"{shown}: is a directory, not a file to read") from exc
    except OSError as exc:
        raise InputError(f"{shown}: cannot read: {exc.strerror or exc}") from exc
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"{shown}: is a directory, not a file to read")
        if not stat.S_ISREG(mode):
            raise InputError(f"{shown}: is not a regular file ({_kind(mode)}); only regular files are read")
        os.set_blocking(fd, True)
        return stream
    except BaseException:
        stream.close()
        raise


_NONBLOCKING_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


def _open_nonblocking(path: str, flags: int) -> int:
    """Opened without blocking (a FIFO would wait for a writer) and checked by its descriptor before it is read."""
    return os.open(path, _NONBLOCKING_READ)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO, which would block"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"


def read_blob_bytes(path: str, shown: str | None = None, *, dir_fd: int | None = None) -> bytes:
    """A blob's bytes: the header's totalsize of them when the header says so.

    Only totalsize bytes are read, so a dump buffer behind the blob (or a huge
    file) costs nothing; the reader checks the rest. `shown` names the file in
    errors when it is not `path` (an edit reads a symlink's resolved target);
    `dir_fd` as for `open_input`.
    """
    shown = display_name(path) if shown is None else shown
    try:
        if path == STDIN and dir_fd is None:
            return _read_fdt_prefix(standard_input())
        with open_input(path, shown, dir_fd=dir_fd) as stream:
            return _read_fdt_prefix(stream)
    except OSError as exc:
        raise InputError(f"{shown}: cannot read: {exc.strerror or exc}") from exc


_CHUNK = 1 << 20


def _read_fdt_prefix(stream: BinaryIO) -> bytes:
    """The header, then at most the totalsize it claims, read as it arrives.

    A stream (a pipe) is read a chunk at a time, so a header that claims 4 GiB costs
    the bytes that really come, not an allocation of what it claims; a claim past the
    1 GiB limit is not read at all (the reader refuses it from the header).
    """
    read = stream.read
    head = read(HEADER_SIZE_V17)
    if len(head) < HEADER_SIZE_V17 or not is_fdt(head):
        return head + read(64)  # enough for the reader to say what is wrong
    claimed = U32.unpack_from(head, HEADER_OFFSET["totalsize"])[0]
    version = U32.unpack_from(head, HEADER_OFFSET["version"])[0]
    if claimed > MAX_BLOB_SIZE or version not in READ_VERSIONS:
        return head  # the reader refuses the header as it is: the body is not worth reading
    wanted = max(claimed, HEADER_SIZE_V17)
    if stream.seekable():  # one read into one buffer: `head + rest` would copy a 16 MB blob again
        stream.seek(-len(head), os.SEEK_CUR)
        return read(wanted)
    data = bytearray(head)
    while len(data) < wanted:
        chunk = read(min(_CHUNK, wanted - len(data)))
        if not chunk:
            break
        data += chunk
    return bytes(data)


MAX_TEXT_BYTES = 256 << 20  # a million-line map or batch is ~60 MB


def read_input(path: str, limit: int | None = None) -> bytes:
    """The bytes of `path` (- for stdin), refusing more than `limit` (MAX_TEXT_BYTES) of them."""
    limit = MAX_TEXT_BYTES if limit is None else limit
    try:
        if path == STDIN:
            raw = standard_input().read(limit + 1)
        else:
            with open_input(path) as stream:
                raw = stream.read(limit + 1)
    except OSError as exc:
        raise InputError(f"{display_name(path)}: cannot read: {exc.strerror or exc}") from exc
    if len(raw) > limit:
        raise too_large(display_name(path), limit)
    return raw


def too_large(name: str, limit: int) -> InputError:
    """The error for input `name` past `limit` bytes."""
    size = f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit}-byte"
    return InputError(f"{name}: larger than the {size} limit")


def decode_text(raw: bytes, name: str) -> str:
    """UTF-8 text, or an InputError naming the offset of the first byte that is not."""
    if b"\0" in raw:
        raise InputError(f"{name}: binary data, not text (NUL at byte offset {raw.index(0):#x})")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text (at byte offset {exc.start:#x})") from exc


def numbered_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of `text`, without splitting a million-line file into a list first."""
    start, lineno = 0, 1
    while start <= len(text):
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        yield lineno, text[start:end]
        start, lineno = end + 1, lineno + 1
