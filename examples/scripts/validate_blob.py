#!/usr/bin/env python3
"""Validate a blob against copies of a host's /proc/iomem, as a pre-kexec check in a fleet agent would.

    python3 examples/scripts/validate_blob.py BLOB IOMEM [IOMEM ...]

Prints one line per finding and the verdict; exits 0 when the pool passes (warnings
fail too: strict), 1 when it does not, 3 when an input cannot be read.
"""

from __future__ import annotations

import sys

import pmpoolctl
from pmpoolctl.errors import PmpoolError


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    blob_path, maps = argv[0], argv[1:]
    try:
        result = pmpoolctl.validate(blob_path, maps)
    except PmpoolError as exc:  # bad input: the message names the file and where
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    for finding in result.findings:
        where = "" if finding.range is None else f" {finding.range}"
        print(f"{finding.severity.value}: {finding.rule}{where}: {finding.message}")
    passed = result.passes(strict=True)
    pool = result.report.pool
    verdict = "pass" if passed else "FAIL"
    print(f"{result.source}: {len(pool.ranges)} ranges checked against {len(maps)} maps: {verdict}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
