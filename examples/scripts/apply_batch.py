#!/usr/bin/env python3
"""Apply a batch of ranges to a blob safely: preview it, check the result would pass, then commit.

    python3 examples/scripts/apply_batch.py BLOB IOMEM BASE:SIZE [BASE:SIZE ...]

The edit takes the blob's lock, reads it under the lock, checks that the new blob
reads back and replaces the file atomically, as `pmpoolctl add-range` does. The
batch is written only if the pool with it still passes validation against IOMEM.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pmpoolctl
from pmpoolctl.errors import PmpoolError
from pmpoolctl.numbers import parse_number


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    blob_path, iomem, pairs = argv[0], argv[1], argv[2:]
    try:
        ranges = [(parse_number(base), parse_number(size)) for base, size in (p.split(":", 1) for p in pairs)]
        preview = pmpoolctl.add_ranges(blob_path, ranges, dry_run=True)
        print(f"would add {preview.change.after[1] - preview.change.before[1]:#x} bytes to {preview.pool}")
        # Check the pool as it would be: write the candidate to a scratch file and validate that.
        with tempfile.TemporaryDirectory() as scratch:
            candidate = str(Path(scratch) / "candidate.dtb")
            pmpoolctl.add_ranges(blob_path, ranges, output=candidate)
            check = pmpoolctl.validate(candidate, [iomem])
            if not check.passes(strict=True):
                for finding in check.findings:
                    print(f"refused: {finding.rule}: {finding.message}")
                return 1
        edit = pmpoolctl.add_ranges(blob_path, ranges)
    except PmpoolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    before, after = edit.change.before, edit.change.after
    print(f"{edit.file}: {edit.pool}: {before[0]} -> {after[0]} ranges, {before[1]:#x} -> {after[1]:#x} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
