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
from pmpoolctl.files.safewrite import locked, resolve_target, write_atomic
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

    def failing_replace(src: str, dst: str, **dir_fds: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(WriteError, match="No space left on device"), resolve_target(str(target)) as resolved:
        write_atomic(resolved, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.bin"]


def test_lock_is_exclusive_and_times_out(tmp_path: Path) -> None:
    target = str(tmp_path / "t.bin")
    code = (
        "import sys; from pmpoolctl.files.safewrite import locked, resolve_target\n"
        "from pmpoolctl.errors import WriteError\n"
        "try:\n"
        f"    with resolve_target({target!r}) as t, locked(t, timeout=0.2): pass\n"
        "except WriteError as e: print(e); sys.exit(3)\n"
    )
    with resolve_target(target) as resolved, locked(resolved):  # a second process must wait, then give up
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


# --- what was resolved is what is written: a directory swapped for a link moves nothing ---------------------------

IOMEM = EXAMPLES / "memmap" / "iomem.txt"
SWAP_COMMANDS: dict[str, list[str]] = {
    "in place": ["add-range", "{target}", "8G", "4K"],
    "-o": ["add-range", "{good}", "8G", "4K", "-o", "{target}"],
    "create": ["create", "{target}", "--force"],
}  # a report: test_other_users.py (it is resolved twice, and a link root made itself here is followed the second time)


@pytest.fixture
def swap(tmp_path: Path) -> tuple[Path, Path]:
    """`d` (holding pool.dtb), and `elsewhere` (holding a pool.dtb that must stay as it is)."""
    for name in ("d", "elsewhere"):
        (tmp_path / name).mkdir()
        shutil.copy(EXAMPLES / "pool.dtb", tmp_path / name / "pool.dtb")
    return tmp_path / "d", tmp_path / "elsewhere"


def _swap_for_link(directory: Path, to: Path) -> None:
    """What another user does in the window: their directory out of the way, a link in its place."""
    directory.rename(directory.with_name(directory.name + ".real"))
    directory.symlink_to(to)


def _args(kind: str, target: Path) -> list[str]:
    return [arg.format(target=target, good=EXAMPLES / "pool.dtb") for arg in SWAP_COMMANDS[kind]]


@pytest.mark.parametrize("kind", list(SWAP_COMMANDS))
def test_a_directory_swapped_for_a_link_after_the_check_moves_no_write(
    swap: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """The lock, the read, the temp file and the rename all happen in the directory that was checked."""
    from pmpoolctl.files import safewrite

    directory, elsewhere = swap
    untouched = (elsewhere / "pool.dtb").read_bytes()
    real = safewrite.resolve_target

    def resolve_then_swap(path: str) -> safewrite.Target:
        resolved = real(path)
        _swap_for_link(directory, elsewhere)  # between the check and every use
        return resolved

    monkeypatch.setattr(safewrite, "resolve_target", resolve_then_swap)
    run = run_cli(_args(kind, directory / "pool.dtb"))
    assert run.exit_code == 0, run.stderr
    assert (elsewhere / "pool.dtb").read_bytes() == untouched
    assert sorted(os.listdir(elsewhere)) == ["pool.dtb"]  # no lock, no temp file
    checked = directory.with_name("d.real")
    assert sorted(os.listdir(checked)) == [".pool.dtb.lock", "pool.dtb"]
    assert (checked / "pool.dtb").read_bytes() != (EXAMPLES / "pool.dtb").read_bytes()


def test_a_directory_swapped_for_a_link_during_the_walk_is_refused(
    swap: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the walk's look at `d` and its opening of it: what is opened must be what was looked at."""
    from pmpoolctl.files import safewrite

    directory, elsewhere = swap
    untouched = (elsewhere / "pool.dtb").read_bytes()
    real = safewrite._lstat_at

    def look_then_swap(shown: str, at: int, name: str) -> os.stat_result | None:
        seen = real(shown, at, name)
        if name == "d":
            _swap_for_link(directory, elsewhere)
        return seen

    monkeypatch.setattr(safewrite, "_lstat_at", look_then_swap)
    run = run_cli(["add-range", str(directory / "pool.dtb"), "8G", "4K"])
    assert_input_error(run, str(directory / "pool.dtb"), "changed while it was being resolved")
    assert (elsewhere / "pool.dtb").read_bytes() == untouched
    assert sorted(os.listdir(elsewhere)) == ["pool.dtb"]
    assert (directory.with_name("d.real") / "pool.dtb").read_bytes() == (EXAMPLES / "pool.dtb").read_bytes()


def test_a_file_swapped_for_a_link_after_the_check_is_not_read_or_written_through(
    pool_blob: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target itself replaced by a link once resolved: the read does not follow it (O_NOFOLLOW)."""
    from pmpoolctl.files import safewrite

    other = tmp_path / "other.dtb"
    shutil.copy(EXAMPLES / "pool.dtb", other)
    real = safewrite.resolve_target

    def resolve_then_swap(path: str) -> safewrite.Target:
        resolved = real(path)
        pool_blob.unlink()
        pool_blob.symlink_to(other)
        return resolved

    monkeypatch.setattr(safewrite, "resolve_target", resolve_then_swap)
    run = run_cli(["add-range", str(pool_blob), "8G", "4K"])
    assert_input_error(run, str(pool_blob), "cannot read")
    assert other.read_bytes() == (EXAMPLES / "pool.dtb").read_bytes() and pool_blob.is_symlink()


# --- names a file cannot have, and names as long as a file's can be -------------------------------------------


@pytest.mark.parametrize(
    ("args", "exists"),
    [
        (["create", "{dir}/new.dtb/"], False),
        (["create", "{dir}/new.dtb//.", "--force"], False),
        (["add-range", "{good}", "8G", "4K", "-o", "{dir}/new.dtb/"], False),
        (["validate", "{good}", "--memmap", "{iomem}", "--junit", "{dir}/new.dtb/"], False),
        (["add-range", "{dir}/pool.dtb/", "8G", "4K"], True),
    ],
)
def test_a_name_ending_in_a_slash_is_refused(pool_blob: Path, args: list[str], exists: bool) -> None:
    """`x.dtb/` names a directory: the kernel's open(O_CREAT) says EISDIR, and pmpoolctl creates no `x.dtb`."""
    directory = pool_blob.parent
    before = pool_blob.read_bytes()
    names = {"dir": directory, "good": EXAMPLES / "pool.dtb", "iomem": IOMEM}
    run = run_cli([arg.format(**names) for arg in args])
    assert_input_error(run, "ends in '/', so it names a directory, not a file")
    assert sorted(os.listdir(directory)) == ["pool.dtb"]  # no new.dtb, no lock, no temp file
    assert pool_blob.read_bytes() == before


def test_a_link_whose_text_ends_in_a_slash_is_refused(tmp_path: Path) -> None:
    (tmp_path / "link.dtb").symlink_to("new.dtb/")
    assert_input_error(run_cli(["create", str(tmp_path / "link.dtb"), "--force"]), "names a directory")
    assert sorted(os.listdir(tmp_path)) == ["link.dtb"]


@pytest.mark.parametrize("length", [231, 232, 255])
def test_a_name_as_long_as_a_file_name_can_be_is_edited(tmp_path: Path, length: int) -> None:
    """Lock and temp names stay within NAME_MAX: up to 231 bytes they are `.NAME.lock` and `.NAME.*`, past it hashed."""
    name = "p" * (length - len("é.dtb".encode())) + "é.dtb"  # bytes are counted, not characters
    assert len(name.encode()) == length
    blob = tmp_path / name
    assert run_cli(["create", str(blob)]).exit_code == 0
    stale = tmp_path / f".{sorted(os.listdir(tmp_path))[0][1 : -len('.lock')]}.abc123_x.pmpoolctl-tmp"
    stale.write_bytes(b"left by a killed edit")  # a killed edit's temp file: the next edit removes it
    for args in (
        ["add-range", str(blob), "8G", "4K"],
        ["remove-range", str(blob), "8G", "4K"],
        ["canonicalize", str(blob)],
    ):
        run = run_cli(args)
        assert run.exit_code == 0, run.stderr
    assert run_cli(["add-range", str(blob), "8G", "4K"]).exit_code == 0
    assert "0x200000000" in run_cli(["dump", str(blob)]).stdout
    (lock,) = set(os.listdir(tmp_path)) - {name}  # the blob and its lock, nothing left behind
    assert lock.startswith(".p") and lock.endswith(".lock") and len(os.fsencode(lock)) <= 255
    assert (lock == f".{name}.lock") == (length <= 231)


def test_long_names_sharing_a_prefix_have_their_own_locks(tmp_path: Path) -> None:
    first, second = "a" * 250 + "1.dtb", "a" * 250 + "2.dtb"
    for name in (first, second):
        assert run_cli(["create", str(tmp_path / name)]).exit_code == 0
    locks = [n for n in os.listdir(tmp_path) if n.endswith(".lock")]
    assert len(locks) == 2
