"""Reading inputs and writing files safely.

A write takes an exclusive lock on a sidecar file that outlives the rename
(`.NAME.lock` beside the target; locking the target itself protects nothing, as
the next writer opens the renamed file), writes a temp file in the same
directory, fsyncs it, gives it the target's mode and owner, renames it over the
target and fsyncs the directory. A crash leaves the old file or the new one.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import BinaryIO

from pmpoolctl.errors import InputError, WriteError
from pmpoolctl.fdtformat import FDT_MAGIC, MAX_BLOB_SIZE, U32

STDIN = "-"
LOCK_TIMEOUT_SECONDS = 30.0
_TEMP_SUFFIX = ".pmpoolctl-tmp"


def display_name(path: str) -> str:
    return "<stdin>" if path == STDIN else path


def read_blob_bytes(path: str) -> bytes:
    """A blob's bytes: the header's totalsize of them when the header says so.

    Only totalsize bytes are read, so a dump buffer behind the blob (or a huge
    file) costs nothing; the reader checks the rest.
    """
    try:
        if path == STDIN:
            return _read_fdt_prefix(sys.stdin.buffer)
        if os.path.isdir(path):
            raise InputError(f"{path}: is a directory, not a blob")
        with open(path, "rb") as stream:
            return _read_fdt_prefix(stream)
    except OSError as exc:
        raise InputError(f"{display_name(path)}: cannot read: {exc.strerror or exc}") from exc


def _read_fdt_prefix(stream: BinaryIO) -> bytes:
    read = stream.read
    head = read(8)
    if len(head) == 8 and U32.unpack_from(head, 0)[0] == FDT_MAGIC:
        wanted = min(U32.unpack_from(head, 4)[0], MAX_BLOB_SIZE + 1)
        if stream.seekable():  # one read into one buffer: `head + rest` would copy a 16 MB blob again
            stream.seek(-8, os.SEEK_CUR)
            return read(max(wanted, 40))
        return head + read(max(wanted - 8, 32))
    return head + read(64)  # enough for the reader to say what is wrong


MAX_TEXT_BYTES = 256 << 20  # a million-line map or batch is ~60 MB


def read_input(path: str, limit: int | None = None) -> bytes:
    """The bytes of `path` (- for stdin), refusing more than `limit` (MAX_TEXT_BYTES) of them."""
    limit = MAX_TEXT_BYTES if limit is None else limit
    try:
        if path == STDIN:
            raw = sys.stdin.buffer.read(limit + 1)
        else:
            with open(path, "rb") as stream:
                raw = stream.read(limit + 1)
    except OSError as exc:
        raise InputError(f"{display_name(path)}: cannot read: {exc.strerror or exc}") from exc
    if len(raw) > limit:
        size = f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit}-byte"
        raise InputError(f"{display_name(path)}: larger than the {size} limit")
    return raw


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


@contextmanager
def locked(target: str, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold an exclusive lock for edits of `target` (a resolved path)."""
    directory, base = os.path.split(target)
    lock_path = os.path.join(directory or ".", f".{base}.lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise WriteError(f"{target}: cannot create lock file {lock_path}: {exc.strerror}") from exc
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise WriteError(f"{target}: cannot lock {lock_path}: {exc.strerror}") from exc
                if time.monotonic() >= deadline:
                    raise WriteError(
                        f"{target}: still locked by another edit after {timeout:.0f} s ({lock_path})"
                    ) from exc
                time.sleep(0.01)
        _remove_stale_temp_files(directory or ".", base)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _remove_stale_temp_files(directory: str, base: str) -> None:
    """Temp files of an edit of this file that was killed; safe to remove while we hold the lock.

    Only names `mkstemp` gives this file's edits (its 8 random characters between
    prefix and suffix) match: `.a.dtb.next.XXXXXXXX...` belongs to `a.dtb.next`,
    whose edit may be running under its own lock.
    """
    import glob  # imported by the commands that write, not by every start-up

    random_part = "[a-z0-9_]" * 8
    pattern = os.path.join(glob.escape(directory), f".{glob.escape(base)}.{random_part}{_TEMP_SUFFIX}")
    for stale in glob.glob(pattern):
        with suppress(OSError):
            os.unlink(stale)


def resolve_target(path: str) -> str:
    """The file an edit of `path` writes: a symlink's target, so the link survives.

    Refuses a target that exists and is not a regular file: reading a FIFO would
    block for ever, and a device or directory must never be replaced.
    """
    target = os.path.realpath(path)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise WriteError(f"{path}: cannot write: {exc.strerror}") from exc
    if stat.S_ISDIR(mode):
        raise WriteError(f"{path}: is a directory, not a blob")
    if not stat.S_ISREG(mode):
        raise WriteError(f"{path}: is not a regular file; edits write only regular files")
    return target


def write_atomic(target: str, data: bytes) -> None:
    """Replace `target` with `data` atomically, keeping its mode and owner. Call under `locked`."""
    directory, base = os.path.split(target)
    directory = directory or "."
    try:
        existing: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise WriteError(f"{target}: cannot write: {exc.strerror}") from exc
    if existing is not None and not os.path.isfile(target):
        raise WriteError(f"{target}: is not a regular file")
    import tempfile

    try:
        fd, temp_path = tempfile.mkstemp(prefix=f".{base}.", suffix=_TEMP_SUFFIX, dir=directory)
    except OSError as exc:
        raise WriteError(f"{target}: cannot write in {directory}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            if existing is not None:
                # Owner first: chown clears setuid/setgid, so the mode must come after it.
                if (existing.st_uid, existing.st_gid) != (os.getuid(), os.getgid()):
                    with suppress(PermissionError):  # not root: the file becomes ours, as with any editor
                        os.fchown(stream.fileno(), existing.st_uid, existing.st_gid)
                os.fchmod(stream.fileno(), existing.st_mode & 0o7777)
            else:
                os.fchmod(stream.fileno(), 0o666 & ~_umask())
            os.fsync(stream.fileno())
        os.replace(temp_path, target)
    except OSError as exc:
        with suppress(OSError):
            os.unlink(temp_path)
        raise WriteError(f"{target}: cannot write: {exc.strerror or exc}") from exc
    _fsync_directory(directory)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename is done
    finally:
        os.close(fd)
