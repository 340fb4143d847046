#!/usr/bin/env python3
"""Compare the pools of two blobs, as a job that watches what a host will hand over would.

    python3 examples/scripts/compare_blobs.py OLD NEW

Prints the page ranges that came and went; exits 0 when the pools are the same, 1 when
they differ (a pool that breaks the binding always differs), 3 on bad input.
"""

from __future__ import annotations

import sys

import pmpoolctl
from pmpoolctl.errors import PmpoolError


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        comparison = pmpoolctl.diff(argv[0], argv[1])
    except PmpoolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    result = comparison.result
    for sign, ranges in (("-", result.removed), ("+", result.added)):
        for r in ranges:
            print(f"{sign} [{r.base:#x}, {r.end:#x})")
    print("same pool" if comparison.same else "the pool differs")
    return 0 if comparison.same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
