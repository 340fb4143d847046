"""The rules findings are made under: one registry of ids, severities and what each means.

The order is cli.md's rule table (JUnit lists one test case per rule in it, and findings
of one range sort by it); a finding takes its severity from here (`finding`), so a rule
cannot be an error in one place and a warning in another. docs/cli.md's rule table is
made from this registry (tools/gen_cli_md.py) and a test holds the README's to it.
"""

from __future__ import annotations

from typing import NamedTuple

from pmpoolctl.check.findings import Conflict, Finding, Severity
from pmpoolctl.ranges.rangeset import Range

ERROR, WARNING = Severity.ERROR, Severity.WARNING


class Rule(NamedTuple):
    id: str
    severity: Severity
    summary: str  # when it fires, as cli.md's table says it


RULES: tuple[Rule, ...] = (
    Rule(
        "binding-invalid",
        ERROR,
        "wrong `compatible`, `page-ranges` length not a multiple of 16, bad `page-size`, a unit address, `reg`, "
        "`#address-cells` or `#size-cells` on the pool node, a `status` other than `okay` (a reader that honours "
        "it skips the pool), a `NAME@unit` before the pool that a libfdt reader of `/NAME` takes for it, a node "
        "below a child of the root whose compatible names `pmpool-v1` (a reader by compatible takes it for a pool "
        "that nothing checks)",
    ),
    Rule("range-empty", ERROR, "a range (or reserve_mem region) of size 0"),
    Rule("range-unaligned", ERROR, "base or size not a multiple of the page size"),
    Rule("range-overflow", ERROR, "base + size exceeds 2^64"),
    Rule("range-overlap", ERROR, "two ranges (or regions) overlap"),
    Rule("ranges-unsorted", ERROR, "ranges not in ascending order of base"),
    Rule("ranges-not-coalesced", WARNING, "two ranges touch"),
    Rule("range-outside-ram", ERROR, "part of a range is not RAM in some memory map"),
    Rule(
        "range-in-reserved",
        ERROR,
        "a range overlaps memory a map reserves inside its RAM (a reserved entry with no RAM under it is "
        "`range-outside-ram`)",
    ),
    Rule("range-in-kernel", ERROR, "a range overlaps `Kernel code/rodata/data/bss`"),
    Rule("range-in-crashkernel", ERROR, "a range overlaps `Crash kernel`"),
    Rule(
        "range-in-memreserve",
        ERROR,
        "a range overlaps the blob's reservation block, `/reserved-memory` or a region `/chosen` names "
        "(initrd, elfcorehdr, KHO, UEFI map)",
    ),
    Rule("range-above-phys-limit", ERROR, "a range ends above 2^N with `--phys-bits N`"),
    Rule(
        "range-in-dynamic-reserved",
        WARNING,
        "a range lies in the `alloc-ranges` of a dynamic `/reserved-memory` region (no `reg`), "
        "where the kernel may place it",
    ),
    Rule(
        "range-in-kexec-segment",
        ERROR,
        "a range overlaps a segment that kexec loads (a `kexec -d` segment list given as a map)",
    ),
    Rule(
        "range-in-kho-scratch",
        ERROR,
        "a pool range, reserve_mem region, sub-blob or the memory map's first page overlaps a KHO scratch area",
    ),
    Rule(
        "range-in-kho-preserved",
        ERROR,
        "a pool range overlaps a reserve_mem region or sub-blob KHO preserves (`validate --kho`)",
    ),
    Rule("pools-overlap", ERROR, "two pools of one blob hold the same pages (`validate --all-pools`)"),
    Rule(
        "kho-not-finalized",
        ERROR,
        "the KHO root's `preserved-memory-map` is 0: the next kernel drops all KHO state (`kho validate`)",
    ),
    Rule(
        "reserve-mem-not-requested",
        ERROR,
        "a preserved reserve_mem region is not requested with its size and a fitting ALIGN by `--next-cmdline`",
    ),
    Rule(
        "abi-unknown-to-next-kernel",
        ERROR,
        "the `--next-kernel` image does not hold a compatible the pool or the KHO state needs",
    ),
    # Not in cli.md's table (this project's): last.
    Rule(
        "kho-not-requested",
        WARNING,
        "`--next-cmdline` does not turn KHO on (`kho=on`) and the next kernel's default is not known to be on; "
        "an error when KHO is certainly off and the state holds LUO, or when it holds LUO and there is no "
        "`liveupdate=on`",
    ),
)
RULE_IDS = tuple(rule.id for rule in RULES)
BY_ID = {rule.id: rule for rule in RULES}
ORDER = {rule.id: index for index, rule in enumerate(RULES)}  # a finding's rule, for sorting


def finding(
    rule_id: str,
    message: str,
    range_: Range | None = None,
    conflict: Conflict | None = None,
    also: tuple[Conflict, ...] = (),
    *,
    count: int = 1,
    severity: Severity | None = None,
) -> Finding:
    """A finding of the rule `rule_id`, at the rule's severity unless `severity` says otherwise."""
    return Finding(
        rule_id, BY_ID[rule_id].severity if severity is None else severity, message, range_, conflict, also, count
    )
