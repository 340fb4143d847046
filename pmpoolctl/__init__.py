"""pmpoolctl: inspect, edit and validate pmpool-v1 persistent memory pool blobs.

The library's use cases are `pmpoolctl.api`, re-exported here (see docs/api.md):

    import pmpoolctl

    result = pmpoolctl.validate("next.dtb", ["/proc/iomem"])
    print("pass" if result.passes(strict=True) else f"{result.errors} errors")

The names are loaded on first use: `python -m pmpoolctl` imports this package before its
entry point can install the start-up SIGINT handler, so the package itself imports nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pmpoolctl.api import (
        DEFAULT_PAGE_SIZE,
        DEFAULT_POOL,
        TO_BYTES,
        AddressSpace,
        Captured,
        Comparison,
        Created,
        Edit,
        PoolsValidation,
        Validation,
        add_ranges,
        address_space,
        booted_blob,
        booted_kho,
        canonicalize,
        capture,
        create,
        diff,
        edit_pool,
        find_pool,
        find_pools,
        has_pool,
        live_phys_bits,
        load_kho,
        load_memory_map,
        load_memory_maps,
        read_blob,
        read_pool,
        read_ranges,
        remove_ranges,
        validate,
        validate_all_pools,
        validate_kho,
        validation_space,
    )

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_POOL",
    "TO_BYTES",
    "AddressSpace",
    "Captured",
    "Comparison",
    "Created",
    "Edit",
    "PoolsValidation",
    "Validation",
    "__version__",
    "add_ranges",
    "address_space",
    "booted_blob",
    "booted_kho",
    "canonicalize",
    "capture",
    "create",
    "diff",
    "edit_pool",
    "find_pool",
    "find_pools",
    "has_pool",
    "live_phys_bits",
    "load_kho",
    "load_memory_map",
    "load_memory_maps",
    "read_blob",
    "read_pool",
    "read_ranges",
    "remove_ranges",
    "validate",
    "validate_all_pools",
    "validate_kho",
    "validation_space",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pmpoolctl import api

        return getattr(api, name)
    raise AttributeError(f"module 'pmpoolctl' has no attribute {name!r}")
