"""Kexec HandOver (KHO) state of Linux 6.16+: what the running kernel hands to the next one.

- `abi`: the root ABIs per version (kho-v1 to kho-v4, the compound form);
- `values`: KHO's native-order u64s and names in its FDTs;
- `blobs`: the users' sub-blobs decoded (memblock's reserve_mem regions, LUO, kexec-metadata);
- `scratch`: the scratch areas from debugfs;
- `tree`: reading a root FDT or a kho/out (kho/in) directory into a `KhoState`;
- `checks`: the findings and zones `kho validate` and `validate --kho` hold the state to.
"""

from __future__ import annotations

from pmpoolctl.kho.tree import KhoState, SubBlob, load_kho, require_complete, require_known

__all__ = ["KhoState", "SubBlob", "load_kho", "require_complete", "require_known"]
