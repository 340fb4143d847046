"""What a host's own KHO state holds a pool to, when no `--kho` names it: under `--live` the host's
kho/out (/sys/kernel/debug/kho/out), and in a host capture its copy of that directory.

A host with KHO on shows kho/out from boot (`kho_init`); the next kernel boots into its scratch
areas and keeps what it preserves, so a pool checked "against this host" is held to both, as
`validate --kho` holds it. What the state cannot say is said, not refused: before a 6.16-6.18
kernel finalizes there is no root FDT yet (the scratch areas are there), and a root version this
pmpoolctl does not know cannot be read for what it preserves. Anything else that does not read is
an InputError, as it is for `--kho`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from pmpoolctl.check.coverage import Skips
from pmpoolctl.check.validate import Zone
from pmpoolctl.errors import InputError
from pmpoolctl.files.inputs import read_input
from pmpoolctl.kho.checks import preserved_zone, scratch_areas_zone, sub_blobs_zone
from pmpoolctl.kho.cmdline import parse_next_cmdline
from pmpoolctl.kho.files import CapturedFiles, DiskFiles, KhoFiles
from pmpoolctl.kho.kconfig import ENABLE_DEFAULT, kho_on_by_default
from pmpoolctl.kho.scratch import read_scratch
from pmpoolctl.kho.tree import FINALIZE, ROOT_FILE, load_kho_files, load_sub_blobs, require_complete
from pmpoolctl.memmap.model import MemoryMap

LIVE_KHO = "/sys/kernel/debug/kho/out"  # what `--live` reads, where this host has it
LIVE_CMDLINE = "/proc/cmdline"  # whether it should be there: kho= turns KHO on
LIVE_CONFIGS: tuple[str, ...] | None = None  # the kernel config's paths (kconfig's), when kho= says nothing

_PRESERVED = "range-in-kho-preserved (what KHO preserves) is not checked"


def host_kho_zones(files: KhoFiles, byte_order: str, *, scratch: bool) -> tuple[list[Zone], Skips]:
    """The zones of `files` (a kho/out): its scratch areas (when `scratch`) and what it preserves."""
    zones: list[Zone] = []
    unchecked: Skips = ()
    if scratch:
        areas = read_scratch(files)
        if areas is None:
            why = f"{files.where} has no scratch_phys/scratch_len: range-in-kho-scratch is not checked"
            unchecked = (("range-in-kho-scratch", why),)
        else:
            zones.append(scratch_areas_zone(areas, files.where))
    if not files.is_file(ROOT_FILE):
        why = (
            f"{files.where} holds no root FDT '{ROOT_FILE}' yet (a 6.16-6.18 kernel writes it when KHO is "
            f"finalized: echo 1 > {LIVE_KHO}/{FINALIZE}; a kernel booted through KHO shows none)"
        )
        # A kernel booted through KHO hands over all the same, and its sub_fdts/ show the regions and
        # tables: the pool is held to those, and what no file shows is said not to be checked.
        shown = sub_blobs_zone(load_sub_blobs(files, byte_order), files.where, files.path(ROOT_FILE))
        if shown.entries:
            partly = (
                f"{why}: range-in-kho-preserved is checked only against what its sub_fdts/ show (reserve_mem "
                "regions, LUO's tables), not the sub-blobs' own pages nor the memory map"
            )
            return [*zones, shown], (*unchecked, ("range-in-kho-preserved", partly))
        return zones, (*unchecked, ("range-in-kho-preserved", f"{why}: {_PRESERVED}"))
    state = load_kho_files(files, byte_order)
    if not state.known:
        why = f"{files.where}'s root compatible {state.root.text!r} is not one this pmpoolctl knows"
        return zones, (*unchecked, ("range-in-kho-preserved", f"{why}: {_PRESERVED}"))
    require_complete(state)
    return [*zones, preserved_zone(state)], unchecked


def live_kho_zones(byte_order: str) -> tuple[list[Zone], Skips]:
    """This host's KHO state (`--live`): its kho/out where debugfs shows it; where it does not but KHO is
    on (`kho=on`, or no kho= and a kernel config that turns it on by default), neither KHO rule can be
    checked, and that is said."""
    if os.path.isdir(LIVE_KHO):
        return host_kho_zones(DiskFiles(LIVE_KHO), byte_order, scratch=True)
    try:
        cmdline = parse_next_cmdline(read_input(LIVE_CMDLINE, 1 << 20), LIVE_CMDLINE)
    except InputError:  # only ever read to say more: without it, as without kho=
        return [], ()
    if cmdline.kho is None:  # the kernel's own default holds
        default = kho_on_by_default(LIVE_CONFIGS)
        if default is None or not default[0]:
            return [], ()
        turned_on = f"{default[1]} turns KHO on by default ({ENABLE_DEFAULT}=y) and {LIVE_CMDLINE} has no kho="
    elif cmdline.kho:
        turned_on = f"{LIVE_CMDLINE} turns KHO on ({cmdline.kho_text})"
    else:
        return [], ()
    why = (
        f"{turned_on}, but {LIVE_KHO} is not there (debugfs not mounted, or a kernel without "
        "CONFIG_KEXEC_HANDOVER_DEBUGFS): range-in-kho-scratch and range-in-kho-preserved are not checked; "
        "mount debugfs, or give --kho PATH"
    )
    return [], _neither_checked(why)


def _neither_checked(why: str) -> Skips:
    """KHO is on, and nothing of its state can be read: neither KHO rule is checked, for `why`."""
    return (("range-in-kho-scratch", why), ("range-in-kho-preserved", why))


def captured_kho_zones(maps: Sequence[MemoryMap], byte_order: str) -> tuple[list[Zone], Skips]:
    """What a host capture's copy of kho/out preserves (its scratch areas are the capture's `#kho` map)."""
    captured = next((m for m in maps if m.format == "kho-scratch"), None)  # a capture's `SOURCE#kho`
    unreadable = next((m.kho_unreadable for m in maps if m.kho_unreadable), None)
    if captured is None and unreadable is not None:  # refused, as --live refuses that host's kho/out
        raise InputError(
            f"{unreadable}: the host's kho/out was there (KHO on) but did not read when captured, so its "
            "scratch areas and what it preserves cannot be checked: capture again, or give --kho PATH"
        )
    if captured is None:
        was_on = next((m.kho_not_captured for m in maps if m.kho_not_captured), None)
        if was_on is None:
            return [], ()
        why = (
            f"{was_on}, but the capture holds no kho/out (debugfs not mounted there?): range-in-kho-scratch "
            "and range-in-kho-preserved are not checked; capture again with debugfs mounted, or give --kho PATH"
        )
        return [], _neither_checked(why)
    if captured.kho_files is None:
        why = f"{captured.source} gives the KHO scratch areas only"
        return [], (("range-in-kho-preserved", f"{why}: {_PRESERVED}; give that host's kho/out too (--kho PATH)"),)
    files = CapturedFiles(captured.kho_files, captured.source)
    zones, unchecked = host_kho_zones(files, byte_order, scratch=False)
    return zones, _captured_scratch(captured, files) + unchecked


def _captured_scratch(captured: MemoryMap, files: KhoFiles) -> Skips:
    """The capture's scratch list (its `#kho` map, what range-in-kho-scratch holds the pool to) must be
    the areas its own copy of scratch_phys/scratch_len lists: an edited or partial capture whose list
    lost them would pass a pool in the scratch areas."""
    areas = read_scratch(files)
    listed = sorted((e.start, e.end) for e in captured.entries)
    if areas is None:
        if listed:
            return ()
        why = f"{captured.source} lists no KHO scratch areas and holds no scratch_phys/scratch_len"
        return (("range-in-kho-scratch", f"{why}: range-in-kho-scratch is not checked"),)
    copied = sorted((a.start, a.end) for a in areas if a.size)
    if copied != listed:
        raise InputError(
            f"{captured.source}: its scratch list ({len(listed)} areas) is not what its copy of "
            f"scratch_phys/scratch_len says ({len(copied)} areas): the capture was changed or is partial; capture again"
        )
    return ()
