"""Writing files safely on a host with other users: resolving the target, locking it, replacing it.

pmpoolctl runs as root in directories other users can write (`/tmp`, a shared spool),
so every write holds to three rules:

- **Resolve once, as the kernel would let us, and keep what was resolved.** A symlink on
  the way to the target is followed only where the kernel's `protected_symlinks` rule
  would follow it: not in a sticky world-writable directory unless the link belongs to
  that directory's owner or to us. An existing target there that belongs to someone else
  is not replaced either (the kernel's `protected_regular`). The walk opens each directory
  it checks (`O_PATH|O_DIRECTORY|O_NOFOLLOW`, verified by `fstat` against what it checked)
  and ends holding the target's directory open: the lock, the read of the old file, the
  temp file, the fsyncs and the rename are all relative to that descriptor (`*at` calls),
  so a directory swapped for a link once it was checked moves nothing.
- **A lock no other user can hold.** `.NAME.lock` beside the target (locking the target
  protects nothing once it is renamed over) is created 0600, owned by the target's owner,
  and opened without following links. Anything else at that name (another user's file,
  one that others can open, a symlink, a FIFO, a socket, a directory) is replaced rather
  than waited on, where we may replace it (root may; see `_replace_lock`).
- **Replace, never rewrite.** A temp file in the same directory (exclusive creation), fsync,
  the target's mode and owner, rename over the target, fsync the directory.

Linux is what the tool runs on: `O_PATH` is Linux's. Elsewhere (a POSIX system without it)
the directories are opened `O_RDONLY`, which needs read permission where Linux needs only
search permission; everything else is POSIX (`openat`, `renameat`, `fstatat`, `readlinkat`).
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import TracebackType

from pmpoolctl.errors import WriteError
from pmpoolctl.files.inputs import display_name

LOCK_TIMEOUT_SECONDS = 30.0
TEMP_SUFFIX = ".pmpoolctl-tmp"
ASIDE_SUFFIX = ".pmpoolctl-old"  # a directory planted as the lock, moved aside (as long as TEMP_SUFFIX)
MAX_SYMLINKS = 40  # the kernel's limit on links followed in one path walk (ELOOP)
NAME_MAX = 255  # bytes in one file name (include/uapi/linux/limits.h), the limit of every common Linux filesystem
_RANDOM_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"  # tempfile's alphabet: stale temp files match it
_OPEN_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
# A directory held for its *at calls. O_PATH (Linux) needs no read permission and opens nothing
# but the reference; O_NOFOLLOW with O_DIRECTORY refuses a symlink put in its place.
_DIRECTORY_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Target:
    """A file to write, held by its directory: `name` in the open directory `directory`.

    What `resolve_target` checked is what every later step uses: the descriptor is the
    directory the walk verified, whatever the path names by then. Close it (or use it as
    a context manager) when the write is done.
    """

    def __init__(self, directory: int, name: str, path: str, *, through_link: bool = False) -> None:
        self.directory = directory  # the descriptor of the directory the walk checked
        self.name = name  # the file's name in it: never a symlink once resolved
        self.path = path  # the resolved path, for messages and for callers to report
        self.through_link = through_link  # the path's last name was a symlink (then followed): it names something
        stem = _stem(name)
        self.lock_name = f".{stem}.lock"
        self.temp_prefix = f".{stem}."  # temp file names: prefix, 8 random characters, TEMP_SUFFIX

    def lstat(self) -> os.stat_result | None:
        """The file as it is now (not following a link), or None when there is none."""
        try:
            return os.stat(self.name, dir_fd=self.directory, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise WriteError(f"{display_name(self.path)}: cannot write: {exc.strerror}") from exc

    def close(self) -> None:
        if self.directory >= 0:
            os.close(self.directory)
            self.directory = -1

    def __enter__(self) -> Target:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Target({self.path!r})"


def _stem(name: str) -> str:
    """What lock and temp file names are made of: `name`, or for a long one a prefix and a hash of it.

    A temp file's name is `.STEM.XXXXXXXX.pmpoolctl-tmp`, 24 bytes more than STEM; a name
    that leaves no room for them (over 231 bytes) is cut, on a byte boundary, and told
    apart from other long names sharing its prefix by 16 hex digits of its SHA-256. Two
    names that still shared a stem would only share a lock.
    """
    raw = os.fsencode(name)
    room = NAME_MAX - len(".") - len(".") - 8 - len(TEMP_SUFFIX)
    if len(raw) <= room:
        return name
    import hashlib

    digest = hashlib.sha256(raw).hexdigest()[:16]
    return os.fsdecode(raw[: room - 1 - len(digest)]) + "~" + digest


def _sticky_world_writable(st: os.stat_result) -> bool:
    return bool(st.st_mode & stat.S_ISVTX and st.st_mode & stat.S_IWOTH)


def _open_directory(shown: str, name: str, directory: int | None = None) -> int:
    try:
        return os.open(name, _DIRECTORY_FLAGS, dir_fd=directory)
    except OSError as exc:
        raise WriteError(f"{shown}: cannot write: {display_name(name)}: {exc.strerror}") from exc


def resolve_target(path: str) -> Target:
    """The file a write to `path` replaces, every symlink resolved, each one as the kernel would allow.

    A symlink's target is written and the link kept. Refuses a target that exists and is
    not a regular file (a FIFO would block a reader for ever; a device or a directory must
    never be replaced), a name ending in `/` (it names a directory, as the kernel's
    open(O_CREAT) would say with EISDIR), a link the kernel's protected_symlinks rule
    would not follow, and an existing target in a sticky world-writable directory that
    belongs to another user (fs/namei.c, may_follow_link and may_create_in_sticky).
    """
    shown = display_name(path)
    remaining = path.split("/")
    directory = _open_directory(shown, "/" if path.startswith("/") else ".")
    resolved = "/" if path.startswith("/") else os.getcwd()
    try:
        target = _walk(shown, remaining, directory, resolved)
    except BaseException:
        os.close(directory)
        raise
    if target.directory != directory:
        os.close(directory)
    return target


def _walk(shown: str, remaining: list[str], start: int, resolved: str) -> Target:
    """Walk `remaining` from the open directory `start` (the path `resolved`); the directories opened are closed."""
    directory, followed, through_link = start, 0, False

    def enter(opened: int, path: str) -> None:
        nonlocal directory, resolved
        if directory != start:
            os.close(directory)
        directory, resolved = opened, path

    try:
        while remaining:
            name = remaining.pop(0)
            if name in ("", "."):
                continue
            if name == "..":
                enter(_open_directory(shown, "..", directory), os.path.dirname(resolved))
                continue
            candidate = os.path.join(resolved, name)
            last = all(part in ("", ".") for part in remaining)
            if last and remaining:  # x.dtb/: a directory's name, which no file can have
                raise WriteError(f"{shown}: ends in '/', so it names a directory, not a file")
            st = _lstat_at(shown, directory, name)
            if st is None:  # a new file; a missing directory on the way is said now
                if not last:
                    raise WriteError(f"{shown}: cannot write: {display_name(candidate)}: {os.strerror(errno.ENOENT)}")
                return Target(directory, name, candidate, through_link=through_link)
            if stat.S_ISLNK(st.st_mode):
                through_link = through_link or last  # a link named by the path itself, not one on the way
                followed += 1
                if followed > MAX_SYMLINKS:
                    raise WriteError(f"{shown}: cannot write: too many levels of symbolic links")
                _may_follow(shown, candidate, resolved, os.fstat(directory), st)
                link = _readlink_at(shown, directory, name, candidate, st)
                if link.startswith("/"):
                    enter(_open_directory(shown, "/"), "/")
                remaining[:0] = link.split("/")
                continue
            if last:
                _check_replaceable(shown, resolved, os.fstat(directory), st)
                return Target(directory, name, candidate, through_link=through_link)
            if not stat.S_ISDIR(st.st_mode):
                raise WriteError(f"{shown}: cannot write: {display_name(candidate)} is not a directory")
            enter(_enter_checked(shown, directory, name, candidate, st), candidate)
        raise WriteError(f"{shown}: is a directory, not a file")
    except BaseException:
        if directory != start:
            os.close(directory)
        raise


def _lstat_at(shown: str, directory: int, name: str) -> os.stat_result | None:
    """`name` in `directory` as it is (a link not followed), or None when there is none."""
    try:
        return os.stat(name, dir_fd=directory, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WriteError(f"{shown}: cannot write: {exc.strerror}") from exc


def _same_inode(one: os.stat_result, other: os.stat_result) -> bool:
    return (one.st_dev, one.st_ino) == (other.st_dev, other.st_ino)


def _changed(shown: str, path: str) -> WriteError:
    return WriteError(f"{shown}: cannot write: {display_name(path)} changed while it was being resolved; try again")


def _enter_checked(shown: str, directory: int, name: str, path: str, checked: os.stat_result) -> int:
    """The directory `name` opened, if it is still the one `checked` saw (not a link or another directory put there)."""
    try:
        opened = os.open(name, _DIRECTORY_FLAGS, dir_fd=directory)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):  # replaced since it was checked
            raise _changed(shown, path) from exc
        raise WriteError(f"{shown}: cannot write: {display_name(path)}: {exc.strerror}") from exc
    if not _same_inode(os.fstat(opened), checked):
        os.close(opened)
        raise _changed(shown, path)
    return opened


def _readlink_at(shown: str, directory: int, name: str, path: str, checked: os.stat_result) -> str:
    """The text of the link `name`, if it is still the link whose owner was checked."""
    try:
        link = os.readlink(name, dir_fd=directory)
        now = os.stat(name, dir_fd=directory, follow_symlinks=False)
    except OSError as exc:
        raise _changed(shown, path) from exc
    if not _same_inode(now, checked):
        raise _changed(shown, path)
    return link


def _may_follow(shown: str, link: str, directory: str, dir_stat: os.stat_result, link_stat: os.stat_result) -> None:
    """protected_symlinks: in a sticky world-writable directory, follow only its owner's links or ours."""
    if _sticky_world_writable(dir_stat) and link_stat.st_uid not in (dir_stat.st_uid, os.geteuid()):
        raise WriteError(
            f"{shown}: refusing to follow the symlink {display_name(link)}: it belongs to uid {link_stat.st_uid} "
            f"in the sticky world-writable directory {display_name(directory)}, whose owner is uid "
            f"{dir_stat.st_uid} (the kernel's protected_symlinks rule)"
        )


def _check_replaceable(shown: str, directory: str, dir_stat: os.stat_result, st: os.stat_result) -> None:
    """A regular file, and not another user's in a sticky world-writable directory (protected_regular)."""
    if stat.S_ISDIR(st.st_mode):
        raise WriteError(f"{shown}: is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise WriteError(f"{shown}: is not a regular file; pmpoolctl replaces only regular files")
    if _sticky_world_writable(dir_stat) and st.st_uid not in (dir_stat.st_uid, os.geteuid()):
        raise WriteError(
            f"{shown}: refusing to replace a file of uid {st.st_uid} in the sticky world-writable directory "
            f"{display_name(directory)} (the kernel's protected_regular rule): another user could have put it there"
        )


def _random_name(target: Target, suffix: str) -> str:
    import secrets

    return target.temp_prefix + "".join(secrets.choice(_RANDOM_CHARS) for _ in range(8)) + suffix


# --- the lock ----------------------------------------------------------------------------------------------------


def lock_path_of(target: Target) -> str:
    """The lock file's path, for messages."""
    return os.path.join(os.path.dirname(target.path), target.lock_name)


@contextmanager
def locked(target: Target, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the exclusive lock for writes of `target` (from `resolve_target`)."""
    lock_path = lock_path_of(target)
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() >= deadline:
            shown = display_name(target.path)
            raise WriteError(f"{shown}: the lock file {display_name(lock_path)} keeps being replaced")
        fd = _open_lock(target, lock_path, deadline)
        try:
            _flock(fd, target, lock_path, deadline, timeout)
            if _still_at(fd, target):
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


def _owner_of(target: Target) -> int:
    """Who a lock for `target` belongs to: the target's owner, or ours for a file we are about to create."""
    try:
        existing = target.lstat()
    except WriteError:
        existing = None
    return os.geteuid() if existing is None else existing.st_uid


def _usable_lock(st: os.stat_result, owner: int) -> bool:
    """A lock file someone who may write the target made, and no one else may open."""
    return stat.S_ISREG(st.st_mode) and st.st_uid in (owner, os.geteuid(), 0) and not st.st_mode & 0o077


def _open_lock(target: Target, lock_path: str, deadline: float) -> int:
    """The lock file's fd: ours or the target owner's, 0600; anything else there is replaced first.

    Retried until `deadline` while another edit (or another user) creates, replaces or
    removes it under us: each lost race is one more look, never an error.
    """
    owner = _owner_of(target)
    shown = display_name(target.path)
    while time.monotonic() < deadline:
        fd = _create_lock(target, lock_path, target.lock_name, owner)
        if fd is not None:
            return fd
        try:
            st = os.stat(target.lock_name, dir_fd=target.directory, follow_symlinks=False)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise WriteError(f"{shown}: cannot open lock file {display_name(lock_path)}: {exc.strerror}") from exc
        if _usable_lock(st, owner):
            fd = _open_existing_lock(target, lock_path, st, owner)
            if fd is not None:
                return fd
            now = _lstat_at(shown, target.directory, target.lock_name)
            if now is None or not _same_inode(now, st) or not _usable_lock(now, owner):
                continue  # it changed under us: look again
            # Still the same lock file, and we may not open it (root's, and we are not root): replaced below.
        fd = _replace_lock(target, lock_path, st, owner)
        if fd is not None:
            return fd
    raise WriteError(f"{shown}: cannot settle on a lock file {display_name(lock_path)}: it keeps being replaced")


def _create_lock(target: Target, lock_path: str, name: str, owner: int) -> int | None:
    """A new lock file `name` (0600, the target owner's), or None when something is there already."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS
    try:
        fd = os.open(name, flags, 0o600, dir_fd=target.directory)
    except FileExistsError:
        return None
    except OSError as exc:
        raise WriteError(
            f"{display_name(target.path)}: cannot create lock file {display_name(lock_path)}: {exc.strerror}"
        ) from exc
    if os.geteuid() == 0 and owner != 0:
        os.fchown(fd, owner, -1)  # the target's owner can then take the same lock
    return fd


def _open_existing_lock(target: Target, lock_path: str, checked: os.stat_result, owner: int) -> int | None:
    """The lock file `checked` saw, opened; None when it cannot be (we may not open it) or is no longer it."""
    try:
        fd = os.open(target.lock_name, os.O_RDWR | os.O_NONBLOCK | _OPEN_FLAGS, dir_fd=target.directory)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        return None  # gone, or one we may not open (EACCES: root's lock, and we are not root): replaced
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO):  # a symlink or a socket put there since it was checked
            return None
        raise WriteError(
            f"{display_name(target.path)}: cannot open lock file {display_name(lock_path)}: {exc.strerror}"
        ) from exc
    st = os.fstat(fd)
    if _same_inode(st, checked) and _usable_lock(st, owner):
        return fd
    os.close(fd)
    return None


def _replace_lock(target: Target, lock_path: str, found: os.stat_result, owner: int) -> int | None:
    """Put our own lock file in the place of `found`, which is none (another user's file, a link, a socket, ...).

    A file of any kind is replaced in one rename of a new lock file over it, which
    another user cannot undo (in a sticky directory only root and the owners may). A
    directory is removed, or, when it has something in it, renamed aside (`ASIDE_SUFFIX`,
    left there: what another user put in it is not ours to delete); the caller then
    creates the lock. Only root (or whoever owns the directory) may do either in a sticky
    directory; anyone else is told what to remove.
    """
    shown = display_name(target.path)
    try:
        if stat.S_ISDIR(found.st_mode):
            _remove_directory_lock(target)
            return None
        temp_name = _random_name(target, TEMP_SUFFIX)
        fd = _create_lock(target, lock_path, temp_name, owner)
        if fd is None:
            return None  # that name is taken (a one in 37^8 chance): another look
        try:
            os.rename(temp_name, target.lock_name, src_dir_fd=target.directory, dst_dir_fd=target.directory)
        except BaseException:
            os.close(fd)
            with suppress(OSError):
                os.unlink(temp_name, dir_fd=target.directory)
            raise
        return fd
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None  # it went or changed kind under us: another look
    except OSError as exc:
        raise WriteError(
            f"{shown}: the lock file {display_name(lock_path)} (uid {found.st_uid}) is not one this edit may use "
            f"and it cannot be replaced ({exc.strerror}); remove it, then edit again"
        ) from exc


def _remove_directory_lock(target: Target) -> None:
    try:
        os.rmdir(target.lock_name, dir_fd=target.directory)
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        aside = _random_name(target, ASIDE_SUFFIX)
        os.rename(target.lock_name, aside, src_dir_fd=target.directory, dst_dir_fd=target.directory)


def _flock(fd: int, target: Target, lock_path: str, deadline: float, timeout: float) -> None:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise WriteError(
                    f"{display_name(target.path)}: cannot lock {display_name(lock_path)}: {exc.strerror}"
                ) from exc
            if time.monotonic() >= deadline:
                raise WriteError(
                    f"{display_name(target.path)}: still locked by another edit after {timeout:.0f} s "
                    f"({display_name(lock_path)})"
                ) from exc
            time.sleep(0.01)


def _still_at(fd: int, target: Target) -> bool:
    """Whether the locked file is still the one the lock's name names (an edit may have replaced it)."""
    try:
        st = os.stat(target.lock_name, dir_fd=target.directory, follow_symlinks=False)
    except OSError:
        return False
    return _same_inode(st, os.fstat(fd))


def _remove_stale_temp_files(target: Target) -> None:
    """Temp files of an edit of this file that was killed; safe to remove while we hold the lock.

    Only names this file's edits give them (8 random characters between prefix and
    suffix) match: `.a.dtb.next.XXXXXXXX...` belongs to `a.dtb.next`, whose edit may be
    running under its own lock. Unlinking removes a planted symlink, never what it
    points at.
    """
    import re

    pattern = re.compile(re.escape(target.temp_prefix) + "[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX))
    try:
        listing = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=target.directory)
    except OSError:
        return  # a directory we may not list: nothing of ours can be in it
    try:
        names = os.listdir(listing)
    except OSError:
        return
    finally:
        os.close(listing)
    for stale in names:
        if pattern.fullmatch(stale):
            with suppress(OSError):
                os.unlink(stale, dir_fd=target.directory)


# --- the write ---------------------------------------------------------------------------------------------------


def write_atomic(
    target: Target,
    data: bytes,
    before_replace: Callable[[], None] | None = None,
    *,
    check: Callable[[Target, os.stat_result], None] | None = None,
    exclusive: bool = False,
) -> None:
    """Replace `target` with `data` atomically, keeping its mode and owner. Call under `locked`.

    `before_replace` runs once the new file is complete and synced, right before the
    rename that commits it: the CLI defers signals there, so that an edit it reports
    as interrupted has not happened. On any failure before the rename (an OSError, a
    KeyboardInterrupt) the temp file is removed and `target` is as it was. The file is
    looked at again here, under the lock: one another user put there since it was
    resolved is refused as `resolve_target` would have refused it, and `check` (given
    the file found) may refuse it too. `exclusive`: a new file only, never a replacement
    (`ExistsError` when one is there by the time the new one is committed).
    """
    shown = display_name(target.path)
    existing = target.lstat()
    if existing is not None:
        if exclusive:
            raise ExistsError(f"{shown}: exists")
        _check_replaceable(shown, os.path.dirname(target.path), os.fstat(target.directory), existing)
        if check is not None:
            check(target, existing)
    fd, temp_name = _create_temp_file(target)
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
        if exclusive:
            _link_new(target, temp_name)
        else:
            os.replace(temp_name, target.name, src_dir_fd=target.directory, dst_dir_fd=target.directory)
    except BaseException as exc:
        with suppress(OSError):
            os.unlink(temp_name, dir_fd=target.directory)
        if isinstance(exc, OSError):
            raise WriteError(f"{shown}: cannot write: {exc.strerror or exc}") from exc
        raise
    _fsync_directory(target.directory)


class ExistsError(WriteError):
    """An exclusive write found a file at its target: nothing was replaced."""


def _link_new(target: Target, temp_name: str) -> None:
    """Give the complete temp file the target's name only if no file has it: link(2) never replaces (EEXIST).

    The temp file's own name is removed by the caller. Where the filesystem has no hard links
    (vfat, some FUSE), the lock we hold is what keeps another pmpoolctl from racing us to the name.
    """
    try:
        os.link(temp_name, target.name, src_dir_fd=target.directory, dst_dir_fd=target.directory, follow_symlinks=False)
    except FileExistsError as exc:
        raise ExistsError(f"{display_name(target.path)}: exists") from exc
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
            raise
        if target.lstat() is not None:
            raise ExistsError(f"{display_name(target.path)}: exists") from exc
        os.rename(temp_name, target.name, src_dir_fd=target.directory, dst_dir_fd=target.directory)
        return
    os.unlink(temp_name, dir_fd=target.directory)


def _create_temp_file(target: Target) -> tuple[int, str]:
    """A new temp file beside the target, 0600 (what mkstemp gives), created exclusively and never through a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS
    for _ in range(100):
        name = _random_name(target, TEMP_SUFFIX)
        try:
            return os.open(name, flags, 0o600, dir_fd=target.directory), name
        except FileExistsError:
            continue
        except OSError as exc:
            directory = display_name(os.path.dirname(target.path))
            raise WriteError(f"{display_name(target.path)}: cannot write in {directory}: {exc.strerror}") from exc
    raise WriteError(f"{display_name(target.path)}: cannot write: no free temp file name")


def write_file(path: str, data: bytes) -> None:
    """Resolve, lock and atomically replace `path`: a report, written as safely as a blob."""
    with resolve_target(path) as target, locked(target):
        write_atomic(target, data)


def append_file(path: str, data: bytes) -> None:
    """Append `data` to `path` (created if missing): an append, never a replace.

    For a file that others read as it grows ($GITHUB_STEP_SUMMARY): resolved as every
    target is (no link another user planted is followed), opened O_APPEND|O_NOFOLLOW and
    non-blocking (a FIFO put there cannot hold the run) in the directory the resolution
    checked, and refused unless it is a regular file. Nothing is written to anything else.
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | _OPEN_FLAGS
    with resolve_target(path) as target:
        try:
            fd = os.open(target.name, flags, 0o666, dir_fd=target.directory)
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


def _fsync_directory(directory: int) -> None:
    try:
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=directory)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename is done
    finally:
        os.close(fd)
