"""Writing files safely on a host with other users: resolving the target, locking it, replacing it.

pmpoolctl runs as root in directories other users can write (`/tmp`, a shared spool),
so every write holds to three rules:

- **Resolve once, as the kernel would let us.** A symlink on the way to the target is
  followed only where the kernel's `protected_symlinks` rule would follow it: not in a
  sticky world-writable directory unless the link belongs to that directory's owner or
  to us. An existing target there that belongs to someone else is not replaced either
  (the kernel's `protected_regular`). Reading the resolved path with a plain open would
  go around the kernel's own check, which is why the walk is ours.
- **A lock no other user can hold.** `.NAME.lock` beside the target (locking the target
  protects nothing once it is renamed over) is created 0600, owned by the target's owner,
  and opened without following links. A lock file that someone who could not have written
  the target made, or that others can open, is replaced rather than waited on.
- **Replace, never rewrite.** A temp file in the same directory (exclusive creation), fsync,
  the target's mode and owner, rename over the target, fsync the directory.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from pmpoolctl.errors import WriteError
from pmpoolctl.files.inputs import display_name

LOCK_TIMEOUT_SECONDS = 30.0
TEMP_SUFFIX = ".pmpoolctl-tmp"
MAX_SYMLINKS = 40  # the kernel's limit on links followed in one path walk (ELOOP)
_OPEN_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY


def _sticky_world_writable(st: os.stat_result) -> bool:
    return bool(st.st_mode & stat.S_ISVTX and st.st_mode & stat.S_IWOTH)


def resolve_target(path: str) -> str:
    """The file a write to `path` replaces: every symlink resolved, each one as the kernel would allow.

    A symlink's target is written and the link kept. Refuses a target that exists and is
    not a regular file (a FIFO would block a reader for ever; a device or a directory must
    never be replaced), a link the kernel's protected_symlinks rule would not follow, and
    an existing target in a sticky world-writable directory that belongs to another user.
    """
    shown = display_name(path)
    remaining = path.split("/")
    resolved = "/" if path.startswith("/") else os.getcwd()
    followed = 0
    while remaining:
        name = remaining.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            resolved = os.path.dirname(resolved)
            continue
        candidate = os.path.join(resolved, name)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:  # a new file (or a missing directory, which the write will say)
            return os.path.normpath(os.path.join(candidate, *remaining))
        except OSError as exc:
            raise WriteError(f"{shown}: cannot write: {exc.strerror}") from exc
        if stat.S_ISLNK(st.st_mode):
            followed += 1
            if followed > MAX_SYMLINKS:
                raise WriteError(f"{shown}: cannot write: too many levels of symbolic links")
            _may_follow(shown, candidate, resolved, st)
            link = os.readlink(candidate)
            if link.startswith("/"):
                resolved = "/"
            remaining[:0] = link.split("/")
            continue
        if remaining and not stat.S_ISDIR(st.st_mode):
            raise WriteError(f"{shown}: cannot write: {display_name(candidate)} is not a directory")
        resolved = candidate
    return _writable_target(shown, resolved)


def _may_follow(shown: str, link: str, directory: str, link_stat: os.stat_result) -> None:
    """protected_symlinks: in a sticky world-writable directory, follow only its owner's links or ours."""
    dir_stat = os.stat(directory)
    if _sticky_world_writable(dir_stat) and link_stat.st_uid not in (dir_stat.st_uid, os.geteuid()):
        raise WriteError(
            f"{shown}: refusing to follow the symlink {display_name(link)}: it belongs to uid {link_stat.st_uid} "
            f"in the sticky world-writable directory {display_name(directory)}, whose owner is uid "
            f"{dir_stat.st_uid} (the kernel's protected_symlinks rule)"
        )


def _writable_target(shown: str, target: str) -> str:
    st = os.lstat(target)
    if stat.S_ISDIR(st.st_mode):
        raise WriteError(f"{shown}: is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise WriteError(f"{shown}: is not a regular file; pmpoolctl replaces only regular files")
    directory = os.path.dirname(target)
    dir_stat = os.stat(directory)
    if _sticky_world_writable(dir_stat) and st.st_uid not in (dir_stat.st_uid, os.geteuid()):
        raise WriteError(
            f"{shown}: refusing to replace a file of uid {st.st_uid} in the sticky world-writable directory "
            f"{display_name(directory)} (the kernel's protected_regular rule): another user could have put it there"
        )
    return target


# --- the lock ----------------------------------------------------------------------------------------------------


def lock_path_of(target: str) -> str:
    directory, base = os.path.split(target)
    return os.path.join(directory or ".", f".{base}.lock")


@contextmanager
def locked(target: str, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the exclusive lock for writes of `target` (a path from `resolve_target`)."""
    lock_path = lock_path_of(target)
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() >= deadline:
            raise WriteError(f"{display_name(target)}: the lock file {display_name(lock_path)} keeps being replaced")
        fd = _open_lock(target, lock_path)
        try:
            _flock(fd, target, lock_path, deadline, timeout)
            if _still_at(fd, lock_path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the lock file was replaced while we waited: lock the one that is there now
    try:
        _remove_stale_temp_files(target)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _owner_of(target: str) -> int:
    """Who a lock for `target` belongs to: the target's owner, or ours for a file we are about to create."""
    try:
        return os.lstat(target).st_uid
    except OSError:
        return os.geteuid()


def _open_lock(target: str, lock_path: str) -> int:
    """The lock file's fd: ours or the target owner's, 0600; anything else is replaced first."""
    owner = _owner_of(target)
    for _ in range(10):  # a lost race with another edit creating or replacing it: look again
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS, 0o600)
        except FileExistsError:
            pass
        except OSError as exc:
            raise WriteError(
                f"{display_name(target)}: cannot create lock file {display_name(lock_path)}: {exc.strerror}"
            ) from exc
        else:
            if os.geteuid() == 0 and owner != 0:
                os.fchown(fd, owner, -1)  # the target's owner can then take the same lock
            return fd
        try:
            fd = os.open(lock_path, os.O_RDWR | _OPEN_FLAGS)
        except FileNotFoundError:
            continue
        except OSError as exc:
            # A symlink planted as the lock (ELOOP), or a lock file we may not open (EACCES: made by
            # another user, or by an older pmpoolctl) is replaced below; anything else is an error.
            if exc.errno not in (errno.ELOOP, errno.EACCES):
                raise WriteError(
                    f"{display_name(target)}: cannot open lock file {display_name(lock_path)}: {exc.strerror}"
                ) from exc
            fd = -1
        if fd >= 0:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and st.st_uid in (owner, os.geteuid(), 0) and not st.st_mode & 0o077:
                return fd
            os.close(fd)
        _replace_foreign_lock(target, lock_path)
    raise WriteError(f"{display_name(target)}: cannot settle on a lock file {display_name(lock_path)}")


def _replace_foreign_lock(target: str, lock_path: str) -> None:
    """Remove a lock file that no one who could write the target made (or that others may open)."""
    try:
        st = os.lstat(lock_path)
        os.unlink(lock_path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise WriteError(
            f"{display_name(target)}: the lock file {display_name(lock_path)} belongs to uid {st.st_uid} or others "
            f"may open it, and it cannot be removed ({exc.strerror}); remove it, then edit again"
        ) from exc


def _flock(fd: int, target: str, lock_path: str, deadline: float, timeout: float) -> None:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise WriteError(
                    f"{display_name(target)}: cannot lock {display_name(lock_path)}: {exc.strerror}"
                ) from exc
            if time.monotonic() >= deadline:
                raise WriteError(
                    f"{display_name(target)}: still locked by another edit after {timeout:.0f} s "
                    f"({display_name(lock_path)})"
                ) from exc
            time.sleep(0.01)


def _still_at(fd: int, lock_path: str) -> bool:
    """Whether the locked file is still the one the lock path names (an edit may have replaced it)."""
    try:
        st = os.lstat(lock_path)
    except OSError:
        return False
    held = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino)


def _remove_stale_temp_files(target: str) -> None:
    """Temp files of an edit of this file that was killed; safe to remove while we hold the lock.

    Only names `mkstemp` gives this file's edits (its 8 random characters between
    prefix and suffix) match: `.a.dtb.next.XXXXXXXX...` belongs to `a.dtb.next`,
    whose edit may be running under its own lock. Unlinking removes a planted symlink,
    never what it points at.
    """
    import glob  # imported by the commands that write, not by every start-up

    directory, base = os.path.split(target)
    random_part = "[a-z0-9_]" * 8
    pattern = os.path.join(glob.escape(directory or "."), f".{glob.escape(base)}.{random_part}{TEMP_SUFFIX}")
    for stale in glob.glob(pattern):
        with suppress(OSError):
            os.unlink(stale)


# --- the write ---------------------------------------------------------------------------------------------------


def write_atomic(target: str, data: bytes, before_replace: Callable[[], None] | None = None) -> None:
    """Replace `target` with `data` atomically, keeping its mode and owner. Call under `locked`.

    `before_replace` runs once the new file is complete and synced, right before the
    rename that commits it: the CLI defers signals there, so that an edit it reports
    as interrupted has not happened. On any failure before the rename (an OSError, a
    KeyboardInterrupt) the temp file is removed and `target` is as it was.
    """
    directory, base = os.path.split(target)
    directory = directory or "."
    try:
        existing: os.stat_result | None = os.lstat(target)
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise WriteError(f"{display_name(target)}: cannot write: {exc.strerror}") from exc
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        raise WriteError(f"{display_name(target)}: is not a regular file")
    import tempfile

    try:
        fd, temp_path = tempfile.mkstemp(prefix=f".{base}.", suffix=TEMP_SUFFIX, dir=directory)
    except OSError as exc:
        raise WriteError(f"{display_name(target)}: cannot write in {display_name(directory)}: {exc.strerror}") from exc
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
        if before_replace is not None:
            before_replace()
        os.replace(temp_path, target)
    except BaseException as exc:
        with suppress(OSError):
            os.unlink(temp_path)
        if isinstance(exc, OSError):
            raise WriteError(f"{display_name(target)}: cannot write: {exc.strerror or exc}") from exc
        raise
    _fsync_directory(directory)


def write_file(path: str, data: bytes) -> None:
    """Resolve, lock and atomically replace `path`: a report, written as safely as a blob."""
    target = resolve_target(path)
    with locked(target):
        write_atomic(target, data)


def append_file(path: str, data: bytes) -> None:
    """Append `data` to `path` (created if missing): an append, never a replace.

    For a file that others read as it grows ($GITHUB_STEP_SUMMARY): resolved as every
    target is (no link another user planted is followed), opened O_APPEND|O_NOFOLLOW and
    non-blocking (a FIFO put there cannot hold the run), and refused unless it is a
    regular file. Nothing is written to anything else.
    """
    target = resolve_target(path)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | _OPEN_FLAGS
    try:
        fd = os.open(target, flags, 0o666)
    except OSError as exc:
        raise WriteError(f"{display_name(path)}: cannot append: {exc.strerror or exc}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise WriteError(f"{display_name(path)}: is not a regular file")
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    except OSError as exc:
        raise WriteError(f"{display_name(path)}: cannot append: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename is done
    finally:
        os.close(fd)
