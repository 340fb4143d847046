"""`kho dump` output: KHO state for people (text) and for scripts (JSON, pmpoolctl.kho/v1)."""

from __future__ import annotations

from typing import Any

from pmpoolctl.kho.abi import describe
from pmpoolctl.kho.booted import KhoHandover
from pmpoolctl.kho.tree import RAW, KhoState, SubBlob
from pmpoolctl.numbers import counted, hex_address, human_size
from pmpoolctl.output.console import Console
from pmpoolctl.ranges.rangeset import Range

KHO_SCHEMA = "pmpoolctl.kho/v1"
SCRATCH_ENTRY_SIZE = 16  # struct kho_scratch { phys_addr_t addr, size; }


def _subtree_json(tree: SubBlob) -> dict[str, Any]:
    document: dict[str, Any] = {"name": tree.name, "address": tree.address, "size": tree.size, "format": tree.format}
    if tree.format != RAW:
        document["compatible"] = tree.compatible
    document["file"] = tree.file
    if tree.reserve_mem is not None:  # memblock's, when its sub-FDT was found
        document["reserve_mem"] = [
            {"name": r.name, "start": r.start, "size": r.size, "end": r.end} for r in tree.reserve_mem
        ]
    if tree.luo is not None:
        document["luo"] = {
            "compatible": tree.luo.compatible,
            "liveupdate_number": tree.luo.liveupdate_number,
            "children": [{"name": c.name, "compatible": c.compatible, "header": c.header} for c in tree.luo.children],
        }
    if tree.kexec_metadata is not None:
        metadata = tree.kexec_metadata
        document["kexec_metadata"] = {
            "version": metadata.version,
            "previous_release": metadata.previous_release,
            "kexec_count": metadata.kexec_count,
        }
    return document


def _handover_json(handover: KhoHandover) -> dict[str, Any]:
    return {
        "source": handover.source,
        "fdt_address": handover.fdt_address,
        "fdt_size": handover.fdt_size,
        "scratch_address": handover.scratch_address,
        "scratch_size": handover.scratch_size,
    }


def kho_json(state: KhoState | None, handover: KhoHandover | None = None, booted: bool = False) -> dict[str, Any]:
    """The `kho dump --json` document (schema pmpoolctl.kho/v1); `booted` adds what this kernel was booted with."""
    abi = None if state is None else state.abi
    root = None if state is None else state.root
    document: dict[str, Any] = {
        "schema": KHO_SCHEMA,
        "source": None if state is None else state.source,
        "byte_order": None if state is None else state.byte_order,
        "compatible": None if root is None else root.version,
        "abi": [] if root is None else list(root.components),
        "root_compatible": None if root is None else root.text,
        "compatibles": [] if state is None else list(state.compatibles),
        "known": state is not None and state.known,
        "kernels": None if abi is None else abi.kernels,
        "memory_map_format": None if abi is None else abi.memory_map,
        "preserved_memory_map": None if state is None else state.preserved_memory_map,
        "finalized": None if state is None else state.finalized,
        "scratch": None,
        "subtrees": [] if state is None else [_subtree_json(tree) for tree in state.subtrees],
        "notes": [] if state is None else list(state.notes),
    }
    if state is not None and state.scratch is not None:
        document["scratch"] = [
            {"start": a.start, "size": a.size, "end": a.end, "source": a.source} for a in state.scratch
        ]
    if booted:
        document["booted"] = None if handover is None else _handover_json(handover)
    return document


def _version_line(state: KhoState) -> str:
    root, abi = state.root, state.abi
    if abi is None:
        return f'KHO "{root.text}" (unknown to this pmpoolctl: the next kernel may not read it)'
    components = f"; ABIs {', '.join(root.components)}" if root.components else ""
    return f"KHO {describe(abi)}{components}"


def _memory_map_line(state: KhoState) -> str:
    value = state.preserved_memory_map
    if value is None:
        return "  preserved-memory-map: not a u64 (see the notes)"
    line = f"  preserved-memory-map at {hex_address(value)}"
    if value == 0:
        line += ": 0, so a next kernel booted with it drops all KHO state"
        if state.abi is not None and state.abi.finalize:
            line += " (not finalized)"
    if state.finalized is not None:
        line += f"; finalize is {int(state.finalized)}"
    return line


def _subtree_lines(tree: SubBlob) -> list[str]:
    if tree.address is None:
        where = "no node in the root"
    else:
        kind = "sub-FDT" if tree.format != RAW else "blob"
        size = "" if tree.size is None else f", {counted(tree.size, 'byte')}"
        where = f"{kind} at {hex_address(tree.address)}{size}"
    if tree.file is None:
        found = "sub-blob not read"
    elif tree.format == RAW:
        found = "not an FDT"
    elif tree.compatible is None:
        found = "sub-FDT without compatible"
    else:
        found = f'compatible "{tree.compatible}"'
    lines = [f"  {tree.name}: {where}, {found}" + (f" ({tree.file})" if tree.file else "")]
    for r in tree.reserve_mem or ():
        lines.append(f"    reserve_mem {r.name}: {Range(r.start, r.size)}  {human_size(r.size)}")
    if tree.luo is not None:
        if tree.luo.liveupdate_number is not None:
            lines.append(f"    liveupdate-number {tree.luo.liveupdate_number}")
        for child in tree.luo.children:
            header = "" if child.header is None else f", header at {hex_address(child.header)}"
            lines.append(f'    {child.name}: compatible "{child.compatible}"{header}')
    metadata = tree.kexec_metadata
    if metadata is not None:
        if metadata.previous_release is None:
            lines.append(f"    version {metadata.version} (unknown here: not decoded)")
        else:
            lines.append(
                f'    version {metadata.version}, previous release "{metadata.previous_release}", '
                f"kexec count {metadata.kexec_count}"
            )
    return lines


def render_kho(console: Console, state: KhoState | None, handover: KhoHandover | None = None) -> None:
    if handover is not None:
        areas = handover.scratch_size // SCRATCH_ENTRY_SIZE
        console.print(
            f"booted through KHO ({handover.source}): FDT at {hex_address(handover.fdt_address)} "
            f"({counted(handover.fdt_size, 'byte')}), scratch array at {hex_address(handover.scratch_address)} "
            f"({counted(handover.scratch_size, 'byte')}: {counted(areas, 'area')})"
        )
    if state is None:
        if handover is not None:
            console.print("  the incoming state is not shown here (debugfs kho/in is not mounted, or is gone)")
        return
    console.print(f"{state.source}: {_version_line(state)}, u64 values {state.byte_order}-endian")
    console.print(_memory_map_line(state))
    if state.scratch is not None:
        console.print(f"  scratch areas: {len(state.scratch)}")
        for area in state.scratch:
            console.print(f"    {Range(area.start, area.size)}  {human_size(area.size)}  ({area.source})")
    if not state.subtrees:
        console.print("  no users")
    for tree in state.subtrees:
        for line in _subtree_lines(tree):
            console.print(line)
    for note in state.notes:
        console.print(f"  note: {note}")
