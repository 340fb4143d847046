"""Nothing is lost: concurrent edits, SIGKILL at any moment, and every way a write can fail.

Everything here runs the real command line in separate processes (`python -m
pmpoolctl`) against real files: real locks between real processes, real kills,
real permission checks (when we are root, as CI is, the CLI runs without the
capabilities that let root ignore file modes), a real full and a real read-only
filesystem (a tiny tmpfs) and a real file-size limit.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import hashlib
import io
import json
import os
import random
import resource
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pmpoolctl.dtb.reader import parse_blob
from tests.conftest import Run, assert_input_error

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
TEMP_SUFFIX = ".pmpoolctl-tmp"
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 24, 1, 2, 3  # linux/prctl.h, capability.h
OWNER = 1234  # a blob's owner that is neither us nor the CLI's user
IS_ROOT = os.geteuid() == 0
IN_USERNS = os.environ.get("PMPOOLCTL_TEST_USERNS") == "1"  # set when this file re-runs itself under unshare
CI = bool(os.environ.get("CI"))
POOL = "default_pmpool"

# examples/pool.dtb holds [0x100000000, +2M) and [0x140000000, +1G); 426 bytes, no padding.
INITIAL_RANGES = frozenset({(0x100000000, 0x200000), (0x140000000, 0x40000000)})

_ENV = {**os.environ, "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def _drop_root_privileges() -> None:
    """In the child before exec: root without the capabilities that bypass file permissions.

    Root reads and writes whatever it likes (and CI runs as root), so a refusal by
    a file's mode is only real for a process without CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH and CAP_FOWNER. Dropping them from the bounding set
    means the exec'd interpreter never gets them; the kernel then checks modes
    for uid 0 as for anyone (an owner's bits for root's files, the others' bits
    for OWNER's). Switching to an unprivileged uid instead would need an
    interpreter that uid can execute, which a pyenv under /root is not.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def pmpoolctl(
    args: Sequence[str],
    *,
    unprivileged: bool = False,
    preexec_fn: Callable[[], None] | None = None,
) -> Run:
    """The real CLI in its own process; `unprivileged` takes away root's right to ignore file modes."""
    if unprivileged and IS_ROOT:
        assert preexec_fn is None
        preexec_fn = _drop_root_privileges
    proc = subprocess.run(
        [sys.executable, "-m", "pmpoolctl", *args],
        capture_output=True,
        text=True,
        env=_ENV,
        cwd=REPO,
        check=False,
        timeout=120,
        preexec_fn=preexec_fn,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def ok(run: Run) -> Run:
    assert run.exit_code == 0 and run.stderr == "", (run.exit_code, run.stdout, run.stderr)
    return run


def pool_ranges(data: bytes, source: str = "blob") -> frozenset[tuple[int, int]]:
    """The (base, size) pairs of /default_pmpool, decoded here from the raw property bytes."""
    blob = parse_blob(data, source)
    node = blob.child(blob.root, POOL)
    assert node is not None, f"{source}: no /{POOL}"
    prop = node.property("page-ranges")
    assert prop is not None, f"{source}: no page-ranges"
    raw = blob.value(prop)
    assert len(raw) % 16 == 0
    return frozenset(struct.iter_unpack(">QQ", raw))


def dumped_ranges(run: Run) -> frozenset[tuple[int, int]]:
    """The pool's ranges from `dump --json` output."""
    assert run.exit_code == 0, (run.exit_code, run.stderr)
    pool = json.loads(run.stdout)["pool"]
    return frozenset((r["base"], r["size"]) for r in pool["ranges"])


def temp_files(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(TEMP_SUFFIX))


@dataclass(frozen=True)
class FileState:
    data: bytes
    mode: int
    uid: int
    gid: int


def file_state(path: Path) -> FileState:
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    try:
        data = path.read_bytes()
    except PermissionError:
        if IS_ROOT and not IN_USERNS:
            raise
        path.chmod(mode | stat.S_IRUSR)  # not root: our own mode 000 file, read for the comparison
        try:
            data = path.read_bytes()
        finally:
            path.chmod(mode)
    return FileState(data, mode, info.st_uid, info.st_gid)


def give_away(path: Path, mode: int) -> None:
    """Mode `mode`, and (when we may) owner OWNER:OWNER, so that an edit must carry both over."""
    if IS_ROOT and not IN_USERNS:
        os.chown(path, OWNER, OWNER)
    os.chmod(path, mode)


def assert_refused(run: Run, path: Path, needle: str, before: FileState | None, *directories: Path) -> None:
    """Exit 3 with one `error:` line naming `path` and saying `needle`; the file as it was; no temp file."""
    assert_input_error(run, str(path), needle)
    if before is None:
        assert not path.exists()
    else:
        assert file_state(path) == before
    for directory in directories:
        assert temp_files(directory) == [], directory


# ---------------------------------------------------------------------------
# 1. Concurrent edits lose nothing, and readers never see a torn blob

WORKERS, EDITS_PER_WORKER = 8, 25
TRANSIENT_WORKERS = 2  # these also add two ranges each and remove them again


def _permanent(worker: int, index: int) -> tuple[int, int]:
    return ((1 << 40) + ((worker * 64 + index) << 22), 0x1000)  # 4 MiB apart: never merged


def _transient(worker: int, index: int) -> tuple[int, int]:
    return ((1 << 41) + ((worker * 64 + index) << 22), 0x2000)


def _worker_edits(worker: int) -> list[tuple[str, tuple[int, int]]]:
    edits = [("add-range", _permanent(worker, i)) for i in range(EDITS_PER_WORKER)]
    if worker < TRANSIENT_WORKERS:
        for position, edit in ((5, ("add-range", 0)), (10, ("add-range", 1)), (17, ("remove-range", 0))):
            edits.insert(position, (edit[0], _transient(worker, edit[1])))
        edits.append(("remove-range", _transient(worker, 1)))
    return edits


def edit_worker_main(path: str, worker: int) -> None:
    """An editing process: make this worker's edits through the CLI's own entry, print the exit codes as JSON.

    Run as `python -c` by the concurrency test: one interpreter per worker, so the
    edits are separate processes locking the blob against each other (a process
    per edit costs 0.1 s of CPU each and would make the test take minutes).
    """
    from pmpoolctl.cli import cli

    done = []
    for command, (base, size) in _worker_edits(worker):
        output = io.StringIO()
        try:
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                cli.main([command, path, hex(base), hex(size)], prog_name="pmpoolctl")
        except SystemExit as exc:
            code = exc.code
        else:
            code = "returned"
        done.append([command, base, size, code, output.getvalue() if code != 0 else ""])
    json.dump(done, sys.stdout)


def byte_reader_main(path: str, stop: str, ready: str) -> None:
    """A reader process: read and parse the blob until `stop` exists; print what it saw as JSON.

    Run as `python -c` by the concurrency test; touches `ready` after its first
    read. It prints the number of reads, every failed read, and the sequence of
    distinct consecutive pool states.
    """
    reads, errors, states = 0, [], []  # type: tuple[int, list[str], list[list[list[int]]]]
    last: frozenset[tuple[int, int]] | None = None
    while not os.path.exists(stop):
        try:
            with open(path, "rb") as stream:
                data = stream.read()
            ranges = pool_ranges(data, path)
        except Exception as exc:  # noqa: BLE001 - every failure is a finding, reported to the test
            errors.append(f"{type(exc).__name__}: {exc}")
        else:
            if ranges != last:
                states.append(sorted([base, size] for base, size in ranges))
                last = ranges
        reads += 1
        if reads == 1:
            Path(ready).touch()
        time.sleep(0.0005)
    json.dump({"reads": reads, "errors": errors, "states": states}, sys.stdout)


def _python(function: str, *args: object) -> subprocess.Popen[str]:
    """A Python process running `function(*args)` from this module, its stdout piped."""
    return subprocess.Popen(
        [sys.executable, "-c", f"from tests.system.test_safety import {function}; {function}(*{args!r})"],
        cwd=REPO,
        env=_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _check_reader_states(name: str, states: list[frozenset[tuple[int, int]]]) -> None:
    """Initial ranges always there, permanent ones never lost, transient ones added once and removed once."""
    permanent = {_permanent(w, i) for w in range(WORKERS) for i in range(EDITS_PER_WORKER)}
    transient = {_transient(w, i) for w in range(TRANSIENT_WORKERS) for i in range(2)}
    seen_transient: set[tuple[int, int]] = set()
    gone_transient: set[tuple[int, int]] = set()
    previous: frozenset[tuple[int, int]] = frozenset()
    for number, state in enumerate(states):
        assert state >= INITIAL_RANGES, (name, number)
        assert state <= INITIAL_RANGES | permanent | transient, (name, number, state - INITIAL_RANGES - permanent)
        lost = (previous & permanent) - state
        assert not lost, f"{name}: read {number} lost {sorted(lost)} that an earlier read saw"
        for r in transient:
            if r in state:
                assert r not in gone_transient, f"{name}: read {number}: removed {r} came back"
                seen_transient.add(r)
            elif r in seen_transient:
                gone_transient.add(r)
        previous = state


def test_concurrent_edits_lose_nothing_and_readers_never_see_a_torn_blob(tmp_path: Path) -> None:
    blob = tmp_path / "pool.dtb"
    shutil.copy(EXAMPLES / "pool.dtb", blob)
    stop = tmp_path / "stop"

    # Readers 1 and 2: processes that read the bytes and parse them, again and again.
    byte_readers = [_python("byte_reader_main", str(blob), str(stop), str(tmp_path / f"ready{n}")) for n in (1, 2)]
    # Reader 3: `pmpoolctl dump --json` in a loop, one process per read.
    stop_event = threading.Event()
    dump_reads: list[Run] = []

    def dump_reader() -> None:
        while not stop_event.is_set():
            dump_reads.append(pmpoolctl(["dump", str(blob), "--json"]))

    dump_thread = threading.Thread(target=dump_reader)
    dump_thread.start()
    deadline = time.monotonic() + 30
    while not ((tmp_path / "ready1").exists() and (tmp_path / "ready2").exists() and dump_reads):
        assert time.monotonic() < deadline, "the readers did not start"
        time.sleep(0.01)

    started = time.monotonic()
    workers = [_python("edit_worker_main", str(blob), w) for w in range(WORKERS)]
    worker_output = [worker.communicate(timeout=120) for worker in workers]
    edit_seconds = time.monotonic() - started
    reads_during_edits = len(dump_reads)
    time.sleep(0.2)  # the readers go on a little past the last edit
    stop_event.set()
    stop.touch()
    dump_thread.join()
    reader_output = [reader.communicate(timeout=60) for reader in byte_readers]

    # Every edit succeeded, and the pool holds exactly what they add up to.
    for number, (worker, (out, err)) in enumerate(zip(workers, worker_output)):
        assert worker.returncode == 0, (number, err)
        done = json.loads(out)
        assert [(c, (b, s)) for c, b, s, _, _ in done] == _worker_edits(number)
        assert [(c, b, s, code, text) for c, b, s, code, text in done if code != 0] == [], number
    final = pool_ranges(blob.read_bytes())
    permanent = {_permanent(w, i) for w in range(WORKERS) for i in range(EDITS_PER_WORKER)}
    assert len(permanent) == WORKERS * EDITS_PER_WORKER == 200
    assert final == INITIAL_RANGES | permanent, (sorted(permanent - final), sorted(final - permanent))
    assert dumped_ranges(pmpoolctl(["dump", str(blob), "--json"])) == final
    assert sorted(os.listdir(tmp_path)) == [".pool.dtb.lock", "pool.dtb", "ready1", "ready2", "stop"]

    # Every read succeeded and no read saw less than the read before it.
    for number, (reader, (out, err)) in enumerate(zip(byte_readers, reader_output)):
        assert reader.returncode == 0, err
        seen = json.loads(out)
        assert seen["errors"] == [], (number, seen["reads"], seen["errors"][:5])
        states = [frozenset((b, s) for b, s in state) for state in seen["states"]]
        _check_reader_states(f"byte reader {number}", states)
        # It really read while the edits ran: it saw the pool grow, not just its two ends.
        assert len(states) > 20, (number, len(states), seen["reads"], edit_seconds)
    failed = [run for run in dump_reads if run.exit_code != 0 or run.stderr]
    assert failed == [], failed[:3]
    dump_states = [dumped_ranges(run) for run in dump_reads]
    _check_reader_states("dump reader", dump_states)
    assert dump_states[-1] == final
    assert reads_during_edits >= 3, (len(dump_reads), edit_seconds)


# ---------------------------------------------------------------------------
# 2. SIGKILL at any moment leaves the old blob or the new one

BIG_RANGES = 100_000
BIG_BASE = 1 << 32


def _big_dts(count: int) -> str:
    """A pool of `count` 3-page ranges one page apart, written as DTS for dtc to compile."""
    cells = " ".join(f"{BIG_BASE + j * 0x4000:#x} 0x3000" for j in range(count))
    return (
        '/dts-v1/;\n\n/ {\n\t#address-cells = <2>;\n\t#size-cells = <2>;\n\tmodel = "crash test";\n\n'
        f'\t{POOL} {{\n\t\tcompatible = "pmpool-v1";\n\t\tpage-size = <0x1000>;\n'
        f"\t\tpage-ranges = /bits/ 64 <{cells}>;\n\t}};\n}};\n"
    )


def _crash_edit(number: int) -> list[str]:
    """Edit `number`: mostly new ranges above the pool; every third splits an original range."""
    if number % 3 == 2:
        original = BIG_BASE + (7919 * number % BIG_RANGES) * 0x4000
        return ["remove-range", hex(original + 0x1000), "0x1000"]
    base = BIG_BASE + (BIG_RANGES + number) * 0x4000
    return ["add-range", hex(base), hex(0x1000 * (1 + number % 3))]


def _cli_command(edit: list[str], path: Path) -> list[str]:
    return [sys.executable, "-m", "pmpoolctl", edit[0], str(path), *edit[1:]]


def _watch_temp(proc: subprocess.Popen[bytes], directory: Path, stale: set[str], until_gone: bool) -> bool:
    """Spin until the edit's own temp file appears (or, with `until_gone`, is renamed away)."""
    seen: str | None = None
    while proc.poll() is None:
        fresh = set(temp_files(directory)) - stale
        if seen is None and fresh:
            seen = min(fresh)
            if not until_gone:
                return True
        elif seen is not None and seen not in fresh:
            return True
    return False


MIN_KILLS = 20
MAX_ATTEMPTS = 40


def test_sigkill_at_any_moment_leaves_the_old_or_the_new_blob(tmp_path: Path, dtc: str) -> None:
    live, scratch = tmp_path / "live", tmp_path / "scratch"
    live.mkdir()
    scratch.mkdir()
    source = tmp_path / "big.dts"
    source.write_text(_big_dts(BIG_RANGES))
    blob = live / "big.dtb"
    subprocess.run([dtc, "-I", "dts", "-O", "dtb", "-o", str(blob), str(source)], check=True, capture_output=True)
    assert len(pool_ranges(blob.read_bytes())) == BIG_RANGES
    assert blob.stat().st_size > 1_600_000

    def uninterrupted(edit: list[str], path: Path) -> float:
        started = time.monotonic()
        proc = subprocess.run(_cli_command(edit, path), capture_output=True, text=True, env=_ENV, cwd=REPO, check=False)
        assert proc.returncode == 0 and proc.stderr == "", (edit, proc.returncode, proc.stderr)
        return time.monotonic() - started

    references: dict[tuple[bytes, str], bytes] = {}

    def expected_after(before: bytes, edit: list[str]) -> bytes:
        """The same edit on a copy of the same bytes, run to the end."""
        key = (hashlib.sha256(before).digest(), " ".join(edit))
        if key not in references:
            reference = scratch / "big.dtb"
            reference.write_bytes(before)
            uninterrupted(edit, reference)
            references[key] = reference.read_bytes()
        return references[key]

    def dtc_reads(path: Path) -> bool:
        proc = subprocess.run(
            [dtc, "-I", "dtb", "-O", "dtb", "-o", os.devnull, str(path)], capture_output=True, check=False
        )
        return proc.returncode == 0

    # How long an edit takes from start to exit; it is the reference for the first edit, too.
    started = time.monotonic()
    expected_after(blob.read_bytes(), _crash_edit(0))
    duration = time.monotonic() - started

    rng = random.Random(20240404)
    plan = ["random"] * 16 + ["mid-write"] * 6 + ["after-rename"] * 2
    rng.shuffle(plan)
    plan.append("mid-write")  # so that the final clean-up has a killed edit's temp file to remove, too
    edit_number = 0
    outcomes = {"before": 0, "after": 0}
    kills = kills_leaving_temp = cleanups_with_leftovers = 0
    dumped_beside_temp = False

    def clean_up() -> None:
        """An edit run to the end: it removes every temp file that killed edits left."""
        nonlocal edit_number, cleanups_with_leftovers
        cleanups_with_leftovers += bool(temp_files(live))
        uninterrupted(_crash_edit(edit_number), blob)
        edit_number += 1
        assert sorted(os.listdir(live)) == [".big.dtb.lock", "big.dtb"]
        assert dtc_reads(blob)

    attempt = 0
    # A random delay may outlast a quick edit on an idle machine; mid-write kills are then
    # added (they always land) until MIN_KILLS edits were really killed.
    while attempt < len(plan) or (kills < MIN_KILLS and attempt < MAX_ATTEMPTS):
        how = plan[attempt] if attempt < len(plan) else "mid-write"
        attempt += 1
        edit = _crash_edit(edit_number)
        before = blob.read_bytes()
        stale = set(temp_files(live))
        proc = subprocess.Popen(
            _cli_command(edit, blob), env=_ENV, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        watched = False
        if how == "random":
            time.sleep(rng.uniform(0.0, 1.0) * duration)
        else:
            watched = _watch_temp(proc, live, stale, until_gone=how == "after-rename")
            if watched and how == "mid-write":
                time.sleep(rng.choice([0.0, 0.0, 0.001, 0.003]))  # at the start of the write, or into it
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = proc.returncode == -signal.SIGKILL
        kills += killed
        context = (attempt, how, edit, proc.returncode)

        after = blob.read_bytes()
        pool_ranges(after, str(blob))  # parses
        assert dtc_reads(blob), context
        if after == before:
            assert killed, context  # an edit that ran to the end changed the blob
            assert not (watched and how == "after-rename"), context  # its temp file was renamed over the blob
            outcomes["before"] += 1
        else:
            assert after == expected_after(before, edit), context
            outcomes["after"] += 1
            edit_number += 1
        leftovers = temp_files(live)
        assert set(os.listdir(live)) - {".big.dtb.lock"} == {"big.dtb", *leftovers}, context  # nothing else
        if not killed:
            assert leftovers == [], context  # a finished edit leaves no temp file, its own or stale ones
        kills_leaving_temp += bool(set(leftovers) - stale)
        if leftovers and not dumped_beside_temp:
            # Readers of the blob are not confused by a killed edit's temp file beside it.
            assert dumped_ranges(pmpoolctl(["dump", str(blob), "--json"])) == pool_ranges(after), context
            dumped_beside_temp = True
        if leftovers and not cleanups_with_leftovers:
            clean_up()  # the first time a kill leaves a temp file; the last attempt leaves one for the end
    clean_up()

    # The kills really landed everywhere: before the rename, after it, and in the middle of writing.
    assert kills >= MIN_KILLS, (kills, outcomes)
    assert outcomes["before"] > 0 and outcomes["after"] > 0, outcomes
    assert kills_leaving_temp > 0 and cleanups_with_leftovers > 0, (kills_leaving_temp, cleanups_with_leftovers)


# Another blob's edit in the same directory, caught in the middle of its write.


def test_an_edit_leaves_the_temp_file_of_another_blobs_edit_alone(tmp_path: Path, dtc: str) -> None:
    """Two blobs in one directory, one named like the other plus a suffix: editing them at once loses nothing.

    Each edit holds its own blob's lock, so an edit of pool.dtb may not touch the
    temp file of an edit of pool.dtb.next that is still writing.
    """
    source = tmp_path / "next.dts"
    source.write_text(_big_dts(20_000))  # big enough that its write can be caught before the rename
    work = tmp_path / "work"
    work.mkdir()
    blob, sibling = work / "pool.dtb", work / "pool.dtb.next"
    shutil.copy(EXAMPLES / "pool.dtb", blob)
    subprocess.run([dtc, "-I", "dts", "-O", "dtb", "-o", str(sibling), str(source)], check=True, capture_output=True)

    paused: subprocess.Popen[bytes] | None = None
    started: list[subprocess.Popen[bytes]] = []
    try:
        for attempt in range(20):
            before = sibling.read_bytes()
            edit = _crash_edit(3 * attempt)  # an add-range above the pool
            proc = subprocess.Popen(
                _cli_command(edit, sibling), env=_ENV, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            started.append(proc)
            caught = _watch_temp(proc, work, set(), until_gone=False)
            if caught:
                proc.send_signal(signal.SIGSTOP)  # a slow disk: the edit of pool.dtb.next is mid-write
                if temp_files(work) and sibling.read_bytes() == before:
                    paused = proc
                    break
                proc.send_signal(signal.SIGCONT)
            assert proc.wait(timeout=60) == 0
        assert paused is not None, "never caught the edit of pool.dtb.next before its rename"

        ok(pmpoolctl(["add-range", str(blob), "0x200000000", "4K"]))  # meanwhile, an edit of pool.dtb

        paused.send_signal(signal.SIGCONT)
        _, stderr = paused.communicate(timeout=60)
        assert paused.returncode == 0, stderr.decode()  # the edit of pool.dtb.next went through as well
        assert (int(edit[1], 16), int(edit[2], 16)) in pool_ranges(sibling.read_bytes())
        assert sorted(os.listdir(work)) == [".pool.dtb.lock", ".pool.dtb.next.lock", "pool.dtb", "pool.dtb.next"]
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
                proc.communicate()


# ---------------------------------------------------------------------------
# 3. Files: links, directories, permissions, full and read-only filesystems, size limits

ADD = ["add-range", "{}", "0x200000000", "4K"]  # a new range at 8 GiB
REMOVE = ["remove-range", "{}", "0x140100000", "4K"]  # splits the 1 GiB range: the blob grows
CREATE = ["create", "{}", "--force", "--range", "0x200000000", "4K"]
DUMP = ["dump", "{}", "--json"]
EDITS = {"add-range": ADD, "remove-range": REMOVE, "create --force": CREATE}
READS_AND_EDITS = {**EDITS, "dump": DUMP}
_EDIT_IDS = list(EDITS)


def args_for(template: list[str], path: Path) -> list[str]:
    return [str(path) if a == "{}" else a for a in template]


def expected_after_edit(name: str) -> frozenset[tuple[int, int]]:
    return {
        "add-range": INITIAL_RANGES | {(0x200000000, 0x1000)},
        "remove-range": frozenset(
            {(0x100000000, 0x200000), (0x140000000, 0x100000), (0x140101000, 0x40000000 - 0x101000)}
        ),
        "create --force": frozenset({(0x200000000, 0x1000)}),
    }[name]


def _owner() -> tuple[int, int]:
    """Who owns a blob that `_place_blob` gave away."""
    return (OWNER, OWNER) if IS_ROOT and not IN_USERNS else (os.getuid(), os.getgid())


def _place_blob(path: Path, mode: int = 0o640) -> FileState:
    shutil.copy(EXAMPLES / "pool.dtb", path)
    give_away(path, mode)
    return file_state(path)


@pytest.mark.parametrize(
    "mode",
    [0o640, 0o444, 0o6755],
    ids=["0640", "read-only-0444", "setuid-setgid-6755"],
)
@pytest.mark.parametrize("name", _EDIT_IDS)
def test_successful_edit_keeps_mode_and_owner(tmp_path: Path, name: str, mode: int) -> None:
    blob = tmp_path / "pool.dtb"
    before = _place_blob(blob, mode)
    inode = blob.stat().st_ino
    ok(pmpoolctl(args_for(EDITS[name], blob)))
    after = file_state(blob)
    assert pool_ranges(after.data) == expected_after_edit(name)
    assert (oct(after.mode), after.uid, after.gid) == (oct(before.mode), before.uid, before.gid)
    assert (before.mode, before.uid, before.gid) == (mode, *_owner())
    assert blob.stat().st_ino != inode  # replaced by rename, not rewritten in place
    assert sorted(os.listdir(tmp_path)) == [".pool.dtb.lock", "pool.dtb"]


@pytest.mark.parametrize("name", _EDIT_IDS)
def test_edit_through_symlink_edits_the_target_and_keeps_the_link(tmp_path: Path, name: str) -> None:
    store, links = tmp_path / "store", tmp_path / "links"
    store.mkdir()
    links.mkdir()
    target = store / "pool-v2.dtb"
    before = _place_blob(target, 0o640)
    relative, absolute = links / "current.dtb", links / "absolute.dtb"
    relative.symlink_to(Path("..") / "store" / "pool-v2.dtb")
    absolute.symlink_to(target)

    ok(pmpoolctl(args_for(EDITS[name], relative)))
    after = file_state(target)
    assert pool_ranges(after.data) == expected_after_edit(name)
    assert (after.mode, after.uid, after.gid) == (before.mode, before.uid, before.gid)
    assert relative.is_symlink() and os.readlink(relative) == os.path.join("..", "store", "pool-v2.dtb")
    # The lock is the target's, so edits through any path to the same file serialise.
    assert sorted(os.listdir(links)) == ["absolute.dtb", "current.dtb"]
    assert sorted(os.listdir(store)) == [".pool-v2.dtb.lock", "pool-v2.dtb"]
    ok(pmpoolctl(["add-range", str(absolute), "0x300000000", "4K"]))
    assert absolute.is_symlink() and os.readlink(absolute) == str(target)
    assert pool_ranges(target.read_bytes()) == expected_after_edit(name) | {(0x300000000, 0x1000)}
    assert dumped_ranges(pmpoolctl(["dump", str(relative), "--json"])) == pool_ranges(target.read_bytes())
    assert sorted(os.listdir(store)) == [".pool-v2.dtb.lock", "pool-v2.dtb"]


@pytest.mark.parametrize("name", ["add-range", "remove-range", "dump"])
def test_dangling_symlink_is_exit_3(tmp_path: Path, name: str) -> None:
    link = tmp_path / "current.dtb"
    link.symlink_to("gone.dtb")
    assert_refused(pmpoolctl(args_for(READS_AND_EDITS[name], link)), link, "No such file or directory", None, tmp_path)
    assert link.is_symlink() and os.readlink(link) == "gone.dtb"
    assert not (tmp_path / "gone.dtb").exists()


def test_create_force_through_dangling_symlink_creates_the_target(tmp_path: Path) -> None:
    link = tmp_path / "current.dtb"
    link.symlink_to("new.dtb")
    refused = pmpoolctl(["create", str(link)])  # without --force an existing name (a link is one) is kept
    assert_input_error(refused, str(link), "--force")
    assert link.is_symlink() and not (tmp_path / "new.dtb").exists()
    ok(pmpoolctl(args_for(CREATE, link)))
    assert link.is_symlink() and os.readlink(link) == "new.dtb"
    assert pool_ranges((tmp_path / "new.dtb").read_bytes()) == expected_after_edit("create --force")
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize("name", list(READS_AND_EDITS))
def test_directory_is_exit_3(tmp_path: Path, name: str) -> None:
    directory = tmp_path / "pool.dtb"
    directory.mkdir()
    (directory / "inside").write_bytes(b"kept")
    assert_input_error(pmpoolctl(args_for(READS_AND_EDITS[name], directory)), str(directory), "is a directory")
    assert directory.is_dir() and os.listdir(directory) == ["inside"]
    assert (directory / "inside").read_bytes() == b"kept"
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize("name", ["add-range", "remove-range", "create --force"])
def test_fifo_target_is_refused_without_blocking(tmp_path: Path, name: str) -> None:
    """Reading a FIFO with no writer blocks for ever; an edit must refuse it before reading."""
    fifo = tmp_path / "pool.dtb"
    os.mkfifo(fifo)
    args = [sys.executable, "-m", "pmpoolctl", *args_for(READS_AND_EDITS[name], fifo)]
    proc = subprocess.run(args, capture_output=True, text=True, env=_ENV, cwd=REPO, timeout=20, check=False)
    assert_input_error(Run(proc.returncode, proc.stdout, proc.stderr), str(fifo), "not a regular file")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize("name", ["add-range", "remove-range", "dump"])
def test_missing_file_is_exit_3(tmp_path: Path, name: str) -> None:
    missing = tmp_path / "pool.dtb"
    assert_refused(
        pmpoolctl(args_for(READS_AND_EDITS[name], missing)), missing, "No such file or directory", None, tmp_path
    )
    assert not os.path.lexists(missing)


@pytest.mark.parametrize("name", ["add-range", "remove-range", "dump"])
def test_unreadable_file_is_exit_3(tmp_path: Path, name: str) -> None:
    blob = tmp_path / "pool.dtb"
    before = _place_blob(blob, 0o000)  # OWNER's, and nobody may read it: only the file's mode refuses
    run = pmpoolctl(args_for(READS_AND_EDITS[name], blob), unprivileged=True)
    assert_refused(run, blob, "Permission denied", before, tmp_path)


@pytest.mark.parametrize("lock_exists", [False, True], ids=["no-lock-file", "lock-file-writable"])
@pytest.mark.parametrize("name", _EDIT_IDS)
def test_unwritable_directory_is_exit_3(tmp_path: Path, name: str, lock_exists: bool) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    blob = directory / "pool.dtb"
    before = _place_blob(blob, 0o644)  # readable by all: only the directory refuses
    if lock_exists:  # the lock can be taken; the temp file cannot be created
        lock = directory / ".pool.dtb.lock"
        lock.touch()
        lock.chmod(0o666)
    directory.chmod(0o555)
    try:
        listing = sorted(os.listdir(directory))
        run = pmpoolctl(args_for(EDITS[name], blob), unprivileged=True)
        assert_refused(run, blob, "Permission denied", before, directory)
        assert sorted(os.listdir(directory)) == listing
    finally:
        directory.chmod(0o755)


# Real filesystems that refuse: a tiny tmpfs, mounted as root, or inside `unshare -Urm` when not root.


@functools.cache
def _can_mount() -> bool:
    """Root that may really mount (a container may deny it): try once."""
    if not IS_ROOT:
        return False
    probe = Path(tempfile.mkdtemp(prefix="pmpoolctl-mount-probe-"))
    try:
        command = ["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(probe)]
        if subprocess.run(command, capture_output=True, check=False).returncode != 0:
            return False
        subprocess.run(["umount", str(probe)], check=True)
        return True
    finally:
        probe.rmdir()


@functools.cache
def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-Urm", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def _needs_mount(request: pytest.FixtureRequest) -> bool:
    """True to go on here; False when the test was re-run (and passed) in a user and mount namespace."""
    if _can_mount():
        return True
    if _unshare_works():
        # Re-run this very test as root of its own namespaces, where mount works.
        basetemp = tempfile.mkdtemp(prefix="pmpoolctl-userns-")
        try:
            proc = subprocess.run(
                [
                    "unshare",
                    "-Urm",
                    sys.executable,
                    "-m",
                    "pytest",
                    "-p",
                    "no:cacheprovider",
                    "--basetemp",
                    basetemp,
                    request.node.nodeid,
                ],
                cwd=REPO,
                env={**_ENV, "PMPOOLCTL_TEST_USERNS": "1"},
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            shutil.rmtree(basetemp, ignore_errors=True)
        assert proc.returncode == 0 and "\n1 passed in " in "\n" + proc.stdout, (
            proc.stdout[-4000:] + proc.stderr[-2000:]
        )
        assert "skipped" not in proc.stdout, proc.stdout[-4000:]
        return False
    reason = "cannot mount a tmpfs: not root and `unshare -Urm` does not work here"
    if CI:
        pytest.fail(f"{reason}; CI must run the real full and read-only filesystem tests")
    pytest.skip(reason)


@contextlib.contextmanager
def tmpfs(mountpoint: Path, size: str) -> Iterator[Path]:
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def _fill(directory: Path) -> None:
    """Write until the filesystem is really full."""
    chunk = b"\xa5" * 4096
    with open(directory / "filler", "wb", buffering=0) as stream:
        while True:
            try:
                stream.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
    with pytest.raises(OSError, match="No space left"), open(directory / "probe", "wb", buffering=0) as probe:
        probe.write(b"x")


@pytest.mark.parametrize("name", _EDIT_IDS)
def test_full_filesystem_is_exit_3(tmp_path: Path, request: pytest.FixtureRequest, name: str) -> None:
    if not _needs_mount(request):
        return
    with tmpfs(tmp_path / "mnt", "64k") as mnt:
        blob = mnt / "pool.dtb"
        before = _place_blob(blob, 0o640)
        (mnt / ".pool.dtb.lock").touch()
        _fill(mnt)
        (mnt / "probe").unlink()
        listing = sorted(os.listdir(mnt))
        assert_refused(pmpoolctl(args_for(EDITS[name], blob)), blob, "No space left on device", before, mnt)
        assert sorted(os.listdir(mnt)) == listing
        # With room again the same edit goes through: the refusal was the full disk, nothing else.
        (mnt / "filler").unlink()
        ok(pmpoolctl(args_for(EDITS[name], blob)))
        after = file_state(blob)
        assert pool_ranges(after.data) == expected_after_edit(name)
        assert (after.mode, after.uid, after.gid) == (before.mode, before.uid, before.gid)
        assert sorted(os.listdir(mnt)) == [".pool.dtb.lock", "pool.dtb"]


@pytest.mark.parametrize("name", _EDIT_IDS)
def test_read_only_filesystem_is_exit_3(tmp_path: Path, request: pytest.FixtureRequest, name: str) -> None:
    if not _needs_mount(request):
        return
    with tmpfs(tmp_path / "mnt", "1m") as mnt:
        blob = mnt / "pool.dtb"
        before = _place_blob(blob, 0o640)
        if subprocess.run(["mount", "-o", "remount,ro", str(mnt)], capture_output=True, check=False).returncode:
            # A user namespace may not remount the superblock; the mount itself is made read-only then.
            subprocess.run(["mount", "-o", "remount,bind,ro", str(mnt)], check=True)
        with pytest.raises(OSError, match="Read-only file system"):
            (mnt / "probe").touch()
        assert_refused(pmpoolctl(args_for(EDITS[name], blob)), blob, "Read-only file system", before, mnt)
        assert os.listdir(mnt) == ["pool.dtb"]
        # Reading a blob on read-only media is fine.
        assert dumped_ranges(pmpoolctl(args_for(DUMP, blob))) == INITIAL_RANGES


@pytest.mark.parametrize("name", _EDIT_IDS)
def test_file_size_limit_is_exit_3(tmp_path: Path, name: str) -> None:
    # The new blob's size, from the same edit on a copy; then a limit one byte below it.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    shutil.copy(EXAMPLES / "pool.dtb", scratch / "pool.dtb")
    ok(pmpoolctl(args_for(EDITS[name], scratch / "pool.dtb")))
    new_size = (scratch / "pool.dtb").stat().st_size
    blob = tmp_path / "pool.dtb"
    before = _place_blob(blob, 0o640)

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so the write fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (new_size - 1, new_size - 1))

    run = pmpoolctl(args_for(EDITS[name], blob), preexec_fn=limit)
    assert_refused(run, blob, "File too large", before, tmp_path)
    assert sorted(os.listdir(tmp_path)) == [".pool.dtb.lock", "pool.dtb", "scratch"]
