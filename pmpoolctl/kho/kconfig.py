"""Whether the running kernel turns KHO on when its command line says nothing: its build config.

`kho_enable` starts as `IS_ENABLED(CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT)` and only `kho=`
changes it (kernel/liveupdate/kexec_handover.c). A kernel built so, whose debugfs does not show
kho/out (debugfs not mounted, or CONFIG_KEXEC_HANDOVER_DEBUGFS off), has KHO on with nothing
of it to read; the config is where that shows. It is read from /proc/config.gz
(CONFIG_IKCONFIG_PROC) or /boot/config-RELEASE, where distributions install it.
"""

from __future__ import annotations

import os
import zlib

from pmpoolctl.errors import InputError
from pmpoolctl.files.inputs import read_input

ENABLE_DEFAULT = "CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT"
# A kernel config is some 300 KiB; a file that inflates past this is no config.
MAX_CONFIG_BYTES = 16 << 20


def live_config_paths() -> tuple[str, ...]:
    """Where this host's kernel config may be, first found first."""
    return ("/proc/config.gz", f"/boot/config-{os.uname().release}")


def config_text(path: str) -> str:
    """The text of a kernel config, inflated when gzipped (`/proc/config.gz`), bounded either way."""
    raw = read_input(path, MAX_CONFIG_BYTES)
    if raw[:2] == b"\x1f\x8b":
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(raw, MAX_CONFIG_BYTES + 1)
        except zlib.error as exc:
            raise InputError(f"{path}: not a gzipped kernel config: {exc}") from exc
        if len(raw) > MAX_CONFIG_BYTES:
            raise InputError(f"{path}: inflates past {MAX_CONFIG_BYTES} bytes: not a kernel config")
    return raw.decode("utf-8", "replace")


def kho_on_by_default(paths: tuple[str, ...] | None = None) -> tuple[bool, str] | None:
    """(whether the kernel turns KHO on by default, the config that says so); None when no config reads.

    A config that does not read (gone, unreadable, corrupt) is passed over for the next: this is
    only ever read to say more than the command line does.
    """
    for path in live_config_paths() if paths is None else paths:
        if not os.path.isfile(path):
            continue
        try:
            text = config_text(path)
        except InputError:
            continue
        return any(line.strip() == f"{ENABLE_DEFAULT}=y" for line in text.splitlines()), path
    return None
