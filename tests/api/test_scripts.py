"""The scripts of examples/scripts, run as a user runs them, with their output checked whole."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES

SCRIPTS = EXAMPLES / "scripts"
IOMEM = EXAMPLES / "memmap" / "iomem.txt"


def run(script: str, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / script), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_validate_blob_passes_the_good_pool_and_lists_the_bad_ones_faults(tmp_path: Path) -> None:
    for name in ("pool.dtb", "bad-pool.dtb", "memmap/iomem.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copyfile(EXAMPLES / name, tmp_path / name)
    good = run("validate_blob.py", "pool.dtb", "memmap/iomem.txt", cwd=tmp_path)
    assert (good.returncode, good.stdout, good.stderr) == (
        0,
        "pool.dtb: 2 ranges checked against 1 maps: pass\n",
        "",
    )
    bad = run("validate_blob.py", "bad-pool.dtb", "memmap/iomem.txt", cwd=tmp_path)
    assert bad.returncode == 1 and bad.stderr == ""
    assert [line.split(" ", 2)[:2] for line in bad.stdout.splitlines()[:-1]] == [
        ["error:", "range-in-kernel"],
        ["error:", "range-in-memreserve"],
        ["error:", "range-outside-ram"],
    ]
    assert bad.stdout.splitlines()[-1] == "bad-pool.dtb: 4 ranges checked against 1 maps: FAIL"
    missing = run("validate_blob.py", "nothing.dtb", "memmap/iomem.txt", cwd=tmp_path)
    assert missing.returncode == 3 and missing.stderr.startswith("error: nothing.dtb: ") and missing.stdout == ""


def test_apply_batch_commits_only_what_passes(tmp_path: Path) -> None:
    blob = tmp_path / "pool.dtb"
    shutil.copyfile(EXAMPLES / "pool.dtb", blob)
    ok = run("apply_batch.py", blob, IOMEM, "0x180000000:64M", "0x200000000:2M", cwd=tmp_path)
    assert (ok.returncode, ok.stderr) == (0, "")
    assert ok.stdout == (
        "would add 0x4200000 bytes to /default_pmpool\n"
        f"{blob}: /default_pmpool: 2 -> 3 ranges, 0x40200000 -> 0x44400000 bytes\n"
    )
    after = blob.read_bytes()
    refused = run("apply_batch.py", blob, IOMEM, "0x0:4K", cwd=tmp_path)
    assert refused.returncode == 1 and refused.stdout.splitlines()[1].startswith("refused: range-outside-ram: ")
    assert blob.read_bytes() == after  # nothing written
    overlap = run("apply_batch.py", blob, IOMEM, "0x100000000:4K", cwd=tmp_path)
    assert overlap.returncode == 3 and "overlap" in overlap.stderr and blob.read_bytes() == after
    assert sorted(p.name for p in tmp_path.iterdir()) == [".pool.dtb.lock", "pool.dtb"]  # no temp file left


def test_compare_blobs_lists_the_pages_that_came(tmp_path: Path) -> None:
    blob = tmp_path / "pool.dtb"
    shutil.copyfile(EXAMPLES / "pool.dtb", blob)
    same = run("compare_blobs.py", EXAMPLES / "pool.dtb", blob, cwd=tmp_path)
    assert (same.returncode, same.stdout) == (0, "same pool\n")
    run("apply_batch.py", blob, IOMEM, "0x200000000:2M", cwd=tmp_path)
    changed = run("compare_blobs.py", EXAMPLES / "pool.dtb", blob, cwd=tmp_path)
    assert (changed.returncode, changed.stdout) == (1, "+ [0x200000000, 0x200200000)\nthe pool differs\n")
