"""What x86 kernels print about their e820 table, as the e820 log reader matches it.

Read in arch/x86/kernel/e820.c, setup.c, early-quirks.c and aperture_64.c, 3.8 to 6.x and the
2025-26 x86 boot rework; every pattern is anchored at the message's start and never searches.
"""

from __future__ import annotations

import re

FIRMWARE = "firmware"
USER = "user-defined (memmap=/mem=)"
EXTENDED = "extended"
MODIFIED = "modified"
FIXED = "fixed (Pentium Pro erratum)"

# Each table's header (pr_info, before `e820__print_table(who)`; 3.8 to 4.10 put `e820: ` first),
# and who prints its lines: the firmware's (BIOS-e820, the e801/88 fallbacks, Xen's), `reserve
# setup_data` for the extended table before 6.x, `bad_ppro` on 32-bit kernels up to 6.x.
HEADERS = {
    "BIOS-provided physical RAM map:": FIRMWARE,
    "user-defined physical RAM map:": USER,
    "extended physical RAM map:": EXTENDED,
    "modified physical RAM map:": MODIFIED,
    "fixed physical RAM map:": FIXED,
}
WHO_OF = {
    FIRMWARE: frozenset({"BIOS-e820", "BIOS-e801", "BIOS-88", "Xen"}),
    USER: frozenset({"user"}),
    EXTENDED: frozenset({"extended", "reserve setup_data"}),
    MODIFIED: frozenset({"modified"}),
    FIXED: frozenset({"bad_ppro"}),
}
_WHO = "|".join(sorted((w for whos in WHO_OF.values() for w in whos), key=len, reverse=True))

HEX_SPAN = r"0x([0-9a-fA-F]+)-0x([0-9a-fA-F]+)\]"
TABLE_LINE = re.compile(r"(" + _WHO + r"): \[(mem|gap) " + HEX_SPAN)
UPDATE_LINE = re.compile(r"e820: (update|remove) \[mem " + HEX_SPAN)
# Before 3.8: ` BIOS-e820: 0000000000000000 - 000000000009fc00 (usable)` (an exclusive end) and
# `e820 update range: …`; not read, so refused.
LEGACY_LINE = re.compile(r"(?:(?:" + _WHO + r"): [0-9a-fA-F]{8,16} - [0-9a-fA-F]|e820 (?:update|remove) range: )")

# Lines that take RAM away without an `e820: update` line of their own (e820__range_add of
# reserved, then a sanitize that lets the higher type win): Intel graphics stolen memory
# (early-quirks.c: `%pR` since 4.x, `%pa-%pa` before, "stolen" in 3.x) and the AMD GART
# aperture (aperture_64.c, pr_fmt "AGP: "): reserved for the next kernel (a modified table
# follows), or RAM the kernel maps the aperture over (read through the aperture from then on).
# The Pentium Pro erratum's hole (setup.c) prints no bad_ppro table since the boot rework.
RESERVING_LINES = (
    # The end must be whole: `]`, or the line's end (a line cut inside the number is refused).
    re.compile(r"Reserving Intel graphics (?:stolen )?memory at \[mem " + HEX_SPAN),
    re.compile(r"Reserving Intel graphics (?:stolen )?memory at 0x([0-9a-fA-F]+)-0x([0-9a-fA-F]+)\Z"),
    re.compile(r"(?:AGP: )?e820: reserve \[mem " + HEX_SPAN + " for GART"),
    re.compile(r"(?:AGP: )?Mapping aperture over RAM \[mem " + HEX_SPAN),
)
PPRO_LINE = "Applying PPro RAM bug workaround: punching 256 kB hole at 1.75 GB physical."
PPRO_HOLE = (0x70000000, 0x70000000 + (256 << 10))

# The type words of e820_print_type(), each vocabulary's own and the words both print. An update or
# remove changes only its old type: a word no kernel prints (a line cut short) would change nothing.
OLD_WORDS = frozenset({"usable", "reserved"})
REWORK_WORDS = frozenset({"System RAM", "device reserved"})
_SHARED_TYPE = re.compile(r"(?:soft reserved|ACPI data|ACPI NVS|unusable|type \d{1,10})\Z")
_PERSISTENT = re.compile(r"persistent( RAM)? \(type \d{1,10}\)\Z")


def vocabulary(type_word: str) -> str | None:
    """`6.x` or `rework` for a word only one of them prints, "" for one both print, None for no kernel's word."""
    if type_word in OLD_WORDS:
        return "6.x"
    if type_word in REWORK_WORDS:
        return "rework"
    if (persistent := _PERSISTENT.match(type_word)) is not None:
        return "rework" if persistent[1] else "6.x"
    return "" if _SHARED_TYPE.match(type_word) else None


# trim_bios_range() (setup.c) prints this in every x86 boot, right after the tables that come
# from firmware and the command line, at KERN_DEBUG (`printk(KERN_DEBUG "e820: remove …")` in
# every version): a boot that shows its table without it was captured with debug messages
# dropped, and every other update (MTRR trims, EFI and kexec reservations) with them. (Its other
# line, the update of page 0, is not in kernels with bde9cfa3afe4, 5.10-5.11 and stable kernels
# of early 2021.)
TRIM_REMOVE = (0xA0000, 0x100000)  # e820__range_remove(BIOS_BEGIN, BIOS_END - BIOS_BEGIN, RAM)
# mm_init() prints `Memory: 3218364K/25165432K available (…)` at KERN_INFO in every boot (`…k/…k` before
# 3.11's mem_init_print_info()), after setup_arch() and mem_init() have made every change they make to
# the e820 table (the trim, MTRR trims, EFI reservations, the GART and stolen-memory quirks): a boot
# that prints its table and not this line was cut short, and what came after the cut is missing.
END_OF_SETUP = re.compile(r"Memory: \d{1,20}[kK]/\d{1,20}[kK] available")
# EFI boots: efi_memblock_x86_reserve_range() (arch/x86/platform/efi/efi.c), after the firmware
# table is printed, adds the EFI memory map to the e820 table and prints nothing when the command
# line says add_efi_memmap, or (5.5 on, CONFIG_EFI_SOFT_RESERVE) when the firmware marks memory
# specific-purpose (EFI_MEMORY_SP): that memory is `soft reserved` in the kernel's table, not RAM.
EFI_BANNER = "efi: EFI v"  # efi_systab_report_header(), every EFI boot
COMMAND_LINES = ("Command line: ", "Kernel command line: ")
ADD_EFI_MEMMAP = "add_efi_memmap"
SOFT_RESERVE_SINCE = (5, 5)
KERNEL_RELEASE = re.compile(r"Linux version (\d{1,4})\.(\d{1,4})")
FILTERED_HINT = (
    "give the whole log: dmesg without --level, journalctl -k -b --priority=debug, a syslog file that keeps "
    "kern.debug, or a console booted with ignore_loglevel"
)

# A line with one of these that does not read as above is refused, never skipped: a skipped
# `usable ==> reserved` would leave RAM that is not.
MARKERS = (
    "BIOS-e820: [",
    "e820: update [",
    "e820: remove [",
    "user: [mem",
    "extended: [mem",
    "modified: [mem",
    "bad_ppro: [",
    "Xen: [mem",
    "Reserving Intel graphics",
    "e820: reserve [mem",
    "Mapping aperture over RAM",
    "PPro RAM bug",
)
