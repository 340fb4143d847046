"""Reading KHO state: the root FDT, every user's sub-blob, scratch areas and finalize.

PATH is a root FDT file, or a directory laid out like /sys/kernel/debug/kho/out
(or `in`): a file `fdt`, a folder `sub_fdts/` with a file per user (an FDT, or
from kho-v3 a blob of any format, `blob-size` bytes), and in `out` the files
`scratch_phys`, `scratch_len` and (up to 7.0) `finalize`. The root and every FDT
are read with the kernel's naming rules (`blob.KERNEL_NAMES`).

For a root version this pmpoolctl knows (`abi.ROOT_ABIS`) any missing property,
wrong length or unreadable sub-blob is an InputError naming the file and the
property. A version it does not know is decoded as far as the common layout goes
(`preserved-memory-map`, `fdt` or `preserved-data`, `blob-size`): what does not fit
is noted, not refused, so that `kho dump` can show it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field

from pmpoolctl.dtb.model import Blob, Node
from pmpoolctl.dtb.reader import KERNEL_NAMES, parse_blob
from pmpoolctl.errors import InputError
from pmpoolctl.files.inputs import STDIN, display_name, read_blob_bytes
from pmpoolctl.files.sniff import is_fdt
from pmpoolctl.kho import abi as kho_abi
from pmpoolctl.kho import blobs
from pmpoolctl.kho.abi import PROP_DATA, PROP_FDT, PROP_MEMORY_MAP, PROP_SIZE, RootCompatible
from pmpoolctl.kho.blobs import KexecMetadata, Luo, ReserveMem
from pmpoolctl.kho.files import DiskFiles, KhoFiles
from pmpoolctl.kho.scratch import ScratchArea, read_scratch
from pmpoolctl.kho.values import first_string, optional_u64, raw_name, require_u64, strings, u64_value
from pmpoolctl.numbers import U64_LIMIT
from pmpoolctl.ranges.rangeset import Range

ROOT_FILE = "fdt"
SUB_FDTS = "sub_fdts"
FINALIZE = "finalize"
FDT = "fdt"
RAW = "blob"
_RAW_READ_LIMIT = 1 << 20  # of a raw blob only what is decoded is read; its size comes from the file system


@dataclass(frozen=True)
class SubBlob:
    """A KHO user: its node in the root, and its sub-blob when one was found under sub_fdts/."""

    name: str
    address: int | None  # None: a file in sub_fdts/ with no node in the root (or no address in it)
    size: int | None = None  # the root's blob-size (kho-v3+), None when it has none
    file: str | None = None  # the file read, if any
    format: str | None = None  # FDT or RAW once read
    compatible: str | None = None  # of an FDT: its root's first compatible
    compatibles: tuple[str, ...] = ()  # every compatible the sub-FDT holds (root, children): what it needs
    file_size: int | None = None  # bytes of the file (of an FDT: its totalsize)
    reserve_mem: list[ReserveMem] | None = None  # memblock's regions; None for other users
    luo: Luo | None = None
    kexec_metadata: KexecMetadata | None = None

    @property
    def extent(self) -> Range | None:
        """The memory KHO preserves for the sub-blob, when its address and size are known.

        That is more than the blob's bytes: `kho_alloc_preserve` (and every user's own page or
        folio before it) preserves a power-of-two number of pages, so an 8448-byte blob holds
        16 KiB. Pages of 4 KiB, the least any kernel has.
        """
        size = self.size if self.size is not None else self.file_size
        if self.address is None or not size:
            return None
        preserved = min(preserved_bytes(size), U64_LIMIT - self.address)
        return Range(self.address, preserved) if preserved > 0 else None


KERNEL_PAGE = 4096  # the least page size a kernel preserves in


def preserved_bytes(size: int) -> int:
    """The bytes of the power-of-two run of pages that holds `size` bytes (`get_order`)."""
    pages = -(-size // KERNEL_PAGE)
    return KERNEL_PAGE << (pages - 1).bit_length()


@dataclass(frozen=True)
class KhoState:
    source: str  # PATH as given
    root_file: str
    root: RootCompatible
    compatibles: tuple[str, ...]  # every string of the root's compatible
    preserved_memory_map: int | None  # None only for a version this pmpoolctl does not know
    subtrees: list[SubBlob]
    byte_order: str
    sub_dir: str | None = None  # the sub_fdts/ directory read, if any
    scratch: list[ScratchArea] | None = None  # None: not in PATH (a root FDT, or kho/in)
    finalized: bool | None = None  # kho/out/finalize, where it exists (up to 7.0)
    notes: list[str] = field(default_factory=list)  # what an unknown version's root did not fit
    root_sha256: str | None = None  # of the root FDT read (its totalsize bytes), for reports

    @property
    def abi(self) -> kho_abi.RootAbi | None:
        return self.root.abi

    @property
    def known(self) -> bool:
        return self.abi is not None

    def reserve_mem(self) -> list[ReserveMem]:
        return [region for tree in self.subtrees for region in tree.reserve_mem or ()]


def _file_name(name: bytes) -> str | None:
    """The debugfs file a user's node name makes, or None when no file can have that name."""
    if not name or b"/" in name or name in (b".", b".."):
        return None  # debugfs_create_blob fails on these: the kernel hands the blob over, but shows no file
    return os.fsdecode(name)


def _sub_fdt_compatibles(blob: Blob) -> tuple[str, ...]:
    found: list[str] = []
    for node in blob.nodes:
        value = first_string(blob, node, "compatible")
        if value is not None and value not in found:
            found.append(value)
    return tuple(found)


def _read_sub_blob(files: KhoFiles, file: str, base: SubBlob, raw_allowed: bool, byte_order: str) -> SubBlob:
    path = files.path(file)
    name = display_name(path)
    head, file_size = files.head(file, _RAW_READ_LIMIT)
    if base.size is not None and file_size != base.size:
        raise InputError(
            f"{name}: {file_size} bytes, but the root's blob-size for {base.name!r} is {base.size}: this is not the "
            "blob the kernel hands over (a truncated or stale copy)"
        )
    if not is_fdt(head) and raw_allowed and base.name != blobs.MEMBLOCK_NAME:  # memblock's is an FDT in every version
        metadata = None
        if base.name == blobs.KEXEC_METADATA_NAME:
            metadata = blobs.kexec_metadata(head, name, byte_order)
        return dataclasses.replace(base, file=path, format=RAW, file_size=file_size, kexec_metadata=metadata)
    blob = parse_blob(files.read_blob(file), name, names=KERNEL_NAMES)  # not an FDT: refused here, naming it
    compatible = first_string(blob, blob.root, "compatible")
    regions = luo = None
    if blobs.MEMBLOCK_COMPATIBLE in strings(blob, blob.root, "compatible"):  # as the kernel matches it
        regions = blobs.reserve_mem_regions(blob, byte_order)
    elif base.name == blobs.MEMBLOCK_NAME:
        raise InputError(
            f"{name}: compatible {compatible!r}, not {blobs.MEMBLOCK_COMPATIBLE!r}: the reserve_mem regions "
            "cannot be read, and their pages are preserved all the same"
        )
    elif base.name == blobs.LUO_NAME:
        luo = blobs.luo_state(blob, byte_order)
    return dataclasses.replace(
        base,
        file=path,
        format=FDT,
        compatible=compatible,
        compatibles=_sub_fdt_compatibles(blob),
        file_size=blob.header.totalsize if base.size is None else file_size,
        reserve_mem=regions,
        luo=luo,
    )


def _user(root: Blob, node: Node, state_abi: kho_abi.RootAbi | None, byte_order: str, notes: list[str]) -> SubBlob:
    """A user's node in the root: its sub-blob's address and, where the version has it, its size."""
    if state_abi is not None:
        address = require_u64(
            root, node, state_abi.data_property, byte_order, what="the physical address of the user's sub-blob"
        )
        if state_abi.size_required:
            size: int | None = require_u64(root, node, PROP_SIZE, byte_order, what="the size of the user's sub-blob")
        else:
            size = optional_u64(root, node, PROP_SIZE, byte_order) if state_abi.data_property == PROP_DATA else None
        return SubBlob(node.name, address, size)
    where = f"{root.source}: {root.path(node)}"
    values = {p: u64_value(root, node, p, byte_order) for p in (PROP_FDT, PROP_DATA, PROP_SIZE)}
    notes.extend(f"{where}: {value}" for value in values.values() if isinstance(value, str))
    found = [v for p, v in values.items() if p != PROP_SIZE and isinstance(v, int)]
    if not found:
        notes.append(f"{where}: neither '{PROP_FDT}' nor '{PROP_DATA}' holds a u64 address")
    size_value = values[PROP_SIZE]
    return SubBlob(node.name, found[0] if found else None, size_value if isinstance(size_value, int) else None)


def _missing_root(files: KhoFiles) -> InputError:
    """The message for a directory without `fdt`: in a kho/out it names what causes that."""
    where = display_name(files.where)
    if not any(files.exists(name) for name in ("scratch_phys", FINALIZE, SUB_FDTS)):
        return InputError(f"{where}: no root FDT '{ROOT_FILE}' in this directory (expected a kho/out layout)")
    return InputError(
        f"{where}: no root FDT '{ROOT_FILE}': either a 6.16-6.18 kernel has not finalized yet "
        "(echo 1 > /sys/kernel/debug/kho/out/finalize, then copy again), or this kernel was itself booted "
        "through KHO, which does not show its outgoing FDT (its incoming state is in kho/in)"
    )


def _read_finalize(files: KhoFiles) -> bool | None:
    if not files.exists(FINALIZE):
        return None
    name = display_name(files.path(FINALIZE))
    text = files.read(FINALIZE, 64).decode("ascii", "replace").strip()
    if text not in ("0", "1"):
        raise InputError(f"{name}:1: {text[:20]!r} is not 0 or 1 (the kernel prints whether KHO is finalized)")
    return text == "1"


def load_kho(path: str, byte_order: str = "little") -> KhoState:
    """Read a KHO root FDT, or a kho/out- or kho/in-style directory with its sub-blobs."""
    if os.path.isdir(path):
        return load_kho_files(DiskFiles(path), byte_order)
    root = parse_blob(read_blob_bytes(path), display_name(path), names=KERNEL_NAMES)
    source = display_name(path) if path == STDIN else path  # `<stdin>`, as `dump -` names it
    return _state(root, source, path, byte_order)


def load_kho_files(files: KhoFiles, byte_order: str = "little") -> KhoState:
    """Read a kho/out- or kho/in-style directory (on disk, or a host capture's copy) with its sub-blobs."""
    if not files.exists(ROOT_FILE):
        raise _missing_root(files)
    sub_dir = SUB_FDTS if files.is_dir(SUB_FDTS) else None  # None: a root alone, users listed by address
    scratch = read_scratch(files)
    finalized = _read_finalize(files)
    _refuse_a_root_debugfs_cut(files)
    root = parse_blob(files.read_blob(ROOT_FILE), display_name(files.path(ROOT_FILE)), names=KERNEL_NAMES)
    return _state(root, files.where, files.path(ROOT_FILE), byte_order, files, sub_dir, scratch, finalized)


def _refuse_a_root_debugfs_cut(files: KhoFiles) -> None:
    """A root FDT shorter than its header says, refused saying why a kernel's kho/out shows one.

    From 6.19 the root is made at boot and its debugfs file made then, with the size it had
    (debugfs_create_blob keeps `fdt_totalsize` of that moment); each user added since
    (kho_add_subtree: memblock, LUO, ...) grows the root in place, and reading the file still
    gives only the first bytes. What is cut off (the users' nodes, the strings) cannot be had
    from debugfs, so the state is refused as any truncated root is, with the reason.
    """
    head, size = files.head(ROOT_FILE, 8)
    if len(head) < 8 or not is_fdt(head):
        return  # not an FDT: parse_blob says what it is
    totalsize = int.from_bytes(head[4:8], "big")
    if size >= totalsize:
        return
    raise InputError(
        f"{display_name(files.path(ROOT_FILE))}: {size} bytes, but its header's totalsize (at byte offset 0x4) "
        f"is {totalsize}: the root FDT is cut short. A kernel that makes kho/out/fdt at boot (6.19 and later) "
        "keeps the size the root had then, and users added since (memblock, LUO, ...) made it larger, so "
        "debugfs shows only its first bytes: the state cannot be read from debugfs on such a kernel "
        "(a copy cut short reads the same)"
    )


def _state(
    root: Blob,
    source: str,
    root_file: str,
    byte_order: str,
    files: KhoFiles | None = None,
    sub_dir: str | None = None,
    scratch: list[ScratchArea] | None = None,
    finalized: bool | None = None,
) -> KhoState:
    """The state `root` holds, with its users' sub-blobs read from `files`' `sub_dir` folder when there is one."""
    compatibles = tuple(strings(root, root.root, "compatible"))
    root_compatible = kho_abi.split_compatible(compatibles[0]) if compatibles else None
    if root_compatible is None or not root_compatible.version.startswith(kho_abi.VERSION_PREFIX):
        shown = "no compatible" if root_compatible is None else f"compatible {root_compatible.text!r}"
        raise InputError(f"{root.source}: not a KHO root FDT: it has {shown}, and a KHO root's is kho-vN")
    state_abi = None if root_compatible is None else root_compatible.abi
    notes: list[str] = []
    if state_abi is not None:
        memory_map: int | None = require_u64(
            root, root.root, PROP_MEMORY_MAP, byte_order, what="the preserved memory map's address"
        )
    else:
        value = u64_value(root, root.root, PROP_MEMORY_MAP, byte_order)
        memory_map = value if isinstance(value, int) else None
        if not isinstance(value, int):
            notes.append(f"{root.source}: / " + (value or f"has no '{PROP_MEMORY_MAP}'"))
    subtrees = []
    raw_names: set[bytes] = set()
    for node in root.children(root.root):
        user = _user(root, node, state_abi, byte_order, notes)
        name = raw_name(root, node)
        raw_names.add(name)
        subtrees.append(_with_file(user, name, files, sub_dir, _raw_allowed(state_abi, user), byte_order))
    if files is not None and sub_dir is not None:  # sub-blobs with no node in the root: the next kernel gets them
        for file_name in files.names(sub_dir):
            encoded = os.fsencode(file_name)
            if encoded not in raw_names and files.is_file(f"{sub_dir}/{file_name}"):
                orphan = SubBlob(display_name(file_name), None)
                allowed = state_abi is None or state_abi.data_property == PROP_DATA
                subtrees.append(_with_file(orphan, encoded, files, sub_dir, allowed, byte_order))
    return KhoState(
        source,
        root_file,
        root_compatible,
        compatibles,
        memory_map,
        subtrees,
        byte_order,
        None if files is None or sub_dir is None else files.path(sub_dir),
        scratch,
        finalized,
        notes,
        hashlib.sha256(root.data).hexdigest(),
    )


def _raw_allowed(state_abi: kho_abi.RootAbi | None, user: SubBlob) -> bool:
    """A sub-blob may be other than an FDT only where the root gives its size (kho-v3+, the interim v2)."""
    return user.size is not None or (state_abi is None and user.address is not None)


def _with_file(
    user: SubBlob, name: bytes, files: KhoFiles | None, sub_dir: str | None, raw_allowed: bool, byte_order: str
) -> SubBlob:
    file_name = _file_name(name)
    if files is None or sub_dir is None or file_name is None:
        return user
    file = f"{sub_dir}/{file_name}"
    if not files.exists(file):
        return user  # not here: listed by address; require_complete refuses to check without it
    return _read_sub_blob(files, file, user, raw_allowed, byte_order)


def load_sub_blobs(files: KhoFiles, byte_order: str = "little") -> list[SubBlob]:
    """The sub-blobs of a kho/out with no root FDT, each read by its file alone (so without its address).

    A kernel booted through KHO shows no kho/out/fdt (kho_init returns before adding it), yet hands
    over all the same, and its sub_fdts/ show each user's blob: memblock's regions, LUO's tables.
    """
    if not files.is_dir(SUB_FDTS):
        return []
    found = []
    for file_name in files.names(SUB_FDTS):
        if files.is_file(f"{SUB_FDTS}/{file_name}"):
            user = SubBlob(display_name(file_name), None)
            found.append(_with_file(user, os.fsencode(file_name), files, SUB_FDTS, True, byte_order))
    return found


def require_complete(state: KhoState) -> None:
    """Refuse state whose root names a user whose sub-blob was not read: checking it would check nothing.

    What the root hands over but this copy lacks cannot be held to any rule, so a check
    of it is never a pass (an InputError, exit 3).
    """
    missing = [tree for tree in state.subtrees if tree.address is not None and tree.file is None]
    if not missing:
        return
    names = ", ".join(repr(tree.name) for tree in missing)
    if state.sub_dir is None:
        raise InputError(
            f"{display_name(state.source)}: the root hands over {names}, whose sub-blobs are not here: "
            "give the whole kho/out directory (fdt and sub_fdts/), not the root FDT alone"
        )
    first = missing[0]
    raise InputError(
        f"{display_name(state.sub_dir + '/' + first.name)}: missing or not a file: the root hands over "
        f"{first.name!r} (sub-blob at {first.address:#x}), which cannot be checked without it"
        + (f" (nor {len(missing) - 1} more)" if len(missing) > 1 else "")
    )


def require_known(state: KhoState) -> None:
    """Refuse a root version this pmpoolctl does not know: the next kernel may not understand it either."""
    if state.known:
        return
    known = ", ".join(kho_abi.KNOWN_VERSIONS)
    compounds = ", ".join(
        ";".join((version, *parts)) for version, sets in kho_abi.KNOWN_COMPOUNDS.items() for parts in sorted(sets)
    )
    raise InputError(
        f"{display_name(state.root_file)}: root compatible {state.root.text!r} is not one this pmpoolctl knows "
        f"({known}, and the compounds {compounds}); the next kernel may not understand it either"
    )
