"""The KHO root ABIs as the kernels write them: one entry per root compatible.

Facts from the kernel sources (`include/linux/kho/abi/kexec_handover.h`,
`kernel/liveupdate/kexec_handover.c` and `kexec_handover_debugfs.c` of each
release; the version a release number is attached to is inferred from dates):

- kho-v1 (6.16-7.0): a user's node holds `fdt`, the physical address of its sub-FDT.
  `preserved-memory-map` points at a linked list of chunks that the kernel builds at
  finalize (debugfs `kho/out/finalize`; from 6.19 LUO does it at reboot); until then
  it is 0, and a next kernel that reads 0 drops every bit of KHO state.
- kho-v2 (the mm tree, early 2026, short-lived): `preserved-data` instead of `fdt`, the
  map is the root page of a radix tree that exists from boot, no finalize. An interim
  state of the mm tree already wrote `blob-size` under kho-v2.
- kho-v3 (~7.1) and kho-v4 (~7.2): `preserved-data` and the required `blob-size`, since
  a sub-blob may be any format (the 73-byte `kexec-metadata`, a raw `LUO`).
- The compound form (`kho-v4;radix-v1`, then `kho-v4;radix-v1;vmalloc-v1`, linux-mm
  `compat.h`): the root version, then the ABIs of the structures behind it, each after a
  `;`, in alphabetical order. Only the compounds some kernel writes are known here
  (`KNOWN_COMPOUNDS`): the next kernel compares the whole string, so `kho-v3;radix-v1`
  or a component this pmpoolctl has never seen is a root no kernel it knows would take.

The next kernel accepts only the exact root compatible it was built with
(`fdt_node_check_compatible`): there is no tolerance across versions.
"""

from __future__ import annotations

from dataclasses import dataclass

PROP_MEMORY_MAP = "preserved-memory-map"
PROP_FDT = "fdt"  # kho-v1
PROP_DATA = "preserved-data"  # kho-v2 and later
PROP_SIZE = "blob-size"  # kho-v3 and later (and the interim kho-v2)
COMPONENT_SEPARATOR = ";"
VERSION_PREFIX = "kho-v"  # every root version so far; a root without it is no KHO root

CHUNK_LIST = "chunk-list"
RADIX_TREE = "radix-tree"


@dataclass(frozen=True)
class RootAbi:
    """What a root version means: where the addresses are, and what the memory map is."""

    version: str
    kernels: str  # the releases that write it, as far as they are known
    data_property: str
    size_required: bool  # blob-size on every user's node
    memory_map: str  # CHUNK_LIST or RADIX_TREE
    finalize: bool  # debugfs kho/out/finalize exists, and the map is 0 until it is written


ROOT_ABIS = {
    abi.version: abi
    for abi in (
        RootAbi("kho-v1", "6.16-7.0", PROP_FDT, False, CHUNK_LIST, True),
        RootAbi("kho-v2", "the mm tree only, early 2026, short-lived", PROP_DATA, False, RADIX_TREE, False),
        RootAbi("kho-v3", "~7.1", PROP_DATA, True, RADIX_TREE, False),
        RootAbi("kho-v4", "~7.2", PROP_DATA, True, RADIX_TREE, False),
    )
}
KNOWN_VERSIONS = tuple(ROOT_ABIS)
# The components after a root version that kernels write (linux-mm compat.h users), per version.
KNOWN_COMPOUNDS = {"kho-v4": frozenset({("radix-v1",), ("radix-v1", "vmalloc-v1")})}


@dataclass(frozen=True)
class RootCompatible:
    """A root compatible string split into its version and its component ABIs."""

    text: str  # the whole string, as the next kernel compares it
    version: str  # before the first ';'
    components: tuple[str, ...]  # after it, in order

    @property
    def abi(self) -> RootAbi | None:
        """The version's layout, when this pmpoolctl knows the whole string (the version, and its components)."""
        if self.components and self.components not in KNOWN_COMPOUNDS.get(self.version, ()):
            return None
        return ROOT_ABIS.get(self.version)


def split_compatible(text: str) -> RootCompatible:
    version, *components = text.split(COMPONENT_SEPARATOR)
    return RootCompatible(text, version, tuple(components))


def describe(abi: RootAbi) -> str:
    """`kho-v3 (~7.1): preserved-data + blob-size, radix-tree memory map`, for people."""
    size = " + blob-size" if abi.size_required else ""
    return f"{abi.version} ({abi.kernels}): {abi.data_property}{size}, {abi.memory_map} memory map"
