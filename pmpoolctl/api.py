"""pmpoolctl as a library: the use cases the command line and scripts share.

Every function returns data (blobs, pools, maps, findings, changes) and raises the
project's own errors (`pmpoolctl.errors`: `InputError` and its kinds for bad input,
`EditError` for a refused edit, `WriteError` when a file cannot be written); none
prints. The command line is this module plus argument parsing, rendering and exit
codes, so a script gets every guarantee of the README's Safety table: edits take the
blob's lock, read the file they will replace under it, check that the new blob reads
back, and replace the file atomically; inputs that are not regular files are refused
before they are opened.

Importing this module is cheap: what a call needs is imported when it is called.

    import pmpoolctl

    blob = pmpoolctl.read_blob("next.dtb")
    result = pmpoolctl.validate(blob, ["iomem.txt"])
    if not result.passes(strict=True):
        for finding in result.findings:
            print(finding.rule, finding.message)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Union

from pmpoolctl.pool.binding import DEFAULT_PAGE_SIZE, DEFAULT_POOL

if TYPE_CHECKING:
    from datetime import datetime

    from pmpoolctl.check.addrspace import Lane, Picture
    from pmpoolctl.check.findings import Finding
    from pmpoolctl.check.validate import Report, Zone
    from pmpoolctl.dtb.model import Blob
    from pmpoolctl.files.safewrite import Target
    from pmpoolctl.kho.booted import KhoHandover
    from pmpoolctl.kho.cmdline import NextCmdline
    from pmpoolctl.kho.tree import KhoState
    from pmpoolctl.memmap.model import MapEntry, MemoryMap
    from pmpoolctl.pool.binding import Pool
    from pmpoolctl.pool.change import Change
    from pmpoolctl.pool.diff import PoolDiff
    from pmpoolctl.ranges.rangearray import RangeArray
    from pmpoolctl.ranges.rangeset import Range

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_POOL",
    "TO_BYTES",
    "AddressSpace",
    "Captured",
    "Comparison",
    "Created",
    "Edit",
    "Hook",
    "PoolsValidation",
    "Progress",
    "RangesLike",
    "Validation",
    "add_ranges",
    "address_space",
    "booted_blob",
    "booted_kho",
    "canonicalize",
    "capture",
    "create",
    "diff",
    "edit_pool",
    "find_pool",
    "find_pools",
    "has_pool",
    "live_phys_bits",
    "load_kho",
    "load_memory_map",
    "load_memory_maps",
    "read_blob",
    "read_pool",
    "read_ranges",
    "remove_ranges",
    "validate",
    "validate_all_pools",
    "validate_kho",
    "validation_space",
]

TO_BYTES = "-"
"""As `output` of an edit or `create`: write no file, return the new blob in `.data` (the CLI's `-o -`)."""

Hook = Callable[[], None]
"""Called by an edit right before the rename that commits it (the CLI defers signals there)."""

Progress = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]
"""`progress(description, total)` gives a context whose value is called with the work done so far."""

RangesLike = Union["RangeArray", Iterable["Range"], Iterable[tuple[int, int]]]
"""Ranges as a RangeArray, `Range`s, or (base, size) pairs."""

PathArg = Union[str, "os.PathLike[str]"]
"""A file's path: text or a path object (pathlib.Path); `-` is standard input or output where the call says."""


def _path(path: PathArg) -> str:
    """`path` as text (a TypeError that names the value for anything that is no path)."""
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"a path is text or os.PathLike of text, not {type(text).__name__}")
    return text


def _path_or_none(path: PathArg | None) -> str | None:
    return None if path is None else _path(path)


def _blob_of(blob: Blob | PathArg) -> Blob:
    """`blob`, or the blob read from the path it is."""
    return read_blob(blob) if isinstance(blob, (str, os.PathLike)) else blob


def _pool_name(pool: str, *, new: bool = False) -> str:
    """`pool` (NAME or /NAME) as the node's name; PoolNameError (a ValueError) when no pool node can have it."""
    from pmpoolctl.pool.names import checked_name

    return checked_name(pool, new=new)


# --- reading ---------------------------------------------------------------------------------------------------------


def read_blob(path: PathArg, source: str | None = None) -> Blob:
    """The blob in `path` (`-` for stdin), checked as dtc would; `source` names it in messages (default: the path)."""
    from pmpoolctl.dtb.reader import parse_blob
    from pmpoolctl.files.inputs import display_name, read_blob_bytes

    path = _path(path)
    shown = display_name(path) if source is None else source
    return parse_blob(read_blob_bytes(path, shown), shown)


def booted_blob() -> Blob:
    """The device tree this kernel was booted with (/sys/firmware/fdt, or x86 setup_data type 2)."""
    from pmpoolctl.dtb.reader import parse_blob
    from pmpoolctl.files.inputs import display_name
    from pmpoolctl.kho.booted import booted_fdt

    data, where = booted_fdt()
    return parse_blob(data, display_name(where))


def find_pool(blob: Blob, pool: str = DEFAULT_POOL) -> Pool | None:
    """The pool node called exactly `pool` (a child of the root), or None when there is none."""
    from pmpoolctl.pool.poolfile import read_pool as read

    return read(blob, _pool_name(pool))


def find_pools(blob: Blob, decoded: Sequence[Pool] = ()) -> list[Pool]:
    """Every pool of `blob` in node order: the root's children with compatible "pmpool-v1" (and /default_pmpool).

    Pools in `decoded` (already read from this blob) are not decoded again: a million ranges take 0.15 s.
    """
    from pmpoolctl.pool.poolfile import pool_names, require_pool

    known = {pool.name: pool for pool in decoded}
    return [known.get(name) or require_pool(blob, name) for name in pool_names(blob)]


def has_pool(blob: Blob, pool: str = DEFAULT_POOL) -> bool:
    """Whether `blob` has the pool node `pool`, without decoding it."""
    from pmpoolctl.pool.poolfile import has_pool as has

    return has(blob, _pool_name(pool))


def read_pool(blob: Blob | PathArg, pool: str = DEFAULT_POOL) -> Pool:
    """The pool node `pool` of `blob` (a Blob, or a path to read); InputError when the blob has none."""
    from pmpoolctl.pool.poolfile import require_pool

    return require_pool(_blob_of(blob), _pool_name(pool))


def read_ranges(path: PathArg, progress: Progress | None = None) -> RangeArray:
    """The ranges listed in a batch file (`-` for stdin): text lines `BASE SIZE` or JSON, in file order."""
    from pmpoolctl.files.inputs import decode_text, display_name, read_input
    from pmpoolctl.pool.batch import batch_lines, parse_batch

    path = _path(path)
    name = display_name(path)
    text = decode_text(read_input(path), name)
    if progress is None:
        return parse_batch(text, name)
    with progress(f"reading {name}", batch_lines(text)) as advance:
        return parse_batch(text, name, advance)  # two u64 arrays: it can be ten million


def _request(ranges: RangesLike, from_file: PathArg | None, progress: Progress | None) -> RangeArray:
    """`ranges`, then the ranges of the batch `from_file`, as one array."""
    from array import array

    from pmpoolctl.ranges.rangearray import RangeArray

    given = _range_array(ranges)
    if from_file is None:
        return given
    batch = read_ranges(from_file, progress)
    if not given:
        return batch
    return RangeArray(array("Q", given.bases) + batch.bases, array("Q", given.sizes) + batch.sizes)


def _taken(holder: list[RangeArray]) -> RangeArray:
    """The ranges in `holder`, which no longer holds them.

    A batch's arrays are 160 MB at ten million ranges: once the plan has used them they
    must be garbage before the new blob is built, so no frame may keep a reference.
    """
    return holder.pop()


def _range_array(ranges: RangesLike) -> RangeArray:
    from array import array

    from pmpoolctl.ranges.rangearray import RangeArray

    if isinstance(ranges, RangeArray):
        return ranges
    bases, sizes = array("Q"), array("Q")
    for base, size in ranges:  # a Range unpacks as (base, size) too
        bases.append(base)
        sizes.append(size)
    return RangeArray(bases, sizes)


# --- edits -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """What an edit did (or, with `dry_run`, would do) to one pool."""

    file: str  # the file written (as shown in messages), or the blob read on a dry run
    source: str  # the blob read
    pool: str  # the pool node's path, /default_pmpool
    page_size: int
    change: Change  # totals before and after; the ranges that went and came when listed
    dry_run: bool
    written: str | None  # the path replaced; None on a dry run, with TO_BYTES, and when nothing changed
    data: bytes | None  # the new blob with TO_BYTES, else None

    @property
    def changed(self) -> bool:
        return not self.change.same


def edit_pool(
    blob_path: PathArg,
    plan: Callable[[RangeArray, int], RangeArray],
    *,
    pool: str = DEFAULT_POOL,
    output: PathArg | None = None,
    dry_run: bool = False,
    list_changes: bool = False,
    before_commit: Hook | None = None,
    after_commit: Callable[[str], None] | None = None,
) -> Edit:
    """Apply `plan(current ranges, page size) -> new ranges` to the pool of the blob in `blob_path`.

    The file written (`output`, else the blob itself) is resolved once and locked; an edit
    in place reads exactly that file under the lock, so a symlink retargeted meanwhile
    cannot move the pool into another file, and a blob that another program wrote meanwhile
    (no lock keeps dtc or cp out) is kept: the edit is then a WriteError. A blob that is only
    read (`output` names another file) is read before the lock is taken, so no lock waits on
    an input. The new
    blob must read back before it replaces the file, atomically; `before_commit` runs right
    before the rename and `after_commit(path)` right after it. Nothing outside the pool
    node changes. The change lists the ranges that go and come on a dry run or with
    `list_changes`.
    """
    from pmpoolctl.pool.edits import editable_ranges

    def planned(found: Pool) -> tuple[RangeArray, RangeArray]:
        before = editable_ranges(found)
        return before, plan(before, found.page_size)

    return _edit_pool(
        blob_path,
        planned,
        pool=pool,
        output=output,
        dry_run=dry_run,
        list_changes=list_changes,
        before_commit=before_commit,
        after_commit=after_commit,
    )


def _edit_pool(
    blob_path: PathArg,
    planned: Callable[[Pool], tuple[RangeArray, RangeArray]],
    *,
    pool: str,
    output: PathArg | None,
    dry_run: bool,
    list_changes: bool,
    before_commit: Hook | None,
    after_commit: Callable[[str], None] | None,
    rewrite_stored: bool = False,
) -> Edit:
    """The edit transaction of `edit_pool`: `planned(pool)` gives (the ranges as they are, the new ones).

    With `rewrite_stored` a pool whose stored form is not canonical changes even when its
    ranges in order are the new ones (canonicalize of a pool stored out of order).
    """
    import dataclasses
    from contextlib import ExitStack

    from pmpoolctl.dtb.reader import parse_blob
    from pmpoolctl.errors import EditError
    from pmpoolctl.files.inputs import display_name, read_blob_bytes
    from pmpoolctl.files.safewrite import locked, resolve_target
    from pmpoolctl.pool.change import Change
    from pmpoolctl.pool.poolfile import require_pool, with_encoded_ranges
    from pmpoolctl.ranges.rangearray import RangeArray

    blob_path, output, pool = _path(blob_path), _path_or_none(output), _pool_name(pool)
    to_bytes = output == TO_BYTES and not dry_run
    with ExitStack() as held:
        target = None
        if not (dry_run or to_bytes):
            target = held.enter_context(resolve_target(output if output is not None else blob_path))
        in_place = target is not None and (output is None or _same_file(blob_path, target))
        blob = None if in_place else read_blob(blob_path)
        written = data = None
        if target is not None:
            held.enter_context(locked(target))
        read_as: _FileState | None = None
        if blob is None:  # in place: the file the lock is for, read in the directory that was checked
            assert target is not None
            shown = display_name(blob_path)
            read_as = _file_state(target)
            blob = parse_blob(read_blob_bytes(target.name, shown, dir_fd=target.directory), shown)
        found = require_pool(blob, pool)
        try:
            before, after = planned(found)
        except EditError as exc:
            raise EditError(f"{blob.source}: {found.path}: {exc}") from exc
        change = Change.of(before, after, listed=dry_run or list_changes, stored=len(found.ranges))
        if change.same and rewrite_stored and not found.canonical:  # the pages stay, their stored form does not
            change = dataclasses.replace(change, same=False, removed=RangeArray(), added=RangeArray())
        if not change.same or (output is not None and not dry_run):  # page-ranges is (or would be) `after`
            change = dataclasses.replace(change, stored=(change.stored[0], len(after)))
        # The old ranges are done with: let them go before the new blob is built (16 MB at 1M ranges).
        del before
        source, pool_path, page_size = blob.source, found.path, found.page_size
        if not dry_run and (not change.same or output is not None):
            # Only the new pairs, as the blob will hold them, are kept while the new blob is built:
            # the decoded pool's old arrays (`before` was them) and the new arrays go first, 33 MB
            # less at the peak at 1M ranges. (The pieces of an edit of a few places are views of
            # the old blob and a few new pairs; a batch's are encoded here, once.)
            found = dataclasses.replace(found, ranges=RangeArray())
            pairs = after.be_parts()
            del after
            new = with_encoded_ranges(blob, found, pairs)
            del pairs
            # Free the old blob (16 MB at 1M ranges) before the write needs
            # as much page cache: reused pages are cheaper than new ones, and peak RSS is lower.
            del blob, found
            parse_blob(new, display_name(output or blob_path))  # what we write must read back
            if target is None:
                data = new
            else:
                unchanged = None if read_as is None else _still_as_read(target, read_as, before_commit)
                _commit(target, new, unchanged or before_commit, after_commit)
                written = target.path
    shown = source if output is None or output == TO_BYTES else display_name(output)
    return Edit(shown, source, pool_path, page_size, change, dry_run, written, data)


def add_ranges(
    blob_path: PathArg,
    ranges: RangesLike = (),
    *,
    from_file: PathArg | None = None,
    progress: Progress | None = None,
    pool: str = DEFAULT_POOL,
    merge: bool = False,
    output: PathArg | None = None,
    dry_run: bool = False,
    list_changes: bool = False,
    before_commit: Hook | None = None,
    after_commit: Callable[[str], None] | None = None,
) -> Edit:
    """Add `ranges`, then those of the batch file `from_file`, to the pool (kept canonical).

    EditError for a range that overlaps the pool, unless `merge`. The batch is read before
    any lock is taken (`progress` as for `read_ranges`), and its arrays are freed once the
    edit is planned: give a big batch as `from_file`, not as ranges the caller still holds.
    See `edit_pool` for how the file is locked, read and replaced.
    """
    from pmpoolctl.pool.edits import plan_add

    requested = [_request(ranges, from_file, progress)]  # the plan's alone: freed once planned (see _taken)
    return edit_pool(
        blob_path,
        lambda current, page_size: plan_add(current, _taken(requested), page_size, merge),
        pool=pool,
        output=output,
        dry_run=dry_run,
        list_changes=list_changes,
        before_commit=before_commit,
        after_commit=after_commit,
    )


def remove_ranges(
    blob_path: PathArg,
    ranges: RangesLike = (),
    *,
    from_file: PathArg | None = None,
    progress: Progress | None = None,
    pool: str = DEFAULT_POOL,
    ignore_missing: bool = False,
    output: PathArg | None = None,
    dry_run: bool = False,
    list_changes: bool = False,
    before_commit: Hook | None = None,
    after_commit: Callable[[str], None] | None = None,
) -> Edit:
    """Remove `ranges` from the pool (splitting ranges); EditError for pages it lacks, unless `ignore_missing`."""
    from pmpoolctl.pool.edits import plan_remove

    requested = [_request(ranges, from_file, progress)]  # the plan's alone: freed once planned (see _taken)
    return edit_pool(
        blob_path,
        lambda current, page_size: plan_remove(current, _taken(requested), page_size, ignore_missing),
        pool=pool,
        output=output,
        dry_run=dry_run,
        list_changes=list_changes,
        before_commit=before_commit,
        after_commit=after_commit,
    )


def canonicalize(
    blob_path: PathArg,
    *,
    pool: str = DEFAULT_POOL,
    merge: bool = False,
    output: PathArg | None = None,
    dry_run: bool = False,
    list_changes: bool = False,
    before_commit: Hook | None = None,
    after_commit: Callable[[str], None] | None = None,
) -> Edit:
    """Rewrite a pool in canonical form (sorted, touching ranges merged, empty ones dropped), the pages kept.

    EditError for a pool with overlapping ranges unless `merge`, and for one that breaks
    the binding otherwise (compatible, page size, a range not aligned or past 2^64). The
    change's `before` and `after` are the same pages, its `stored` the pairs page-ranges held
    and holds; see `edit_pool` for the file's lock and write.
    """
    from pmpoolctl.pool.edits import plan_canonical

    def planned(found: Pool) -> tuple[RangeArray, RangeArray]:
        canonical = plan_canonical(found, merge)
        return canonical, canonical  # the same pages: only the stored form changes (Change.stored)

    return _edit_pool(
        blob_path,
        planned,
        pool=pool,
        output=output,
        dry_run=dry_run,
        list_changes=list_changes,
        before_commit=before_commit,
        after_commit=after_commit,
        rewrite_stored=True,
    )


@dataclass(frozen=True)
class Created:
    """A blob `create` wrote (or returned, with TO_BYTES)."""

    file: str
    pool: str
    ranges: RangeArray
    page_size: int
    written: str | None
    data: bytes | None


def create(
    out: PathArg,
    ranges: RangesLike = (),
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    pool: str = DEFAULT_POOL,
    base: Blob | PathArg | None = None,
    force: bool = False,
    before_commit: Hook | None = None,
    after_commit: Callable[[str], None] | None = None,
) -> Created:
    """Write a blob `out` holding a pool of `ranges`: a new minimal tree, or a copy of `base` with the pool added.

    InputError when `out` exists and not `force`; the write is locked and atomic as an edit's is.
    """
    from pmpoolctl.dtb.reader import parse_blob
    from pmpoolctl.dtb.writer import build_minimal_blob
    from pmpoolctl.errors import EditError
    from pmpoolctl.files.inputs import display_name
    from pmpoolctl.files.safewrite import locked, resolve_target
    from pmpoolctl.pool.edits import plan_add
    from pmpoolctl.pool.poolfile import with_new_pool
    from pmpoolctl.ranges.rangearray import RangeArray

    out, pool = _path(out), _pool_name(pool, new=True)
    try:
        pool_ranges = plan_add(RangeArray(), _range_array(ranges), page_size, merge=False, hint=_CREATE_OVERLAP_HINT)
    except EditError as exc:  # named as every other error is: by the file it is about
        shown = "standard output" if out == TO_BYTES else display_name(out)
        raise EditError(f"{shown}: /{pool}: {exc}") from exc
    if isinstance(base, (str, os.PathLike)):
        base = read_blob(base)
    elif base is None:
        cells = (2).to_bytes(4, "big")
        base = parse_blob(build_minimal_blob([("#address-cells", cells), ("#size-cells", cells)]), "<new blob>")
    data = with_new_pool(base, pool, pool_ranges, page_size)
    parse_blob(data, display_name(out))  # what we write must read back
    if out == TO_BYTES:
        return Created(display_name(out), pool, pool_ranges, page_size, None, data)
    with resolve_target(out) as target, locked(target), _exists_unless_forced(out, target, force):
        _commit(target, data, before_commit, after_commit, exclusive=not force)
    return Created(display_name(out), pool, pool_ranges, page_size, target.path, None)


_CREATE_OVERLAP_HINT = "create has no --merge: give each page in one range only"


def _commit(
    target: Target, data: bytes, before: Hook | None, after: Callable[[str], None] | None, *, exclusive: bool = False
) -> None:
    from pmpoolctl.files.safewrite import write_atomic

    write_atomic(target, data, before_replace=before, exclusive=exclusive)
    if after is not None:
        after(target.path)


@contextmanager
def _exists_unless_forced(out: str, target: Target, force: bool) -> Iterator[None]:
    """Without `force`, OUT must not exist: not when resolved (a dangling symlink counts) nor when written.

    The write itself is exclusive (safewrite's link(2) never replaces), so a file put there in
    between is not overwritten either.
    """
    from pmpoolctl.errors import InputError
    from pmpoolctl.files.inputs import display_name
    from pmpoolctl.files.safewrite import ExistsError

    refusal = f"{display_name(out)}: exists; use --force to overwrite it"
    if not force and (target.through_link or target.lstat() is not None):
        raise InputError(refusal)
    try:
        yield
    except ExistsError as exc:
        raise InputError(refusal) from exc


_FileState = tuple[int, int, int, int] | None  # (st_dev, st_ino, st_size, st_mtime_ns); None: no file


def _file_state(target: Target) -> _FileState:
    found = target.lstat()
    return None if found is None else (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)


def _still_as_read(target: Target, read_as: _FileState, then: Hook | None) -> Hook:
    """Right before the rename: refuse when the blob is no longer the one the edit read, then run `then`.

    The lock keeps other pmpoolctl edits out, not another program (dtc -o, cp, a deploy script)
    writing the blob meanwhile: its write would be lost under ours, and the edit said to succeed.
    """
    from pmpoolctl.errors import WriteError
    from pmpoolctl.files.inputs import display_name

    def check() -> None:
        if _file_state(target) != read_as:
            raise WriteError(
                f"{display_name(target.path)}: changed while this edit ran (another program wrote it); "
                "nothing was written: edit it again"
            )
        if then is not None:
            then()

    return check


def _same_file(path: str, target: Target) -> bool:
    """Whether `path` names the file `target` (a hard link, another path): then it is read under the lock."""
    from pmpoolctl.errors import WriteError
    from pmpoolctl.files.inputs import STDIN

    if path == STDIN:
        return False
    try:
        one, other = os.stat(path), target.lstat()
    except (OSError, WriteError):
        return False
    return other is not None and (one.st_dev, one.st_ino) == (other.st_dev, other.st_ino)


# --- comparing -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Two blobs' pools compared as the pages they hold."""

    old: Blob
    new: Blob
    pool: str
    result: PoolDiff

    @property
    def same(self) -> bool:
        """No page came or went, and neither side breaks the binding."""
        return self.result.same


def diff(old: Blob | PathArg, new: Blob | PathArg, pool: str = DEFAULT_POOL) -> Comparison:
    """Compare the pool `pool` of two blobs (Blobs, or paths to read); InputError when neither has it."""
    from pmpoolctl.pool.diff import diff_blobs, read_pools

    old_blob, new_blob, pool = _blob_of(old), _blob_of(new), _pool_name(pool)
    old_pool, new_pool = read_pools(old_blob, new_blob, pool)
    return Comparison(old_blob, new_blob, pool, diff_blobs(old_blob, old_pool, new_blob, new_pool))


# --- memory maps -----------------------------------------------------------------------------------------------------


def load_memory_map(source: PathArg, memmap_format: str | None = None) -> MemoryMap:
    """The memory map in `source`: /proc/iomem text, a /sys/firmware/memmap directory, a kernel log, JSON, a .dtb.

    The format is detected unless `memmap_format` (one of `pmpoolctl.memmap.FORMATS`) or a
    `FORMAT:` prefix names it.
    """
    from pmpoolctl.memmap.sources import load_memory_map as load

    return load(_path(source), memmap_format)


def load_memory_maps(
    sources: Sequence[PathArg | MemoryMap] = (), memmap_format: str | None = None, *, live: bool = False
) -> list[MemoryMap]:
    """The maps in `sources` (maps already read pass through), then this host's with `live`."""
    from pmpoolctl.memmap.sources import LIVE_SOURCES
    from pmpoolctl.memmap.sources import load_memory_maps as load

    # A host capture (`pmpoolctl capture`) is several maps: its iomem, firmware memmap, e820 table.
    maps = [m for s in sources for m in (load(_path(s), memmap_format) if isinstance(s, (str, os.PathLike)) else [s])]
    if live:  # /proc/iomem always; /sys/firmware/memmap where the kernel has it; `memmap_format` is not theirs
        maps += [m for s in LIVE_SOURCES if s == LIVE_SOURCES[0] or os.path.exists(s) for m in load(s)]
    return maps


@dataclass(frozen=True)
class Captured:
    """A host capture `capture` wrote (or returned, with TO_BYTES)."""

    file: str
    document: dict[str, Any]  # the pmpoolctl.capture/v1 document
    missing: tuple[str, ...]  # what could not be read on this host, one line each
    written: str | None
    data: bytes | None


def capture(out: PathArg, *, force: bool = False, now: Callable[[], datetime] | None = None) -> Captured:
    """Capture this host (`pmpoolctl.capture/v1`: iomem, firmware memmap, e820 lines, CPU width, cmdline, KHO).

    The sources are /proc and /sys, or $PMPOOLCTL_PROC and $PMPOOLCTL_SYSFS, and the kernel
    log /dev/kmsg (else dmesg), or $PMPOOLCTL_KMSG. What cannot be read is said in the
    capture and in `missing`. InputError when `out` exists and not `force`; the write is
    locked and atomic as an edit's is. `validate` reads the file back as this host's maps.
    """
    import json

    from pmpoolctl.files.inputs import display_name
    from pmpoolctl.files.safewrite import locked, resolve_target, write_atomic
    from pmpoolctl.memmap.hostcapture import missing_sources, take_capture

    out = _path(out)
    document = take_capture(now)
    data = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    missing = tuple(missing_sources(document))
    if out == TO_BYTES:
        return Captured(display_name(out), document, missing, None, data)
    with resolve_target(out) as target, locked(target), _exists_unless_forced(out, target, force):
        write_atomic(target, data, exclusive=not force)
    return Captured(display_name(out), document, missing, target.path, None)


def live_phys_bits(given: int | None = None, live: bool = True) -> int | None:
    """`given`; else, with `live`, the physical address width of this host's CPU (/proc/cpuinfo)."""
    from pmpoolctl.memmap.sources import live_phys_bits as width

    return width(given, live)


# --- validation ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Validation:
    """What a validation found about one pool (or KHO state), and the verdict it gives."""

    report: Report
    source: str
    reservations: Sequence[MapEntry] = ()  # what the pool was held to besides the maps: for its picture
    blob: Blob | None = None  # the blob checked (None for KHO state)
    kho_root_sha256: str | None = None  # the KHO root FDT's, when KHO state was checked
    unchecked: tuple[tuple[str, str], ...] = ()  # (rule, why): rules that had nothing to hold the ranges to
    not_requested: tuple[tuple[str, str], ...] = ()  # (rule, why): rules whose input the run was not given

    @property
    def notes(self) -> tuple[str, ...]:
        """What could not be checked, said with the report: what the maps cannot show (`map_caveats`), then
        why each of `unchecked` did not run (each once)."""
        from pmpoolctl.check.coverage import map_caveats

        return tuple(dict.fromkeys((*map_caveats(self.report.maps), *(why for _, why in self.unchecked))))

    @property
    def zones(self) -> Sequence[Zone]:
        """What the ranges were held clear of besides the maps (KHO's), as the report holds them."""
        return self.report.zones

    @property
    def skipped(self) -> tuple[tuple[str, str], ...]:
        """(rule, why) of every rule that checked nothing: `unchecked`, then `not_requested` (a rule once)."""
        from pmpoolctl.check import coverage

        return coverage.each_rule_once(self.unchecked, self.not_requested)

    @property
    def sha256(self) -> str | None:
        """The blob's sha256 (its totalsize bytes), for reports; computed when asked (160 MB at 10M ranges)."""
        if self.blob is None:
            return None
        import hashlib

        return hashlib.sha256(self.blob.data).hexdigest()

    @property
    def findings(self) -> list[Finding]:
        return self.report.findings

    @property
    def errors(self) -> int:
        return self.report.errors

    @property
    def warnings(self) -> int:
        return self.report.warnings

    def passes(self, strict: bool = False) -> bool:
        """No error; with `strict`, no warning either (the exit code 0 of validate)."""
        return self.report.passes(strict)


def validate(
    blob: Blob | PathArg,
    memmaps: Sequence[PathArg | MemoryMap] = (),
    *,
    memmap_format: str | None = None,
    live: bool = False,
    pool: str = DEFAULT_POOL,
    kho: KhoState | PathArg | None = None,
    byte_order: str = "little",
    next_kernel: PathArg | None = None,
    phys_bits: int | None = None,
    progress: Progress | None = None,
) -> Validation:
    """Check the pool of `blob` against the binding and memory maps (`validate`'s rules, README's table).

    Without maps (and without `live`) the blob's own memory nodes are the map; the blob's
    reservations, kernel image and crash kernel are checked in any case. A kexec segment
    list (`kexec -d` output) is a map of where the next kernel is loaded, not of RAM: with
    only such lists, the blob's memory nodes are the map of RAM as well. `live` adds this
    host's maps and, unless `phys_bits` is given, its CPU's address width. `kho` (a KHO
    state or a kho/out path) adds its scratch areas and preserved regions; `next_kernel`
    (an image path) must know pmpool-v1. InputError when something named cannot be read:
    a check that cannot see its input never passes.
    """
    from pmpoolctl.memmap.blobmap import blob_reservations

    blob = _blob_of(blob)
    found = read_pool(blob, pool)  # read_pool checks the name
    given = _validation_inputs(blob, memmaps, memmap_format, live, kho, byte_order, next_kernel, phys_bits, "validate")
    import dataclasses

    checked = _checked(found, given.maps, blob_reservations(blob), blob.source, given.phys_bits, progress, given)
    return dataclasses.replace(checked, blob=blob)


@dataclass(frozen=True)
class PoolsValidation:
    """`validate --all-pools`: each pool's validation (pools-overlap on the later pool of a pair), one verdict."""

    validations: tuple[Validation, ...]
    source: str

    @property
    def findings(self) -> list[Finding]:
        return [f for v in self.validations for f in v.findings]

    @property
    def errors(self) -> int:
        return sum(v.errors for v in self.validations)

    @property
    def warnings(self) -> int:
        return sum(v.warnings for v in self.validations)

    @property
    def notes(self) -> tuple[str, ...]:
        """What could not be checked, for any pool (each note once)."""
        return tuple(dict.fromkeys(note for v in self.validations for note in v.notes))

    @property
    def unchecked(self) -> tuple[tuple[str, str], ...]:
        """(rule, why) of the rules that could not run, for any pool (each once)."""
        return tuple(dict.fromkeys(pair for v in self.validations for pair in v.unchecked))

    @property
    def skipped(self) -> tuple[tuple[str, str], ...]:
        """(rule, why) of every rule that checked nothing for some pool (a rule once)."""
        from pmpoolctl.check import coverage

        return coverage.each_rule_once(*(v.skipped for v in self.validations))

    def passes(self, strict: bool = False) -> bool:
        """Every pool passes (the exit code 0 of validate --all-pools)."""
        return all(v.passes(strict) for v in self.validations)


def validate_all_pools(
    blob: Blob | PathArg,
    memmaps: Sequence[PathArg | MemoryMap] = (),
    *,
    memmap_format: str | None = None,
    live: bool = False,
    kho: KhoState | PathArg | None = None,
    byte_order: str = "little",
    next_kernel: PathArg | None = None,
    phys_bits: int | None = None,
) -> PoolsValidation:
    """Check every pool of `blob` as `validate` checks one, and that no page belongs to two (`pools-overlap`).

    InputError when the blob has no pool. The next kernel's image is asked about
    pmpool-v1 once: its finding goes with the first pool.
    """
    from pmpoolctl.check.pools import pools_overlap
    from pmpoolctl.errors import InputError
    from pmpoolctl.memmap.blobmap import blob_reservations

    blob = _blob_of(blob)
    pools = find_pools(blob)
    if not pools:
        raise InputError(f'{blob.source}: no pool node (no child of the root with compatible "pmpool-v1")')
    given = _validation_inputs(
        blob, memmaps, memmap_format, live, kho, byte_order, next_kernel, phys_bits, "validate --all-pools"
    )
    shared = pools_overlap(pools, blob.source)
    reservations = blob_reservations(blob)
    validations = tuple(
        _checked(
            one,
            given.maps,
            reservations,
            blob.source,
            given.phys_bits,
            None,
            given._replace(extra=[*(given.extra if i == 0 else ()), *shared[one.path]]),
        )
        for i, one in enumerate(pools)
    )
    import dataclasses

    return PoolsValidation(tuple(dataclasses.replace(v, blob=blob) for v in validations), blob.source)


class _Inputs(NamedTuple):
    """What a pool is held to, and what of it cannot be checked (`check.coverage`)."""

    phys_bits: int | None
    maps: list[MemoryMap]
    zones: Sequence[Zone]  # KHO's
    extra: Sequence[Finding]  # the next kernel's finding, --all-pools' overlaps
    unchecked: tuple[tuple[str, str], ...] = ()  # (rule, why): nothing to hold the ranges to
    not_requested: tuple[tuple[str, str], ...] = ()  # (rule, why): the input was not given


def _validation_inputs(
    blob: Blob,
    memmaps: Sequence[PathArg | MemoryMap],
    memmap_format: str | None,
    live: bool,
    kho: KhoState | PathArg | None,
    byte_order: str,
    next_kernel: PathArg | None,
    phys_bits: int | None,
    command: str,
) -> _Inputs:
    """What a pool of `blob` is held to by `command` ("validate", "validate --all-pools"): the physical
    width, the maps, KHO's zones, the next kernel's finding, and the rules that cannot be checked."""
    from pmpoolctl.check import coverage
    from pmpoolctl.memmap.blobmap import blob_memory_map
    from pmpoolctl.pool.binding import COMPATIBLE

    phys_bits = live_phys_bits(phys_bits, live)
    maps = load_memory_maps(memmaps, memmap_format, live=live)
    if phys_bits is None:  # a host capture's CPU width, as --live takes this host's
        phys_bits = min((m.phys_bits for m in maps if m.phys_bits is not None), default=None)
    if not any(m.lists_ram for m in maps):  # none given, or kexec segment lists only
        maps.append(blob_memory_map(blob, with_reservations=False))
    zones, kho_unchecked = _kho_zones(kho, maps, live, byte_order, need_scratch=True)
    extra: list[Finding] = []
    if next_kernel is not None:
        from pmpoolctl.kho.kernelimage import scan_image
        from pmpoolctl.kho.nextkernel import POOL_CONSEQUENCE, image_finding

        image = image_finding(scan_image(_path(next_kernel), [COMPATIBLE]), [COMPATIBLE], consequence=POOL_CONSEQUENCE)
        extra = [] if image is None else [image]
    unchecked = coverage.not_checked(maps) + kho_unchecked
    not_requested = coverage.not_requested(maps, phys_bits, zones, next_kernel=next_kernel is not None, command=command)
    return _Inputs(phys_bits, maps, zones, extra, unchecked, not_requested)


def _kho_zones(
    kho: KhoState | PathArg | None, maps: Sequence[MemoryMap], live: bool, byte_order: str, *, need_scratch: bool
) -> tuple[list[Zone], tuple[tuple[str, str], ...]]:
    """KHO's zones: of `kho` (its scratch areas refused missing with `need_scratch`), or without it the
    host's own (this host's kho/out under `live`, a capture's copy of one), with what they cannot say."""
    if kho is not None:
        from pmpoolctl.kho.checks import preserved_zone, require_scratch, scratch_zone

        state = load_kho(kho, byte_order, checked=True) if isinstance(kho, (str, os.PathLike)) else kho
        if need_scratch:
            require_scratch(state)
        return [scratch_zone(state), preserved_zone(state)], ()
    if not live and not any(m.format == "kho-scratch" or m.kho_not_captured or m.kho_unreadable for m in maps):
        return [], ()
    from pmpoolctl.kho import hostzones

    zones, unchecked = hostzones.captured_kho_zones(maps, byte_order)
    if live:
        own, own_unchecked = hostzones.live_kho_zones(byte_order)
        zones, unchecked = [*own, *zones], own_unchecked + unchecked
    return zones, unchecked


def _checked(
    pool: Pool,
    maps: list[MemoryMap],
    reservations: Sequence[MapEntry],
    source: str,
    phys_bits: int | None,
    progress: Progress | None,
    given: _Inputs,
) -> Validation:
    """`pool` checked against `maps` and the reservations, with the zones and findings `given` adds."""
    from pmpoolctl.check.validate import validate as check

    zones, extra = given.zones, given.extra
    if progress is None:
        report = check(pool, maps, reservations, phys_bits, None, zones, extra)
    else:
        with progress(f"checking {len(pool.ranges)} ranges", len(pool.ranges) * (len(maps) + 1)) as advance:
            report = check(pool, maps, reservations, phys_bits, advance, zones, extra)
    return Validation(report, source, reservations, unchecked=given.unchecked, not_requested=given.not_requested)


# --- the address space as a picture ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressSpace:
    """The physical address space as lanes (`map`, `--html`, `--svg`), and the check of the pool drawn, if any."""

    lanes: list[Lane]
    maps: list[MemoryMap]
    validation: Validation | None  # None: no blob given, only maps and KHO state drawn

    @property
    def findings(self) -> list[Finding]:
        return [] if self.validation is None else self.validation.findings

    def picture(self, width: int, gap_width: int, start: int | None = None, end: int | None = None) -> Picture:
        """The lanes in [start, end) (all of them by default) on `width` columns, a mark per finding."""
        from pmpoolctl.check.addrspace import picture

        return picture(self.lanes, self.findings, width, gap_width, start, end)


def validation_space(validation: Validation) -> AddressSpace:
    """What a validation held the pool to, as lanes: the maps, the blob's reservations, KHO's zones, the pool."""
    from pmpoolctl.check.addrspace import lanes_of

    report = validation.report
    lanes = lanes_of(report.maps, validation.reservations, validation.zones, [report.pool])
    return AddressSpace(lanes, report.maps, validation)


def address_space(
    blob: Blob | PathArg | None = None,
    memmaps: Sequence[PathArg | MemoryMap] = (),
    *,
    memmap_format: str | None = None,
    live: bool = False,
    pool: str = DEFAULT_POOL,
    kho: KhoState | PathArg | None = None,
    byte_order: str = "little",
    phys_bits: int | None = None,
) -> AddressSpace:
    """The address space of a blob's pool and the maps and KHO state given (`map`); the pool checked as validate does.

    Without maps the blob's own memory nodes are the map, and a blob without any is drawn
    against none; a blob without the pool is drawn with its reservations and nothing
    checked. Without a blob, the maps and the KHO state alone. ValueError when there is
    nothing to draw.
    """
    from pmpoolctl.check.addrspace import lanes_of
    from pmpoolctl.errors import InputError
    from pmpoolctl.memmap.blobmap import blob_memory_map, blob_reservations

    if blob is None and not memmaps and not live and kho is None:
        raise ValueError("address_space needs a blob, a memory map or KHO state")
    maps = load_memory_maps(memmaps, memmap_format, live=live)
    zones = _kho_zones(kho, maps, live, byte_order, need_scratch=False)[0]
    if blob is None:
        return AddressSpace(lanes_of(maps, (), zones), maps, None)
    blob = _blob_of(blob)
    if not maps:
        try:
            maps = [blob_memory_map(blob, with_reservations=False)]
        except InputError:  # no /memory nodes: the pool is drawn against nothing but its reservations
            maps = []
    found = find_pool(blob, pool)  # find_pool checks the name
    if found is None:  # a blob without the pool: its map and reservations are still worth a look
        return AddressSpace(lanes_of(maps, blob_reservations(blob), zones), maps, None)
    phys_bits = live_phys_bits(phys_bits, live)
    given = _Inputs(phys_bits, maps, zones, [])
    checked = _checked(found, maps, blob_reservations(blob), blob.source, phys_bits, None, given)
    return validation_space(checked)


# --- Kexec HandOver --------------------------------------------------------------------------------------------------


def load_kho(path: PathArg, byte_order: str = "little", *, checked: bool = False) -> KhoState:
    """KHO state: a root FDT, or a directory laid out like /sys/kernel/debug/kho/out (or kho/in).

    `byte_order` is that of the CPU that wrote it. With `checked`, InputError unless the root
    version is one this release knows and every sub-blob the root names was read: what a
    check relies on.
    """
    from pmpoolctl.kho.tree import load_kho as load
    from pmpoolctl.kho.tree import require_complete, require_known

    state = load(_path(path), byte_order)
    if checked:
        require_known(state)
        require_complete(state)
    return state


def booted_kho() -> tuple[KhoHandover | None, str | None]:
    """The handover this kernel was booted with (x86 setup_data type 10, or /chosen/linux,kho-fdt),
    and the path of the incoming state (kernel/debug/kho/in) when debugfs shows it."""
    from pmpoolctl.kho.booted import booted_kho as booted

    return booted()


def validate_kho(
    path: PathArg,
    memmaps: Sequence[PathArg | MemoryMap] = (),
    *,
    memmap_format: str | None = None,
    live: bool = False,
    byte_order: str = "little",
    page_size: int = DEFAULT_PAGE_SIZE,
    next_cmdline: NextCmdline | str | None = None,
    next_kernel: PathArg | None = None,
    phys_bits: int | None = None,
    progress: Progress | None = None,
) -> Validation:
    """Check the KHO state in `path` before kexec: its regions against the maps, its state, the next kernel.

    ValueError without a map (`memmaps` or `live`): a KHO tree has no memory nodes.
    `next_cmdline` (the next kernel's command line, text or parsed) must request every
    reserve_mem region; `next_kernel` (an image) must know every ABI the state carries.
    """
    from pmpoolctl.check import coverage
    from pmpoolctl.files.inputs import display_name
    from pmpoolctl.kho.checks import as_pool, scratch_zone, state_findings

    if not memmaps and not live:
        raise ValueError("validate_kho needs a memory map: memmaps or live (a KHO tree has no memory nodes)")
    path = _path(path)
    source = display_name(path)
    phys_bits = live_phys_bits(phys_bits, live)
    if isinstance(next_cmdline, str):
        from pmpoolctl.kho.cmdline import parse_next_cmdline

        next_cmdline = parse_next_cmdline(os.fsencode(next_cmdline), "next_cmdline")
    state = load_kho(path, byte_order, checked=True)
    maps = load_memory_maps(memmaps, memmap_format, live=live)
    if not any(m.lists_ram for m in maps):
        from pmpoolctl.errors import InputError

        raise InputError(
            f"{maps[0].source}: a kexec segment list is no map of RAM, and a KHO tree has no memory nodes: "
            "give a map of RAM too (--memmap SRC or --live)"
        )
    extra = state_findings(state)
    image = None
    if next_kernel is not None:
        from pmpoolctl.kho.kernelimage import scan_image
        from pmpoolctl.kho.nextkernel import image_finding, needed_compatibles, root_alternatives

        needed = needed_compatibles(state)
        image = scan_image(_path(next_kernel), [*needed, *state.compatibles])
        found = image_finding(image, needed, root_alternatives(state))
        extra += [] if found is None else [found]
    if next_cmdline is not None:
        from pmpoolctl.kho.nextkernel import cmdline_findings, kho_default

        extra += cmdline_findings(state, next_cmdline, kho_default(image))
    unchecked = coverage.not_checked(maps)
    if state.scratch is None:
        unchecked += (
            (
                "range-in-kho-scratch",
                f"{source} has no scratch_phys/scratch_len (a root FDT, or kho/in): "
                "range-in-kho-scratch is not checked",
            ),
        )
    import dataclasses

    zones = [scratch_zone(state)]
    not_requested = coverage.not_requested(
        maps,
        phys_bits,
        zones,
        next_kernel=next_kernel is not None,
        command="kho validate",
        next_cmdline=next_cmdline is not None,
    )
    given = _Inputs(phys_bits, maps, zones, extra, unchecked, not_requested)
    checked = _checked(as_pool(state, page_size), maps, [], source, phys_bits, progress, given)
    return dataclasses.replace(checked, kho_root_sha256=state.root_sha256)
