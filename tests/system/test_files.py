"""Safe writes: lock, temp file, fsync, rename; mode, links and failures."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pmpoolctl.errors import WriteError
from pmpoolctl.files.safewrite import locked, write_atomic
from tests.conftest import assert_input_error, run_cli

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_created_file_follows_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        assert run_cli(["create", str(tmp_path / "new.dtb")]).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.dtb").stat().st_mode) == 0o640


def test_no_temp_files_left_and_stale_ones_removed(pool_blob: Path) -> None:
    stale = pool_blob.parent / f".{pool_blob.name}.abc123_x.pmpoolctl-tmp"
    stale.write_bytes(b"left by a killed edit")
    assert run_cli(["add-range", str(pool_blob), "8G", "4K"]).exit_code == 0
    leftovers = sorted(p.name for p in pool_blob.parent.iterdir())
    assert leftovers == [f".{pool_blob.name}.lock", pool_blob.name]


def test_dry_run_and_refused_edit_leave_file_untouched(pool_blob: Path) -> None:
    before = pool_blob.read_bytes()
    mtime = pool_blob.stat().st_mtime_ns
    assert run_cli(["add-range", str(pool_blob), "8G", "4K", "--dry-run"]).exit_code == 0
    assert run_cli(["add-range", str(pool_blob), "4G", "4K"]).exit_code == 3  # overlaps
    assert pool_blob.read_bytes() == before and pool_blob.stat().st_mtime_ns == mtime


def test_edit_that_changes_nothing_does_not_rewrite(pool_blob: Path) -> None:
    mtime = pool_blob.stat().st_mtime_ns
    inode = pool_blob.stat().st_ino
    assert run_cli(["add-range", str(pool_blob), "4G", "4K", "--merge"]).exit_code == 0
    assert (pool_blob.stat().st_mtime_ns, pool_blob.stat().st_ino) == (mtime, inode)


def test_write_error_leaves_target_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "t.bin"
    target.write_bytes(b"old")

    def failing_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(WriteError, match="No space left on device"):
        write_atomic(str(target), b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.bin"]


def test_lock_is_exclusive_and_times_out(tmp_path: Path) -> None:
    target = str(tmp_path / "t.bin")
    code = (
        "import sys; from pmpoolctl.files.safewrite import locked\n"
        "from pmpoolctl.errors import WriteError\n"
        "try:\n"
        f"    with locked({target!r}, timeout=0.2): pass\n"
        "except WriteError as e: print(e); sys.exit(3)\n"
    )
    with locked(target):  # a second process must wait for it, and give up after its timeout
        held = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert held.returncode == 3, held.stderr
    assert "still locked by another edit" in held.stdout
    free = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert free.returncode == 0, free.stdout + free.stderr


def test_text_inputs_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Batches and memory maps are read through one bounded reader: a huge file is refused, not loaded.
    monkeypatch.setattr("pmpoolctl.files.inputs.MAX_TEXT_BYTES", 64)
    big = tmp_path / "batch.txt"
    big.write_text("0x100000000 4K\n" * 10)
    blob = tmp_path / "pool.dtb"
    shutil.copy(EXAMPLES / "pool.dtb", blob)
    before = blob.read_bytes()
    assert_input_error(run_cli(["add-range", str(blob), "--from", str(big)]), str(big), "larger than the")
    assert_input_error(run_cli(["memmap", str(big)]), str(big), "larger than the")
    assert blob.read_bytes() == before
