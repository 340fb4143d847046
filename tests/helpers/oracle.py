"""dtc as the oracle for blobs pmpoolctl reads, shared by the corrupt-input suite and the fuzzer.

The FDT format is spelled out here independently of `pmpoolctl.dtb.format`, so a
mistake there is not copied into the tests. `tree_of` is the tree pmpoolctl's
reader sees; `dtc_read` is dtc's reading of the same bytes, which `tree_of`
then indexes (dtc's output is canonical, so reading it back is not in doubt).
"""

from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass
from typing import NamedTuple

from pmpoolctl.dtb.reader import parse_blob

# ---------------------------------------------------------------------------
# The format

FDT_MAGIC = 0xD00DFEED
FDT_BEGIN_NODE = 0x1
FDT_END_NODE = 0x2
FDT_PROP = 0x3
FDT_NOP = 0x4
FDT_END = 0x9
HEADER_SIZE = 40
HEADER_WORDS = (
    "magic",
    "totalsize",
    "off_dt_struct",
    "off_dt_strings",
    "off_mem_rsvmap",
    "version",
    "last_comp_version",
    "boot_cpuid_phys",
    "size_dt_strings",
    "size_dt_struct",
)
OFFSET = {name: 4 * index for index, name in enumerate(HEADER_WORDS)}
PER_CASE_SECONDS = 2.0


def poke32(data: bytes, offset: int, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(">I", out, offset, value)
    return bytes(out)


def word(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from(">I", data, offset)[0]
    return value


# ---------------------------------------------------------------------------
# The oracle


class Tree(NamedTuple):
    nodes: list[tuple[str, list[tuple[str, bytes]]]]
    reservations: list[tuple[int, int]]


def tree_of(blob: bytes) -> Tree:
    """A normalised tree: (path, [(property, value bytes)]) per node in order, and the reservations."""
    parsed = parse_blob(blob, "<tree>")
    nodes = [(parsed.path(n), [(p.name, parsed.value(p)) for p in n.properties]) for n in parsed.nodes]
    return Tree(nodes, [(r.address, r.size) for r in parsed.reservations])


def tree_difference(ours: Tree, theirs: Tree) -> str:
    if ours.reservations != theirs.reservations:
        return f"reservations: ours {ours.reservations}, dtc's {theirs.reservations}"
    for (our_path, our_props), (their_path, their_props) in zip(ours.nodes, theirs.nodes):
        if (our_path, our_props) != (their_path, their_props):
            return f"node: ours {our_path} {our_props}, dtc's {their_path} {their_props}"
    return f"ours has {len(ours.nodes)} nodes, dtc's {len(theirs.nodes)}"


@dataclass(frozen=True)
class DtcReading:
    status: str  # "ok"; "checks": dtc reads a tree but its checks refuse it (output only with -f); "fatal"
    blob: bytes
    stderr: str


def dtc_read(dtc: str, data: bytes) -> DtcReading:
    """`dtc -I dtb -O dtb` of `data`; again with -f when only dtc's checks refuse it."""
    proc = subprocess.run(
        [dtc, "-I", "dtb", "-O", "dtb", "-"], input=data, capture_output=True, timeout=30, check=False
    )
    if proc.returncode == 0:
        return DtcReading("ok", proc.stdout, proc.stderr.decode(errors="replace"))
    forced = subprocess.run(
        [dtc, "-f", "-I", "dtb", "-O", "dtb", "-"], input=data, capture_output=True, timeout=30, check=False
    )
    message = " | ".join(proc.stderr.decode(errors="backslashreplace").splitlines())
    if forced.returncode == 0 and forced.stdout:
        return DtcReading("checks", forced.stdout, message)
    return DtcReading("fatal", b"", message)


# Every check of dtc 1.6.1 (Debian's device-tree-compiler, which CI installs), by name.
DTC_CHECKS = (
    "duplicate_node_names",
    "duplicate_property_names",
    "node_name_chars",
    "node_name_format",
    "property_name_chars",
    "name_is_string",
    "name_properties",
    "node_name_vs_property_name",
    "duplicate_label",
    "explicit_phandles",
    "phandle_references",
    "path_references",
    "omit_unused_nodes",
    "address_cells_is_cell",
    "size_cells_is_cell",
    "device_type_is_string",
    "model_is_string",
    "status_is_string",
    "label_is_string",
    "compatible_is_string_list",
    "names_is_string_list",
    "property_name_chars_strict",
    "node_name_chars_strict",
    "addr_size_cells",
    "reg_format",
    "ranges_format",
    "dma_ranges_format",
    "unit_address_vs_reg",
    "unit_address_format",
    "pci_bridge",
    "pci_device_reg",
    "pci_device_bus_num",
    "simple_bus_bridge",
    "simple_bus_reg",
    "i2c_bus_bridge",
    "i2c_bus_reg",
    "spi_bus_bridge",
    "spi_bus_reg",
    "avoid_default_addr_size",
    "avoid_unnecessary_addr_size",
    "unique_unit_address",
    "unique_unit_address_if_enabled",
    "obsolete_chosen_interrupt_controller",
    "chosen_node_is_root",
    "chosen_node_bootargs",
    "chosen_node_stdout_path",
    "clocks_property",
    "cooling_device_property",
    "dmas_property",
    "hwlocks_property",
    "interrupts_extended_property",
    "io_channels_property",
    "iommus_property",
    "mboxes_property",
    "msi_parent_property",
    "mux_controls_property",
    "phys_property",
    "power_domains_property",
    "pwms_property",
    "resets_property",
    "sound_dai_property",
    "thermal_sensors_property",
    "deprecated_gpio_property",
    "gpios_property",
    "interrupts_property",
    "interrupt_provider",
    "alias_paths",
    "graph_nodes",
    "graph_child_address",
    "graph_port",
    "graph_endpoint",
    "always_fail",
)


NO_CHECKS = tuple(flag for name in DTC_CHECKS for flag in ("-W", f"no-{name}", "-E", f"no-{name}"))


def dtc_read_unchecked(dtc: str, data: bytes) -> DtcReading:
    """`dtc -I dtb -O dtb` of `data` with every check off: dtc's reader alone.

    Some of dtc's checks assert instead of failing (a 3-byte `#address-cells`
    aborts dtc 1.6.1 in propval_cell), so a blob dtc's reader takes can still
    crash `dtc_read`. Status "ok" or "fatal".
    """
    proc = subprocess.run(
        [dtc, *NO_CHECKS, "-I", "dtb", "-O", "dtb", "-"], input=data, capture_output=True, timeout=30, check=False
    )
    message = " | ".join(proc.stderr.decode(errors="backslashreplace").splitlines())
    if proc.returncode == 0:
        return DtcReading("ok", proc.stdout, message)
    return DtcReading("fatal", b"", message)
