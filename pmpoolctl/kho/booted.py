"""What the running kernel was booted with: its device tree and its incoming KHO handover.

- `/sys/firmware/fdt`: the flattened device tree the kernel was booted with (DT
  architectures; x86 too when it was given one). On arm64 and RISC-V a KHO boot is
  `/chosen/linux,kho-fdt` and `/chosen/linux,kho-scratch` in it, each `<address size>`
  in the root's #address-cells/#size-cells (`drivers/of/kexec.c` writes them,
  `drivers/of/fdt.c` reads them).
- `/sys/kernel/boot_params/setup_data/N/{type,data}` (x86): each setup_data entry the
  boot loader or kexec passed, `type` printed as `0x%x`. Type 2 (`SETUP_DTB`) is a
  device tree; type 10 (`SETUP_KEXEC_KHO`) is `struct kho_data { u64 fdt_addr, fdt_size,
  scratch_addr, scratch_size; }` (uapi `asm/setup_data.h`), little-endian.
- `/sys/kernel/debug/kho/in`: the incoming KHO state itself, when debugfs shows it.

The sysfs root is `/sys`, or `$PMPOOLCTL_SYSFS` when set (debugfs is read at its
`kernel/debug`): tests, and a saved copy of another machine's sysfs, use it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from pmpoolctl.dtb.model import Blob
from pmpoolctl.dtb.reader import KERNEL_NAMES, parse_blob
from pmpoolctl.errors import InputError
from pmpoolctl.files.inputs import display_name, read_blob_bytes, read_input

SYSFS_ENVIRONMENT = "PMPOOLCTL_SYSFS"
SETUP_DTB = 2
SETUP_KEXEC_KHO = 10
KHO_DATA_SIZE = 32  # four u64s
_TYPE = re.compile(r"0x[0-9a-fA-F]{1,8}\Z")


def sysfs_root() -> str:
    return os.environ.get(SYSFS_ENVIRONMENT) or "/sys"


def _path(*parts: str) -> str:
    return os.path.join(sysfs_root(), *parts)


@dataclass(frozen=True)
class SetupData:
    index: int
    type: int
    data_path: str


def setup_data() -> list[SetupData]:
    """The x86 setup_data entries this kernel was booted with, in order (none elsewhere)."""
    directory = _path("kernel", "boot_params", "setup_data")
    if not os.path.isdir(directory):
        return []
    try:
        names = os.listdir(directory)
    except OSError as exc:
        raise InputError(f"{display_name(directory)}: cannot list: {exc.strerror}") from exc
    entries = []
    for name in sorted((n for n in names if n.isascii() and n.isdecimal()), key=int):
        type_path = os.path.join(directory, name, "type")
        text = read_input(type_path, 64).decode("ascii", "replace").strip()
        if not _TYPE.match(text):
            raise InputError(f"{display_name(type_path)}:1: {text[:20]!r} is not a setup_data type (0x%x)")
        entries.append(SetupData(int(name), int(text, 16), os.path.join(directory, name, "data")))
    return entries


def booted_fdt() -> tuple[bytes, str]:
    """The device tree this kernel was booted with, and where it was read."""
    firmware = _path("firmware", "fdt")
    if os.path.isfile(firmware):
        return read_blob_bytes(firmware), firmware
    for entry in setup_data():
        if entry.type == SETUP_DTB:
            return read_blob_bytes(entry.data_path), entry.data_path
    raise InputError(
        f"{display_name(firmware)}: no such file, and no setup_data of type {SETUP_DTB} (SETUP_DTB) in "
        f"{display_name(_path('kernel', 'boot_params', 'setup_data'))}: this kernel was booted without a device tree"
    )


@dataclass(frozen=True)
class KhoHandover:
    """Where the previous kernel put the handover this one was booted with."""

    source: str
    fdt_address: int
    fdt_size: int
    scratch_address: int  # of the array of struct kho_scratch { addr, size } the next kernel boots in
    scratch_size: int


def _from_setup_data(entry: SetupData) -> KhoHandover:
    data = read_input(entry.data_path, 4096)
    if len(data) < KHO_DATA_SIZE:
        raise InputError(
            f"{display_name(entry.data_path)}: {len(data)} bytes: SETUP_KEXEC_KHO data is {KHO_DATA_SIZE} "
            "(u64 fdt_addr, fdt_size, scratch_addr, scratch_size)"
        )
    words = [int.from_bytes(data[i : i + 8], "little") for i in range(0, KHO_DATA_SIZE, 8)]
    return KhoHandover(entry.data_path, *words)


def _cells(value: bytes, address_cells: int, size_cells: int, where: str) -> tuple[int, int]:
    if len(value) != 4 * (address_cells + size_cells):
        raise InputError(f"{where} is {len(value)} bytes, not <address size> in {address_cells} + {size_cells} cells")
    split = 4 * address_cells
    return int.from_bytes(value[:split], "big"), int.from_bytes(value[split:], "big")


def _root_cells(blob: Blob, name: str, default: int) -> int:
    prop = blob.root.property(name)
    if prop is None:
        return default
    value = blob.value(prop)
    if len(value) != 4 or not 1 <= int.from_bytes(value, "big") <= 4:
        raise InputError(f"{blob.source}: / {name} is not a u32 of 1 to 4 (at byte offset {prop.offset:#x})")
    return int.from_bytes(value, "big")


def _from_chosen(path: str) -> KhoHandover | None:
    blob = parse_blob(read_blob_bytes(path), display_name(path), names=KERNEL_NAMES)
    chosen = blob.child(blob.root, "chosen")
    if chosen is None:
        return None
    properties = [chosen.property(n) for n in ("linux,kho-fdt", "linux,kho-scratch")]
    if properties[0] is None and properties[1] is None:
        return None
    cells = (_root_cells(blob, "#address-cells", 2), _root_cells(blob, "#size-cells", 1))
    pairs = []
    for name, prop in zip(("linux,kho-fdt", "linux,kho-scratch"), properties):
        where = f"{display_name(path)}: /chosen/{name}"
        if prop is None:
            raise InputError(f"{where}: missing, though its partner is there")
        pairs.append(_cells(blob.value(prop), cells[0], cells[1], where))
    return KhoHandover(f"{display_name(path)}:/chosen", *pairs[0], *pairs[1])


def booted_kho() -> tuple[KhoHandover | None, str | None]:
    """The handover this kernel was booted with (None: not a KHO boot), and debugfs kho/in if it is there."""
    handover = None
    for entry in setup_data():
        if entry.type == SETUP_KEXEC_KHO:
            handover = _from_setup_data(entry)
            break
    firmware = _path("firmware", "fdt")
    if handover is None and os.path.isfile(firmware):
        handover = _from_chosen(firmware)
    incoming = _path("kernel", "debug", "kho", "in")
    return handover, incoming if os.path.isfile(os.path.join(incoming, "fdt")) else None
