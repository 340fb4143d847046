"""Taking a host capture (`pmpoolctl capture OUT`): everything a validation on this host reads, in one JSON file.

What it holds and how it is read back: `capture`. The sources are `/proc` and `/sys`, or
`$PMPOOLCTL_PROC` and `$PMPOOLCTL_SYSFS`, and the kernel log `/dev/kmsg`, or `$PMPOOLCTL_KMSG`
(for tests, and for a saved copy of a host). Apart from `capture` so that reading a map
(every `validate`) does not import what taking one needs (sockets, subprocesses).
"""

from __future__ import annotations

import base64
import errno
import os
import shutil
import socket
import subprocess
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from pmpoolctl.errors import InputError
from pmpoolctl.files.inputs import decode_text, display_name, read_input
from pmpoolctl.kho.booted import sysfs_root  # $PMPOOLCTL_SYSFS, as kho reads it
from pmpoolctl.memmap.capture import KHO_NOT_ON_HOST, SCHEMA
from pmpoolctl.memmap.iomem import parse_iomem
from pmpoolctl.memmap.sysfs import SYSFS_ATTRIBUTE_LIMIT

PROC_ENVIRONMENT = "PMPOOLCTL_PROC"
KMSG_ENVIRONMENT = "PMPOOLCTL_KMSG"
BOOT_DIR = "/boot"  # where distributions install the kernel's config-RELEASE

MAX_TEXT = 64 << 20  # /proc/iomem of the largest machines is a few MB
MAX_KMSG = 64 << 20
MAX_KHO_FILE = 16 << 20
# Kernel log lines the e820 reader reads: the banner that starts a boot, the table headers, every
# `WHO: [mem …]` and `[gap …]` line (whoever prints it: BIOS-e820, reserve setup_data, user, Xen, …),
# the updates, and the quirks that reserve RAM without an update line (Intel graphics stolen memory,
# the GART aperture, the Pentium Pro hole), and `Memory: …K/…K available`, which says the boot got past
# its last e820 change, and what says the EFI map was added unprinted (the command line, the EFI banner).
# A few other lines hold `: [mem ` too; the e820 reader skips them as it does in dmesg.
_E820_WORDS = (
    "e820",
    "BIOS-",
    "RAM map",
    "Linux version",
    ": [mem ",
    ": [gap ",
    "-- Boot ",
    "-- Reboot --",
    "Reserving Intel graphics",
    "Mapping aperture over RAM",
    "PPro RAM bug",
    "Memory: ",
    "Command line: ",
    "efi: EFI v",
)


def proc_root() -> str:
    return os.environ.get(PROC_ENVIRONMENT) or "/proc"


def kmsg_path() -> str:
    return os.environ.get(KMSG_ENVIRONMENT) or "/dev/kmsg"


def take_capture(now: Callable[[], datetime] | None = None) -> dict[str, Any]:
    """This host's capture, as the JSON document to write (schema first)."""
    from pmpoolctl.memmap.sources import cpu_phys_bits

    proc, sysfs = proc_root(), sysfs_root()
    when = (now or (lambda: datetime.now(timezone.utc)))()
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "host": socket.gethostname(),
        "time": when.isoformat(timespec="seconds"),
        "kernel": os.uname().release,
    }
    document["iomem"] = _text_source(os.path.join(proc, "iomem"))
    if "text" in document["iomem"]:
        try:
            parse_iomem(document["iomem"]["text"], "iomem")
        except InputError as exc:  # kept as read: reading the capture back refuses it, as --live would
            document["iomem"]["note"] = f"{exc}; validating against this capture is refused"
    document["firmware_memmap"] = _firmware_memmap(os.path.join(sysfs, "firmware", "memmap"))
    document["e820"] = _e820_lines()
    cpuinfo = os.path.join(proc, "cpuinfo")
    if not os.path.lexists(cpuinfo):
        document["phys_bits"] = {"path": cpuinfo, "missing": "not on this host"}
    else:
        try:
            bits = cpu_phys_bits(cpuinfo)
            document["phys_bits"] = (
                {"path": cpuinfo, "bits": bits}
                if bits is not None
                else {"path": cpuinfo, "bits": None, "note": "no 'address sizes' line (arm64 prints none)"}
            )
        except InputError as exc:
            document["phys_bits"] = {"path": cpuinfo, "missing": str(exc)}
    document["cmdline"] = _text_source(os.path.join(proc, "cmdline"))
    document["kernel_config"] = _kernel_config(proc)
    document["kho"] = _kho(os.path.join(sysfs, "kernel", "debug", "kho", "out"))
    return document


def _kernel_config(proc: str) -> dict[str, Any]:
    """Whether the kernel turns KHO on by default (`kho_enable` when no kho= says otherwise).

    Not among what a capture says it could not read: like `--live`, with no config and no kho= it
    takes KHO to be off."""
    from pmpoolctl.kho.kconfig import kho_on_by_default

    paths = (os.path.join(proc, "config.gz"), os.path.join(BOOT_DIR, f"config-{os.uname().release}"))
    found = kho_on_by_default(paths)
    if found is None:
        return {"paths": list(paths), "missing": "no kernel config that reads"}
    return {"path": found[1], "kho_on_by_default": found[0]}


def missing_sources(document: dict[str, Any]) -> list[str]:
    """What a capture could not read (or read and cannot use), one line each (said when it is taken)."""
    notes = []
    for key in ("iomem", "firmware_memmap", "e820", "phys_bits", "cmdline", "kho"):
        part = document.get(key)
        if isinstance(part, dict) and "missing" in part:
            notes.append(f"{key}: {part['missing']}")
        elif key == "iomem" and isinstance(part, dict) and "note" in part:
            notes.append(f"{key}: {part['note']}")
    return notes


def _read_text(path: str, limit: int = MAX_TEXT) -> str:
    return decode_text(read_input(path, limit), display_name(path))


def _text_source(path: str) -> dict[str, Any]:
    if not os.path.lexists(path):
        return {"path": path, "missing": "not on this host"}
    try:
        return {"path": path, "text": _read_text(path)}
    except InputError as exc:
        return {"path": path, "missing": str(exc)}


def _firmware_memmap(directory: str) -> dict[str, Any]:
    if not os.path.isdir(directory):
        return {"path": directory, "missing": "not on this host (the kernel has no CONFIG_FIRMWARE_MEMMAP, or not x86)"}
    try:
        names = sorted((n for n in os.listdir(directory) if n.isascii() and n.isdigit()), key=int)
        entries = []
        for name in names:
            fields = {
                f: _read_text(os.path.join(directory, name, f), SYSFS_ATTRIBUTE_LIMIT).strip()
                for f in ("start", "end", "type")
            }
            entries.append({"entry": name, **fields})
    except (OSError, InputError) as exc:
        return {"path": directory, "missing": str(exc)}
    return {"path": directory, "entries": entries}


def _e820_lines() -> dict[str, Any]:
    """This boot's kernel log lines that the e820 reader reads: from the kernel log device, else dmesg."""
    path = kmsg_path()
    try:
        lines = _kmsg_lines(path)
        return {"path": path, "lines": [line for line in lines if any(w in line for w in _E820_WORDS)]}
    except OSError as exc:
        reason = f"{display_name(path)}: cannot read: {exc.strerror or exc}"
    dmesg = shutil.which("dmesg")
    if dmesg is None:
        return {"path": path, "missing": f"{reason}; no dmesg either"}
    try:
        run = subprocess.run([dmesg], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"path": path, "missing": f"{reason}; dmesg: {exc}"}
    if run.returncode != 0:
        said = run.stderr.decode("utf-8", "replace").strip().splitlines()
        return {"path": path, "missing": f"{reason}; dmesg: {said[0] if said else f'exit {run.returncode}'}"}
    text = run.stdout.decode("utf-8", "replace")
    return {"path": "dmesg", "lines": [line for line in text.splitlines() if any(w in line for w in _E820_WORDS)]}


def _kmsg_lines(path: str) -> list[str]:
    """The kernel log's records as dmesg prints them (`[seconds] message`); a regular file is read whole.

    /dev/kmsg gives one record a read and EAGAIN at the end of the buffer; EPIPE says records
    were overwritten meanwhile (the read goes on from the next one).
    """
    if os.path.isfile(path):  # a saved copy: read whole, as any input
        return [_as_dmesg(line) for line in _read_text(path, MAX_KMSG).splitlines()]
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    records: list[bytes] = []
    try:
        total = 0
        while total <= MAX_KMSG:
            try:
                record = os.read(fd, 8192)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    continue
                raise
            if not record:
                break
            records.append(record.rstrip(b"\n"))
            total += len(record)
    finally:
        os.close(fd)
    return [_as_dmesg(r.decode("utf-8", "replace")) for r in records]


def _as_dmesg(record: str) -> str:
    """A /dev/kmsg record `PRI,SEQ,USEC,FLAGS[,...];MESSAGE` as dmesg's `[    S.UUUUUU] MESSAGE`."""
    head, semicolon, message = record.partition(";")
    fields = head.split(",")
    if not semicolon or len(fields) < 4 or not fields[2].isdigit():
        return record  # not a record (a continuation line, a copied log): as it is
    usec = int(fields[2])
    return f"[{usec // 1_000_000:5d}.{usec % 1_000_000:06d}] {message}"


def _kho(directory: str) -> dict[str, Any]:
    from pmpoolctl.kho.files import DiskFiles
    from pmpoolctl.kho.scratch import read_scratch

    if not os.path.isdir(directory):
        return {"path": directory, "missing": KHO_NOT_ON_HOST}
    found: dict[str, Any] = {"path": directory}
    try:
        areas = read_scratch(DiskFiles(directory))
        found["scratch"] = None if areas is None else [{"start": a.start, "size": a.size} for a in areas]
        files = {}
        for relative in _kho_files(directory):
            files[relative] = base64.b64encode(read_input(os.path.join(directory, relative), MAX_KHO_FILE)).decode()
        found["files"] = files
    except (OSError, InputError) as exc:
        return {"path": directory, "missing": str(exc)}
    return found


def _kho_files(directory: str) -> list[str]:
    names = [
        n for n in ("fdt", "scratch_phys", "scratch_len", "finalize") if os.path.isfile(os.path.join(directory, n))
    ]
    sub = os.path.join(directory, "sub_fdts")
    if os.path.isdir(sub):
        names += [f"sub_fdts/{n}" for n in sorted(os.listdir(sub)) if os.path.isfile(os.path.join(sub, n))]
    return names
