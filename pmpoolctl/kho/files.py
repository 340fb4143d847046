"""Where KHO state is read from: a kho/out-like directory on disk, or the copy a host capture holds.

`tree.load_kho_files` reads through `KhoFiles` only, by names relative to the directory
(`fdt`, `scratch_phys`, `sub_fdts/memblock`), so the same reader and the same checks serve
`--kho DIR` and `validate --memmap CAPTURE` (whose `kho.files` are the directory's files as
`pmpoolctl capture` copied them). `path` is how a file is named in the state and in messages:
the file's path, or `CAPTURE#kho/fdt`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Protocol

from pmpoolctl.dtb.format import MAX_BLOB_SIZE
from pmpoolctl.errors import InputError
from pmpoolctl.files.inputs import display_name, open_input, read_blob_bytes, read_input, too_large

_COUNT_CHUNK = 1 << 20


class KhoFiles(Protocol):
    @property
    def where(self) -> str:
        """The directory itself: as given (`--kho DIR`), or `CAPTURE#kho`."""

    def path(self, name: str) -> str:
        """How the file `name` is named: in the state, and (through display_name) in messages."""

    def exists(self, name: str) -> bool:
        """Whether anything is there (a dangling link too: it is refused when read)."""

    def is_file(self, name: str) -> bool: ...

    def is_dir(self, name: str) -> bool: ...

    def names(self, name: str) -> list[str]:
        """The names in the directory `name`, sorted."""

    def read(self, name: str, limit: int) -> bytes:
        """The file's bytes, refused past `limit`."""

    def read_blob(self, name: str) -> bytes:
        """An FDT's bytes (`inputs.read_blob_bytes`: the header's totalsize of them)."""

    def head(self, name: str, limit: int) -> tuple[bytes, int]:
        """The file's first `limit` bytes and its size."""


class DiskFiles:
    """A directory laid out like /sys/kernel/debug/kho/out (or kho/in)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    @property
    def where(self) -> str:
        return self.directory

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def exists(self, name: str) -> bool:
        return os.path.lexists(self.path(name))

    def is_file(self, name: str) -> bool:
        return os.path.isfile(self.path(name))

    def is_dir(self, name: str) -> bool:
        return os.path.isdir(self.path(name))

    def names(self, name: str) -> list[str]:
        try:
            return sorted(os.listdir(self.path(name)))
        except OSError as exc:
            raise InputError(f"{display_name(self.path(name))}: cannot list: {exc.strerror}") from exc

    def read(self, name: str, limit: int) -> bytes:
        return read_input(self.path(name), limit)

    def read_blob(self, name: str) -> bytes:
        return read_blob_bytes(self.path(name))

    def head(self, name: str, limit: int) -> tuple[bytes, int]:
        """The size is what reading gives, not the file system's word for it: debugfs blob files
        (every kho/out/sub_fdts/NAME) report a size of 0 (`debugfs_create_blob` sets no i_size)."""
        path = self.path(name)
        shown = display_name(path)
        try:
            with open_input(path, shown) as stream:  # a regular file, or refused (a FIFO would block)
                data = stream.read(limit + 1)
                if len(data) <= limit:
                    return data, len(data)
                reported = os.fstat(stream.fileno()).st_size
                if reported > limit:  # a file on disk says how long it is: a sparse 100 GiB file is not read
                    return data[:limit], reported
                size = len(data)
                while chunk := stream.read(_COUNT_CHUNK):  # a file system that gives no size: count, bounded
                    size += len(chunk)
                    if size > MAX_BLOB_SIZE:
                        raise too_large(shown, MAX_BLOB_SIZE)
                return data[:limit], size
        except OSError as exc:
            raise InputError(f"{shown}: cannot read: {exc.strerror or exc}") from exc


class CapturedFiles:
    """A host capture's copy of kho/out: each file's bytes by its name there (`fdt`, `sub_fdts/LUO`;
    `capture.parse_capture` takes no other names)."""

    def __init__(self, files: Mapping[str, bytes], source: str) -> None:
        self.files = files
        self.source = source  # the capture's part, `CAPTURE#kho`
        # Each folder's names, made once: a root that names many users asks about each.
        listing: dict[str, set[str]] = {}
        for key in files:
            folder, _, name = key.rpartition("/")
            if folder:
                listing.setdefault(folder, set()).add(name)
        self._listing = {folder: sorted(names) for folder, names in listing.items()}

    @property
    def where(self) -> str:
        return self.source

    def path(self, name: str) -> str:
        return f"{self.source}/{name}"

    def exists(self, name: str) -> bool:
        return name in self.files or self.is_dir(name)

    def is_file(self, name: str) -> bool:
        return name in self.files

    def is_dir(self, name: str) -> bool:
        return name in self._listing

    def names(self, name: str) -> list[str]:
        return list(self._listing.get(name, ()))

    def read(self, name: str, limit: int) -> bytes:
        data = self._data(name)
        if len(data) > limit:
            raise too_large(display_name(self.path(name)), limit)
        return data

    def read_blob(self, name: str) -> bytes:
        return self._data(name)

    def head(self, name: str, limit: int) -> tuple[bytes, int]:
        data = self._data(name)
        return data[:limit], len(data)

    def _data(self, name: str) -> bytes:
        data = self.files.get(name)
        if data is None:
            raise InputError(f"{display_name(self.path(name))}: not in the capture")
        return data
