"""What a validation did not check, and why: said with its report so that a pass is not read as more.

- `not_checked`: rules the maps given had nothing for (only /proc/iomem places the running
  kernel's image and its crash kernel), said as notes with the report;
- `not_requested`: rules whose input the run was not given (a kexec segment list, a width, KHO
  state, the next kernel) or that belong to another command, skipped in JUnit with why.

Each is (rule, why) pairs; `Validation.skipped` is both, a rule once (`each_rule_once`).
`map_caveats` are notes that skip no rule: what a map given does not show, though its rules ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pmpoolctl.memmap.model import CRASHKERNEL, KERNEL, KEXEC, KHO_SCRATCH, MemoryMap

if TYPE_CHECKING:
    from pmpoolctl.check.validate import Zone

Skips = tuple[tuple[str, str], ...]  # (rule, why)


def not_checked(maps: Sequence[MemoryMap]) -> Skips:
    """(rule, why) for what none of the maps says, so the rule had nothing to hold the ranges to:
    said with the report (a note, a skipped JUnit case), so that a pass is not read as covering it.

    Only /proc/iomem places the running kernel's image and its crash kernel (e820 lines, the
    firmware's memmap and a blob's memory nodes show both as RAM). A map with the kernel's image
    is one that would list a crash kernel too, so a crash kernel is unknown only where the image is.
    """
    found: list[tuple[str, str]] = []
    kinds = {entry.kind for memory_map in maps for entry in memory_map.entries}
    if CRASHKERNEL in kinds and KERNEL not in kinds:
        found.append(
            ("range-in-kernel", _NO_IMAGE.format(what="image", types=_IMAGE_TYPES, rules="range-in-kernel is"))
        )
    elif KERNEL not in kinds:
        why = _NO_IMAGE.format(
            what="image or its crash kernel",
            types=_IMAGE_TYPES + "; Crash kernel",
            rules="range-in-kernel and range-in-crashkernel are",
        )
        found += [("range-in-kernel", why), ("range-in-crashkernel", why)]
    return tuple(found)


def map_caveats(maps: Sequence[MemoryMap]) -> tuple[str, ...]:
    """Notes on what the maps of RAM given cannot show, said with the report (no rule is skipped for them).

    /sys/firmware/memmap is the table the firmware handed the kernel (x86: e820_table_firmware),
    before the kernel reserved anything of its own: its image, crash kernel, initrd, memblock's and
    /reserved-memory's regions, and the e820 updates. As the only map of RAM, a pass against it does
    not say the ranges are clear of those.
    """
    of_ram = [m for m in maps if m.lists_ram]
    if not of_ram or any(m.format != "firmware-memmap" for m in of_ram):
        return ()
    names = ", ".join(m.source for m in of_ram)
    return (
        f"{names} is the firmware's memory map, from before the kernel's own reservations (its image, crash "
        "kernel, initrd, memblock and /reserved-memory regions, e820 updates): a pass against it alone does not "
        "say the ranges are clear of those; give /proc/iomem too (read as root)",
    )


_NO_IMAGE = (
    "no map places the running kernel's {what} ({types}, as /proc/iomem lists them): {rules} not checked; "
    "give /proc/iomem too (read as root)"
)
_IMAGE_TYPES = "Kernel code, rodata, data and bss"


def each_rule_once(*pairs: Sequence[tuple[str, str]]) -> Skips:
    """(rule, why) pairs with each rule once, the first why given for it."""
    by_rule: dict[str, str] = {}
    for rule, why in (pair for some in pairs for pair in some):
        by_rule.setdefault(rule, why)
    return tuple(by_rule.items())


def not_requested(
    maps: Sequence[MemoryMap],
    phys_bits: int | None,
    zones: Sequence[Zone],
    *,
    next_kernel: bool,
    command: str,
    next_cmdline: bool = False,
) -> Skips:
    """(rule, why) for the rules this run was not given the input of (a kexec segment list, --phys-bits,
    --kho, --next-kernel, ...) or that belong to another command: a JUnit report skips them, with why,
    so that a CI reader does not take a case that checked nothing for one that passed.

    `command` is "validate", "validate --all-pools" or "kho validate".
    """
    kinds = {entry.kind for memory_map in maps for entry in memory_map.entries}
    zoned = {zone.rule for zone in zones}
    kho = command == "kho validate"
    skipped: list[tuple[str, str]] = []

    def skip(rule: str, why: str) -> None:
        skipped.append((rule, f"{rule} is not checked: {why}"))

    if phys_bits is None:
        skip("range-above-phys-limit", "no physical address width given (--phys-bits N, or --live)")
    if KEXEC not in kinds:
        skip("range-in-kexec-segment", "no kexec segment list given (--memmap kexec:FILE, from kexec -l/-s ... -d)")
    if "range-in-kho-scratch" not in zoned and KHO_SCRATCH not in kinds:
        skip("range-in-kho-scratch", "no KHO state given (--kho PATH)")
    if kho:
        skip("range-in-memreserve", "KHO state has no reservation block (a blob's, for validate)")
        skip("range-in-dynamic-reserved", "KHO state has no /reserved-memory (a blob's, for validate)")
        skip("range-in-kho-preserved", "validate --kho's rule: a pool against what KHO preserves")
    elif "range-in-kho-preserved" not in zoned:
        skip("range-in-kho-preserved", "no KHO state given (--kho PATH)")
    if command != "validate --all-pools":
        skip("pools-overlap", "validate --all-pools's rule (every pool of a blob, and no page in two)")
    if not kho:
        skip("kho-not-finalized", "kho validate's rule (the KHO root's preserved-memory-map)")
    if not kho or not next_cmdline:
        why = "no --next-cmdline given" if kho else "kho validate --next-cmdline's rule"
        skip("reserve-mem-not-requested", why)
        skip("kho-not-requested", why)
    if not next_kernel:
        skip("abi-unknown-to-next-kernel", "no --next-kernel IMAGE given")
    return tuple(skipped)
