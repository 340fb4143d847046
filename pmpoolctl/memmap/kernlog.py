"""Kernel log lines as they are captured: the kernel's message behind whatever the capture put first.

`dmesg` prints `[    0.000000] ` (with CONFIG_PRINTK_CALLER also `[    T0] `), `dmesg -T`
`[Tue Dec  1 10:00:00 2026] `, `dmesg -x` `kern  :info  : `, `dmesg -r` `<6>`, `dmesg
--time-format iso` an ISO date; syslog files and journalctl put `Dec  1 10:00:00 host kernel: `
(or an ISO date and host) first; serial captures end lines with CR. Every step looks at a
bounded start of the line, so a line costs a few passes over it, whatever it holds.
"""

from __future__ import annotations

import re

# What may come before a syslog or journal prefix: a dmesg -r level, a dmesg --time-format iso date.
_BEFORE_SYSLOG = re.compile(r"(?:<\d{1,3}>)?(?:\d{4}-\d\d-\d\dT[0-9:.,+\-Z]{8,40} )?")
# A syslog or journal prefix ends in " kernel: " within this many characters (date, host name).
_SYSLOG_WINDOW = 320
# What may come after it: a dmesg -x facility, then bracketed stamps (seconds, a dmesg -T date, a
# caller id as in `[    0.000000][    T1] `), each short, a few of them, and a space after them
# (`[Firmware Bug]: ` is the message's own).
_AFTER_SYSLOG = re.compile(r"(?:[a-z]{2,8} *:[a-z]{2,8} *: )?(?:(?:\[[^\]]{0,62}\]){1,4} +){0,2}")

# dmesg's `[    5.123456]` stamp, first or behind a dmesg -r level or a syslog `kernel: `: seconds since boot.
_DMESG_STAMP = re.compile(r"(?:<\d{1,3}>)?\[ {0,12}(\d{1,12})\.\d{1,9}\]")

# journalctl prints these between boots; they are not kernel messages.
JOURNAL_BOOT_SEPARATORS = ("-- Boot ", "-- Reboot --")

# The start of a line of any capture above, or of the kernel's first message.
_LOG_LINE = re.compile(
    r"\s*(?:\[\s*\d+\.\d+\]"  # dmesg
    r"|\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d "  # dmesg -T
    r"|<\d{1,3}>"  # dmesg -r
    r"|[a-z]{2,8} *:[a-z]{2,8} *: "  # dmesg -x
    r"|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"  # syslog, journalctl
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d"  # ISO dates
    r"|-- (?:Boot |Reboot --|Logs begin|Journal begins|No entries)"  # journalctl
    r"|Linux version )"
)


def kernel_message(line: str) -> str:
    """The message of a captured kernel log line, without its prefixes and the white space around it."""
    # A pasted log may come indented, and a file saved by a Windows editor starts with a byte order mark.
    text = line.strip().lstrip("\ufeff")
    before = _BEFORE_SYSLOG.match(text)  # every part is optional: these always match
    at = before.end() if before else 0
    syslog = text.find(" kernel: ", at, at + _SYSLOG_WINDOW)
    if syslog >= 0:
        at = syslog + len(" kernel: ")
    elif text.startswith("kernel: ", at):
        at += len("kernel: ")
    after = _AFTER_SYSLOG.match(text, at)
    at = after.end() if after else at
    return text[at:] if at else text


def dmesg_seconds(line: str) -> int | None:
    """The whole seconds of a line's dmesg stamp (the kernel's clock since its boot), or None without one."""
    text = line.lstrip()
    match = _DMESG_STAMP.match(text)
    if match is None:
        at = text.find(" kernel: [", 0, _SYSLOG_WINDOW)
        match = None if at < 0 else _DMESG_STAMP.match(text, at + len(" kernel: "))
    return None if match is None else int(match[1])


def looks_like_log_line(line: str) -> bool:
    """Whether `line` starts the way a captured kernel log line does (for telling the format)."""
    return _LOG_LINE.match(line) is not None


def is_comment(line: str) -> bool:
    """A `#` line that a person added to a captured file (kernel lines never start with `#`)."""
    first = line[:1]
    return first == "#" or (first.isspace() and line.lstrip().startswith("#"))
