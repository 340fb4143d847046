"""An edit in place never loses what another program (dtc -o, cp, a deploy script: no pmpoolctl lock) wrote to
the blob while the edit ran: the edit is refused (exit 3) and that program's blob is kept."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_edge_of_2_64 import blob_storing
from tests.conftest import EXAMPLES, run_cli

EDITS = {
    "add-range": ["add-range", "8G", "4K"],
    "remove-range": ["remove-range", "0x100000000", "4K"],
    "canonicalize": ["canonicalize"],
}


def theirs(tmp_path: Path) -> bytes:
    """Another blob, as the other program writes it."""
    assert run_cli(["create", str(tmp_path / "theirs.dtb"), "--range", "0x300000000", "4K"]).exit_code == 0
    return (tmp_path / "theirs.dtb").read_bytes()


def written_meanwhile(monkeypatch: pytest.MonkeyPatch, write: Callable[[], object]) -> None:
    """Run `write` once the edit has read the blob, while it builds the new one."""
    from pmpoolctl.pool import poolfile

    real = poolfile.with_encoded_ranges

    def racing(*args: Any, **kwargs: Any) -> bytes:
        write()
        return real(*args, **kwargs)

    monkeypatch.setattr(poolfile, "with_encoded_ranges", racing)


@pytest.mark.parametrize("edit", EDITS)
@pytest.mark.parametrize("how", ["in place", "replaced"])
def test_a_blob_written_by_another_program_during_the_edit_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: str, how: str
) -> None:
    blob = tmp_path / "pool.dtb"
    if edit == "canonicalize":  # it rewrites only a pool that is not canonical: two touching pairs
        blob_storing(tmp_path, [(0x100000000, 0x1000), (0x100001000, 0x1000)], "pool.dtb")
    else:
        shutil.copy(EXAMPLES / "pool.dtb", blob)
    other = theirs(tmp_path)

    def write() -> None:
        if how == "in place":  # truncate and write the same inode, as dtc -o and cp do
            blob.write_bytes(other)
        else:  # a new file renamed over it, as an atomic writer does
            (tmp_path / "new").write_bytes(other)
            (tmp_path / "new").replace(blob)

    written_meanwhile(monkeypatch, write)
    command, *rest = EDITS[edit]
    run = run_cli([command, str(blob), *rest])
    assert run.exit_code == 3, (run.exit_code, run.stdout, run.stderr)
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1
    assert "changed while this edit ran" in run.stderr and "pool.dtb" in run.stderr
    assert blob.read_bytes() == other
    assert sorted(p.name for p in tmp_path.iterdir() if "pmpoolctl-tmp" in p.name) == []


def test_an_edit_to_another_out_is_not_held_to_the_blob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # -o OUT replaces OUT whole; the blob is only read (before the lock), so its later changes refuse nothing.
    blob = tmp_path / "pool.dtb"
    shutil.copy(EXAMPLES / "pool.dtb", blob)
    other = theirs(tmp_path)
    written_meanwhile(monkeypatch, lambda: blob.write_bytes(other))
    run = run_cli(["add-range", str(blob), "8G", "4K", "-o", str(tmp_path / "out.dtb")])
    assert run.exit_code == 0, run.stderr
    assert (tmp_path / "out.dtb").exists() and blob.read_bytes() == other
