"""Safe among other users: what a hostile local user can plant for root's pmpoolctl to trip over.

Root runs the real command (`python -m pmpoolctl`); the other user is uid ATTACKER. What the
attacker plants (symlinks, lock files, regular files) is made here and handed to ATTACKER with
lchown, which leaves the same state as planting it themselves; what the attacker runs (a
shared flock on a lock file) runs under `setpriv` as ATTACKER. These need root: CI is root, and
a developer's run without root skips them (CI fails instead).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from pmpoolctl.dtb.reader import parse_blob
from tests.conftest import EXAMPLES

REPO = Path(__file__).resolve().parents[2]
ATTACKER = 4321
ENV = {**os.environ, "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"}
GOOD = EXAMPLES / "pool.dtb"
IOMEM = EXAMPLES / "memmap" / "iomem.txt"

if os.geteuid() != 0:
    if os.environ.get("CI"):
        pytest.fail("tests/test_other_users.py needs root, as CI has", pytrace=False)
    pytest.skip("needs root (CI runs it as root)", allow_module_level=True)


def pmpoolctl(args: Sequence[str | Path], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pmpoolctl", *map(str, args)],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=REPO,
        timeout=timeout,
        check=False,
    )


def refused(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 3, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture
def shared() -> Iterator[Path]:
    """A sticky world-writable directory, as /tmp is, that ATTACKER can reach (pytest's tmp_path is 0700)."""
    directory = Path(tempfile.mkdtemp(prefix="pmpoolctl-shared-", dir="/tmp"))
    directory.chmod(0o1777)
    yield directory
    shutil.rmtree(directory)


@pytest.fixture
def private(tmp_path: Path) -> Path:
    """A directory only root may enter: where an attacker's links point."""
    directory = tmp_path / "rootonly"
    directory.mkdir()
    directory.chmod(0o700)
    (directory / "precious.dtb").write_bytes(GOOD.read_bytes())
    return directory


def planted_link(link: Path, target: Path) -> Path:
    link.symlink_to(target)
    os.lchown(link, ATTACKER, ATTACKER)
    return link


def planted_file(path: Path, data: bytes = b"", mode: int = 0o644) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    os.chown(path, ATTACKER, ATTACKER)
    return path


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def ranges_of(path: Path) -> list[tuple[int, int]]:
    blob = parse_blob(path.read_bytes(), str(path))
    node = blob.child(blob.root, "default_pmpool")
    assert node is not None
    prop = node.property("page-ranges")
    assert prop is not None
    raw = blob.value(prop)
    pairs = (raw[i : i + 16] for i in range(0, len(raw), 16))
    return [(int.from_bytes(pair[:8], "big"), int.from_bytes(pair[8:], "big")) for pair in pairs]


# --- root never writes through another user's link in a sticky world-writable directory ---------------------------


def test_a_planted_lock_symlink_is_not_followed(shared: Path, private: Path) -> None:
    blob = shared / "pool.dtb"
    shutil.copy(GOOD, blob)
    planted_link(shared / ".pool.dtb.lock", private / "created-by-root")
    proc = pmpoolctl(["add-range", blob, "8G", "4K"])
    assert proc.returncode == 0, proc.stderr
    assert listing(private) == ["precious.dtb"]  # nothing created through the link
    lock = shared / ".pool.dtb.lock"
    assert not lock.is_symlink() and stat.S_IMODE(lock.stat().st_mode) == 0o600 and lock.stat().st_uid == 0
    assert (0x200000000, 0x1000) in ranges_of(blob)


@pytest.mark.parametrize("kind", ["output", "junit", "create", "blob"])
def test_a_planted_target_symlink_is_refused(shared: Path, private: Path, kind: str) -> None:
    precious = private / "precious.dtb"
    before = precious.read_bytes()
    link = planted_link(shared / "next.dtb", precious)
    commands: dict[str, list[str | Path]] = {
        "output": ["add-range", GOOD, "8G", "4K", "-o", link],
        "junit": ["validate", GOOD, "--memmap", IOMEM, "--junit", link],
        "create": ["create", link, "--force"],
        "blob": ["add-range", link, "8G", "4K"],
    }
    args = commands[kind]
    refused(pmpoolctl(args), "refusing to follow the symlink", "protected_symlinks", str(link))
    assert precious.read_bytes() == before
    assert listing(private) == ["precious.dtb"]
    assert link.is_symlink()


def test_links_of_the_directory_owner_and_our_own_are_followed(shared: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(GOOD, store / "pool.dtb")
    (shared / "ours.dtb").symlink_to(store / "pool.dtb")  # root's own link: followed, the link kept
    proc = pmpoolctl(["add-range", shared / "ours.dtb", "8G", "4K"])
    assert proc.returncode == 0, proc.stderr
    assert (shared / "ours.dtb").is_symlink() and (0x200000000, 0x1000) in ranges_of(store / "pool.dtb")


def test_a_link_in_a_private_directory_is_followed_whoever_owns_it(tmp_path: Path) -> None:
    """The rule is the kernel's: only sticky world-writable directories make a link suspect."""
    (tmp_path / "store").mkdir()
    shutil.copy(GOOD, tmp_path / "store" / "pool.dtb")
    link = planted_link(tmp_path / "link.dtb", tmp_path / "store" / "pool.dtb")
    assert pmpoolctl(["add-range", link, "8G", "4K"]).returncode == 0


def test_a_planted_regular_file_is_not_replaced(shared: Path) -> None:
    """protected_regular: root must not take over (and keep the owner of) a file another user put there."""
    planted = planted_file(shared / "next.dtb", b"not yours")
    commands: list[list[str | Path]] = [
        ["add-range", GOOD, "8G", "4K", "-o", planted],
        ["validate", GOOD, "--memmap", IOMEM, "--junit", planted],
        ["create", planted, "--force"],
    ]
    for args in commands:
        refused(pmpoolctl(args), "protected_regular")
        assert planted.read_bytes() == b"not yours" and planted.stat().st_uid == ATTACKER


# --- a retargeted symlink cannot move one blob's pool into another file -------------------------------------------


def test_a_symlink_retargeted_during_the_edit_does_not_move_a_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import run_cli

    first, second = tmp_path / "first.dtb", tmp_path / "second.dtb"
    shutil.copy(GOOD, first)
    shutil.copy(GOOD, second)
    assert pmpoolctl(["remove-range", second, "0x140000000", "1G"]).returncode == 0
    second_before = second.read_bytes()
    link = tmp_path / "current.dtb"
    link.symlink_to(first)

    from pmpoolctl.files import safewrite
    from pmpoolctl.files.safewrite import Target
    from pmpoolctl.files.safewrite import resolve_target as real

    def resolve_then_retarget(path: str) -> Target:
        resolved = real(path)
        link.unlink()
        link.symlink_to(second)  # between the resolution and the read
        return resolved

    monkeypatch.setattr(safewrite, "resolve_target", resolve_then_retarget)  # as api.edit_pool imports it
    run = run_cli(["add-range", str(link), "8G", "4K"])
    assert run.exit_code == 0, run.stderr
    assert second.read_bytes() == second_before  # untouched
    assert ranges_of(first) == [(0x100000000, 0x200000), (0x140000000, 0x40000000), (0x200000000, 0x1000)]


# --- a directory another user swaps for a link once it was checked moves no write of root's ---------------------


@pytest.mark.parametrize(
    "args",
    [
        ["add-range", "{target}", "8G", "4K"],
        ["add-range", GOOD, "8G", "4K", "-o", "{target}"],
        ["create", "{target}", "--force"],
        ["validate", GOOD, "--memmap", IOMEM, "--junit", "{target}"],
    ],
    ids=["in place", "-o", "create", "report"],
)
def test_a_directory_swapped_for_another_users_link_moves_no_write(
    shared: Path, private: Path, monkeypatch: pytest.MonkeyPatch, args: list[str | Path]
) -> None:
    """The red-team race, made deterministic: ATTACKER's directory in /tmp becomes their link to root's directory
    right after the check. Every write lands in the directory that was checked, or is refused; none in `private`."""
    from pmpoolctl.files import safewrite
    from tests.conftest import run_cli

    theirs = shared / "d"
    theirs.mkdir()
    shutil.copy(GOOD, theirs / "precious.dtb")
    os.chown(theirs, ATTACKER, ATTACKER)
    before = (private / "precious.dtb").read_bytes()
    real = safewrite.resolve_target
    swapped: list[str] = []

    def resolve_then_swap(path: str) -> safewrite.Target:
        resolved = real(path)
        if not swapped:
            theirs.rename(shared / "d.real")
            planted_link(theirs, private)
            swapped.append(path)
        return resolved

    monkeypatch.setattr(safewrite, "resolve_target", resolve_then_swap)
    reporting = args[0] == "validate"
    if reporting:  # a report never replaces a blob (tests/cli/test_report_paths.py): an old report, in both
        for directory in (theirs, private):
            (directory / "report.xml").write_text("an old report\n")
        os.chown(theirs / "report.xml", ATTACKER, ATTACKER)
        before = (private / "report.xml").read_bytes()
    target = theirs / ("report.xml" if reporting else "precious.dtb")
    run = run_cli([str(a).format(target=target) for a in args])
    assert swapped
    assert (private / target.name).read_bytes() == before
    assert listing(private) == sorted(["precious.dtb", *(["report.xml"] if reporting else [])])  # no lock, no temp
    checked = shared / "d.real"
    if reporting:  # resolved once, before the stand-in: the stand-in and the report both go where it was checked
        assert run.exit_code == 0, run.stderr
        assert "<failure" not in (checked / "report.xml").read_text()
        assert "testsuite" in (checked / "report.xml").read_text()
        assert listing(checked) == [".report.xml.lock", "precious.dtb", "report.xml"]
        return
    assert run.exit_code == 0, run.stderr
    expected = [] if args[0] == "create" else [(0x200000000, 0x1000)]  # create: a new, empty pool
    assert (
        set(expected) <= set(ranges_of(checked / "precious.dtb"))
        and GOOD.read_bytes() != (checked / "precious.dtb").read_bytes()
    )
    assert listing(checked) == [".precious.dtb.lock", "precious.dtb"]


# --- no other user can hold up an edit ---------------------------------------------------------------------------


def _hold_shared_flock(path: Path) -> subprocess.Popen[bytes]:
    """ATTACKER holds a shared flock on `path` (if they can open it) for 60 s."""
    proc = subprocess.Popen(
        ["setpriv", f"--reuid={ATTACKER}", f"--regid={ATTACKER}", "--clear-groups",
         "flock", "--shared", "--nonblock", str(path), "sleep", "60"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(0.5)
    return proc


def test_a_lock_file_is_0600_and_the_targets_owners(tmp_path: Path, shared: Path) -> None:
    blob = shared / "pool.dtb"
    shutil.copy(GOOD, blob)
    assert pmpoolctl(["add-range", blob, "8G", "4K"]).returncode == 0
    lock = shared / ".pool.dtb.lock"
    assert (stat.S_IMODE(lock.stat().st_mode), lock.stat().st_uid) == (0o600, 0)
    holder = _hold_shared_flock(lock)  # ATTACKER cannot even open it
    assert holder.wait(timeout=10) != 0
    # A blob of another user: the lock is theirs, so their own edits take the same lock.
    owned = tmp_path / "owned"
    owned.mkdir()
    shutil.copy(GOOD, owned / "pool.dtb")
    os.chown(owned / "pool.dtb", 2000, 2000)
    assert pmpoolctl(["add-range", owned / "pool.dtb", "8G", "4K"]).returncode == 0
    their_lock = (owned / ".pool.dtb.lock").stat()
    assert (stat.S_IMODE(their_lock.st_mode), their_lock.st_uid) == (0o600, 2000)


@pytest.mark.parametrize("planted_by", ["attacker", "an older pmpoolctl"])
def test_a_lock_another_user_holds_does_not_hold_up_root(shared: Path, planted_by: str) -> None:
    """A lock file that others may open (0644: planted, or made by an older version) is replaced, not waited on."""
    blob = shared / "pool.dtb"
    shutil.copy(GOOD, blob)
    lock = planted_file(shared / ".pool.dtb.lock")
    if planted_by != "attacker":
        os.chown(lock, 0, 0)  # root's, but readable by all: anyone may flock it
    holder = _hold_shared_flock(lock)
    try:
        assert holder.poll() is None, holder.stderr.read() if holder.stderr else ""  # holding it
        started = time.monotonic()
        proc = pmpoolctl(["add-range", blob, "8G", "4K"], timeout=25)
        assert proc.returncode == 0, proc.stderr
        assert time.monotonic() - started < 10  # not the 30 s lock timeout
    finally:
        holder.kill()
        holder.wait()
    new_lock = (shared / ".pool.dtb.lock").stat()
    assert (stat.S_IMODE(new_lock.st_mode), new_lock.st_uid) == (0o600, 0)
    assert (0x200000000, 0x1000) in ranges_of(blob)


# --- FIFOs are refused before they are opened for reading, and before any lock -----------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    yield path


@pytest.mark.parametrize(
    "args",
    [
        ["dump", "{fifo}"],
        ["validate", "{good}", "--memmap", "{fifo}"],
        ["validate", "{fifo}", "--memmap", "{iomem}"],
        ["memmap", "{fifo}"],
        ["add-range", "{copy}", "--from", "{fifo}"],
        ["diff", "{good}", "{fifo}"],
        ["diff", "{fifo}", "{good}"],
        ["add-range", "{fifo}", "8G", "4K", "-o", "{out}"],
        ["kho", "dump", "{fifo}"],
    ],
)
def test_a_fifo_is_refused_without_blocking(tmp_path: Path, fifo: Path, args: list[str]) -> None:
    copy = tmp_path / "copy.dtb"
    shutil.copy(GOOD, copy)
    names = {"fifo": fifo, "good": GOOD, "iomem": IOMEM, "copy": copy, "out": tmp_path / "out.dtb"}
    proc = pmpoolctl([a.format(**names) for a in args], timeout=20)
    refused(proc, str(fifo), "not a regular file")
    assert not (tmp_path / ".out.dtb.lock").exists()  # no lock was taken for an input still to be read
    assert not (tmp_path / "out.dtb").exists()


# --- whatever another user plants as the lock, root replaces it and goes on ---------------------------------------


def _plant_socket(path: Path) -> None:
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
    os.lchown(path, ATTACKER, ATTACKER)


def _plant_directory(path: Path, inside: bool) -> None:
    path.mkdir()
    if inside:
        planted_file(path / "theirs", b"kept")
    os.chown(path, ATTACKER, ATTACKER)


def _plant_fifo(path: Path) -> None:
    os.mkfifo(path)
    os.lchown(path, ATTACKER, ATTACKER)


PLANTS: dict[str, Callable[[Path], None]] = {
    "empty directory": lambda path: _plant_directory(path, inside=False),
    "directory with a file": lambda path: _plant_directory(path, inside=True),
    "socket": _plant_socket,
    "fifo": _plant_fifo,
}


@pytest.mark.parametrize("command", ["add-range", "create"])
@pytest.mark.parametrize("plant", list(PLANTS))
def test_a_lock_planted_as_anything_is_replaced_by_root(shared: Path, plant: str, command: str) -> None:
    blob = shared / "pool.dtb"
    if command == "add-range":
        shutil.copy(GOOD, blob)
    lock = shared / ".pool.dtb.lock"
    PLANTS[plant](lock)
    args: list[str | Path] = ["add-range", blob, "8G", "4K"] if command == "add-range" else ["create", blob]
    started = time.monotonic()
    proc = pmpoolctl(args, timeout=25)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 10  # not the 30 s lock timeout
    st = lock.lstat()
    assert stat.S_ISREG(st.st_mode) and (stat.S_IMODE(st.st_mode), st.st_uid) == (0o600, 0)
    if command == "add-range":
        assert (0x200000000, 0x1000) in ranges_of(blob)
    aside = [name for name in listing(shared) if name.endswith(".pmpoolctl-old")]
    if plant == "directory with a file":  # moved aside, what is in it left alone
        assert len(aside) == 1 and (shared / aside[0] / "theirs").read_bytes() == b"kept"
    else:
        assert aside == []
    assert listing(shared) == sorted([".pool.dtb.lock", "pool.dtb", *aside])


def test_a_non_root_owner_is_told_what_to_remove(shared: Path) -> None:
    """Only root may replace another user's lock in a sticky directory: anyone else is refused at once, and told."""
    owner = ATTACKER + 1
    blob = shared / "pool.dtb"
    shutil.copy(GOOD, blob)
    os.chown(blob, owner, owner)
    before = blob.read_bytes()
    _plant_directory(shared / ".pool.dtb.lock", inside=False)
    proc = subprocess.run(
        ["setpriv", f"--reuid={owner}", f"--regid={owner}", "--clear-groups",
         sys.executable, "-m", "pmpoolctl", "add-range", str(blob), "8G", "4K"],
        capture_output=True, text=True, env=ENV, cwd="/", timeout=25, check=False,
    )  # fmt: skip
    refused(proc, str(shared / ".pool.dtb.lock"), f"uid {ATTACKER}", "remove it, then edit again")
    assert blob.read_bytes() == before
    assert listing(shared) == [".pool.dtb.lock", "pool.dtb"]
