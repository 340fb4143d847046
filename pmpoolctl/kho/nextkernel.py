"""The next kernel's side of the handover: will it take up what this one hands over?

- `reserve-mem-not-requested` (error): memblock revives a preserved region only when the
  next kernel's command line has `reserve_mem=SIZE:ALIGN:NAME` for it with the same size
  and an ALIGN its start satisfies (`reserve_mem_kho_revive`: "wrong size", "wrong
  alignment"); otherwise it allocates the region afresh, and the data is lost.
- `kho-not-requested` (warning): no `kho=on` where the kernel's default is not known to
  be on (`CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT`, read from the image's built-in .config
  when `--next-kernel` has one). A next kernel with KHO off still revives reserve_mem
  regions, but cannot hand over again, and LUO drops its sessions ("Disabling liveupdate
  because KHO is disabled"): an error when KHO is certainly off and LUO state is there.
  With KHO on, LUO state and no `liveupdate=on` is an error too: `liveupdate` is off unless
  the command line turns it on (luo_core.c, no config default), and then the next kernel makes
  no /dev/liveupdate, so no session it is handed can be retrieved.
- `abi-unknown-to-next-kernel` (error): a compatible the state needs that the next kernel's
  image does not hold: it would refuse the root ("incompatible", "disabling KHO revival"),
  or the user whose sub-FDT it is would not take its state up.
"""

from __future__ import annotations

from collections.abc import Sequence

from pmpoolctl.check.findings import Finding, Severity
from pmpoolctl.check.rules import finding
from pmpoolctl.files.inputs import display_name
from pmpoolctl.kho.abi import split_compatible
from pmpoolctl.kho.blobs import LUO_NAME, ReserveMem
from pmpoolctl.kho.cmdline import NextCmdline
from pmpoolctl.kho.kconfig import ENABLE_DEFAULT
from pmpoolctl.kho.kernelimage import KernelImage
from pmpoolctl.kho.tree import KhoState
from pmpoolctl.numbers import U64_LIMIT
from pmpoolctl.ranges.rangeset import Range


def _region_range(region: ReserveMem) -> Range | None:
    return Range(region.start, region.size) if region.size and region.end <= U64_LIMIT else None


def _suggestion(region: ReserveMem) -> str:
    """The argument that would revive the region: its size, and an ALIGN its start has (the page, or less)."""
    align = min(region.start & -region.start, 4096) if region.start else 4096
    argument = f"reserve_mem={region.size:#x}:{align:#x}:{region.raw_name.decode('utf-8', 'replace')}"
    return f'"{argument}"' if any(c.isspace() for c in argument) else argument


def cmdline_findings(state: KhoState, cmdline: NextCmdline, kho_default: bool | None) -> list[Finding]:
    """What the next kernel's command line does not ask for that the state needs."""
    findings = [f for region in state.reserve_mem() if (f := _region_finding(region, cmdline)) is not None]
    has_luo = any(tree.name == LUO_NAME for tree in state.subtrees)
    kho = _kho_finding(cmdline, kho_default, has_luo)
    if has_luo and not cmdline.liveupdate and (kho is None or kho.severity is not Severity.ERROR):
        # With KHO certainly off, `kho` says LUO drops the sessions. One finding of the rule: the
        # report merges range-less findings of a rule into the first.
        kho = _liveupdate_finding(cmdline, kho)
    if kho is not None:
        findings.append(kho)
    return findings


def _region_finding(region: ReserveMem, cmdline: NextCmdline) -> Finding | None:
    request = cmdline.requests.get(region.raw_name)
    what = f"reserve_mem region {region.name} [{region.start:#x}, {region.end:#x})"
    lost = "so the next kernel allocates it afresh and its data is lost"
    if request is None:
        refused = [(text, why) for name, text, why in cmdline.refused if name in (None, region.raw_name)]
        named = [f"'{text}' is refused ({why})" for text, why in refused]
        reason = f"{cmdline.source} does not request it" + (f" ({'; '.join(named)})" if named else "")
    elif request.size != region.size:
        reason = f"'{request.text}' asks for {request.size:#x} bytes, not its {region.size:#x} (\"wrong size\")"
    elif region.start & (request.align - 1):
        reason = (
            f"'{request.text}' asks for alignment {request.align:#x}, which its start does not have "
            '("wrong alignment")'
        )
    else:
        return None
    message = f"{what}: {reason}, {lost}; request it as {_suggestion(region)}"
    return finding("reserve-mem-not-requested", message, _region_range(region))


def _kho_finding(cmdline: NextCmdline, kho_default: bool | None, has_luo: bool) -> Finding | None:
    if cmdline.kho or (cmdline.kho is None and kho_default is True):
        return None
    luo = " and LUO, whose state this is, drops its sessions" if has_luo else ""
    off = "a next kernel without KHO revives the reserve_mem regions, but cannot hand over again" + luo
    if cmdline.kho is False:
        said = f"{cmdline.source} turns KHO off ('{cmdline.kho_text}')"
    elif kho_default is False:
        said = f"{cmdline.source} has no kho=on, and the next kernel's {ENABLE_DEFAULT} is not set"
    else:
        said = (
            f"{cmdline.source} has no kho=on, and whether the next kernel has KHO on by default "
            f"({ENABLE_DEFAULT}) is not known (--next-kernel with a built-in .config tells)"
        )
    certainly_off = cmdline.kho is False or kho_default is False
    severity = Severity.ERROR if certainly_off and has_luo else Severity.WARNING
    return finding("kho-not-requested", f"{said}: {off}", severity=severity)


def _liveupdate_finding(cmdline: NextCmdline, kho: Finding | None) -> Finding:
    """The state holds LUO: the next kernel must turn live update on to give its sessions back (an error,
    saying what `kho`, the warning that KHO may be off, says too)."""
    said = (
        f"turns live update off ('{cmdline.liveupdate_text}')"
        if cmdline.liveupdate is False
        else "has no liveupdate=on (live update is off without it)"
    )
    message = (
        f"{cmdline.source} {said}: the next kernel makes no /dev/liveupdate, so the LUO sessions this state "
        "hands over cannot be retrieved and what they preserve is lost; add liveupdate=on"
    )
    also = "" if kho is None else f"; and {kho.message}"
    return finding("kho-not-requested", message + also, severity=Severity.ERROR)


def kho_default(image: KernelImage | None) -> bool | None:
    """Whether the next kernel turns KHO on without kho=, from its built-in .config; None when unknown."""
    if image is None:
        return None
    value = image.config_value(ENABLE_DEFAULT)
    if value is None and image.config_value("CONFIG_KEXEC_HANDOVER") == "y":
        return False  # a kernel from before the option: KHO was off unless kho=on
    return None if value is None else value == "y"


def needed_compatibles(state: KhoState) -> list[str]:
    """Every compatible the state carries, the root's first: what the next kernel must know."""
    needed = [state.root.text]
    for tree in state.subtrees:
        needed.extend(c for c in tree.compatibles if c not in needed)
    return needed


def root_alternatives(state: KhoState) -> list[str]:
    """The root's other compatible strings that name the layout the state was read with.

    A next kernel takes the root when it knows any of its strings, and then reads it with
    that string's layout: an alternative of another layout (`"kho-v3", "kho-v1"`) would be
    misread, so only alternatives of the same layout count (no kernel writes more than one).
    """
    return [text for text in state.compatibles[1:] if state.abi is not None and split_compatible(text).abi == state.abi]


KHO_CONSEQUENCE = "it would not take up state of that ABI (a KHO root it does not know disables KHO revival)"
POOL_CONSEQUENCE = "it would not read the pool, and could hand its pages out"


def image_finding(
    image: KernelImage, needed: Sequence[str], alternatives: Sequence[str] = (), consequence: str = KHO_CONSEQUENCE
) -> Finding | None:
    """One finding for every compatible in `needed` that `image` does not hold.

    `alternatives` are the other strings of the root's compatible: the next kernel takes
    the root when it knows any of them, so a root is missing only when all are.
    """
    missing = [c for c in needed if c not in image.found]
    if needed and needed[0] in missing and any(a in image.found for a in alternatives):
        missing.remove(needed[0])
    if not missing:
        return None
    names = ", ".join(repr(c) for c in missing)
    message = f"the next kernel {display_name(image.path)} ({image.layout}) does not hold {names}: {consequence}"
    return finding("abi-unknown-to-next-kernel", message)
