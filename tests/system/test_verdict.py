"""The exit code is the verdict: nothing the environment does to the run turns a refusal into exit 0.

Real processes (`python -m pmpoolctl`) with real streams: a pipe whose reader is gone,
/dev/full, a closed stdout or stdin, SIGINT during start-up. Each case below was a false
verdict once (a refusal reported as exit 0, a stale passing report, an edit reported
as failed that had happened, exit 70 for a problem of the input or the environment).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pmpoolctl.dtb.reader import parse_blob
from pmpoolctl.dtb.writer import build_minimal_blob
from pmpoolctl.pool.poolfile import with_new_pool
from pmpoolctl.ranges.rangearray import RangeArray
from pmpoolctl.ranges.rangeset import Range
from tests.conftest import EXAMPLES, assert_input_error, run_cli

REPO = Path(__file__).resolve().parents[2]
IOMEM = EXAMPLES / "memmap" / "iomem.txt"
BAD = EXAMPLES / "bad-pool.dtb"
GOOD = EXAMPLES / "pool.dtb"
KHO = EXAMPLES / "kho" / "out"
PAGE = 0x1000
ENV = {**os.environ, "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"}
ENV.pop("PYTHONIOENCODING", None)


def pmpoolctl(
    args: Sequence[str | Path],
    *,
    stdout: int | IO[Any] | None = subprocess.PIPE,
    stdin: int | IO[Any] | None = subprocess.DEVNULL,
    close: Sequence[int] = (),
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run the real command; `close` lists fds (0, 1) the child starts without."""

    def child() -> None:
        for fd in close:
            os.close(fd)

    return subprocess.run(
        [sys.executable, "-m", "pmpoolctl", *map(str, args)],
        stdout=stdout,
        stdin=stdin,
        stderr=subprocess.PIPE,
        preexec_fn=child if close else None,
        env=env or ENV,
        cwd=cwd or REPO,
        check=False,
        timeout=120,
    )


@contextmanager
def closed_pipe() -> Iterator[int]:
    """The write end of a pipe whose reader has gone: every write is EPIPE (`| head` once it is done)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        yield write_end
    finally:
        os.close(write_end)


@contextmanager
def full_device() -> Iterator[IO[bytes]]:
    with open("/dev/full", "wb") as stream:
        yield stream


def one_error_line(proc: subprocess.CompletedProcess[bytes], *needles: str) -> str:
    text = proc.stderr.decode("utf-8", "replace")
    lines = text.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    assert "Traceback" not in text
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def many_bad_ranges(tmp_path: Path, count: int = 20_000) -> Path:
    """A pool of `count` ranges, all outside examples/memmap/iomem.txt's RAM: a long refusal to print."""
    base = parse_blob(build_minimal_blob([("#address-cells", b"\0\0\0\2"), ("#size-cells", b"\0\0\0\2")]), "new")
    ranges = RangeArray.from_ranges(Range(0x1000000000 + i * 2 * PAGE, PAGE) for i in range(count))
    path = tmp_path / "many-bad.dtb"
    path.write_bytes(with_new_pool(base, "default_pmpool", ranges, PAGE))
    return path


def _case_id(value: object) -> str | None:
    if isinstance(value, list):
        return " ".join(str(a).replace(str(REPO) + "/", "") for a in value)
    return None


def junit_root(path: Path) -> ET.Element:
    return ET.fromstring(path.read_bytes())


def junit_passes(path: Path) -> bool:
    root = junit_root(path)
    return not list(root.iter("failure")) and not list(root.iter("error"))


# --- a closed pipe never turns a refusal into success ----------------------------------------------------------------


def test_a_refusal_into_a_pipe_that_closes_early_is_still_exit_1(tmp_path: Path) -> None:
    """`validate BAD --live | head -1`: the reader goes after one line, the verdict stays 1, the report is written."""
    blob = many_bad_ranges(tmp_path)
    report = tmp_path / "report.xml"
    reader = subprocess.Popen(["head", "-c", "100"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert reader.stdin is not None
    proc = pmpoolctl(["validate", blob, "--memmap", IOMEM, "--junit", report], stdout=reader.stdin)
    reader.stdin.close()
    reader.wait()
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == b""  # a closed pipe is no error of ours: nothing to say
    assert not junit_passes(report)


@pytest.mark.parametrize(
    ("args", "verdict"),
    [
        (["validate", BAD, "--memmap", IOMEM], 1),
        (["validate", BAD, "--memmap", IOMEM, "--json"], 1),
        (["validate", GOOD, "--memmap", IOMEM], 141),  # passed, but its output was lost: as `cat` killed by SIGPIPE
        (["diff", GOOD, BAD], 1),
        (["diff", "--json", GOOD, BAD], 1),
        (["diff", GOOD, GOOD], 141),
        (["dump", GOOD], 141),
        (["dump", "--json", GOOD], 141),
        (["memmap", IOMEM], 141),
        (["kho", "dump", KHO], 141),
        (["kho", "validate", KHO, "--memmap", IOMEM], 141),
        (["--version"], 141),
        (["--help"], 141),
    ],
    ids=_case_id,
)
def test_closed_pipe_keeps_the_verdict(args: list[str | Path], verdict: int) -> None:
    with closed_pipe() as write_end:
        proc = pmpoolctl(args, stdout=write_end)
    assert proc.returncode == verdict, proc.stderr
    assert proc.stderr == b""


def test_closed_pipe_after_a_pass_replaces_the_report_with_an_error(tmp_path: Path) -> None:
    """Exit 141 is no verdict: the --junit report agrees with the exit code, never a PASS beside a failed run."""
    report = tmp_path / "r.xml"
    with closed_pipe() as write_end:
        proc = pmpoolctl(["validate", GOOD, "--memmap", IOMEM, "--junit", report], stdout=write_end)
    assert proc.returncode == 141
    assert [e.get("type") for e in junit_root(report).iter("error")] == ["exit-141"]


# --- a full or closed stdout -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["dump", GOOD], 3),
        (["dump", "--dts", GOOD], 3),
        (["--version"], 3),
        (["--help"], 3),
        (["validate", GOOD, "--memmap", IOMEM], 3),
        (["validate", BAD, "--memmap", IOMEM], 1),  # the refusal stands; the lost report is said on stderr
        (["diff", GOOD, BAD], 1),
        (["memmap", IOMEM, "--json"], 3),
    ],
    ids=_case_id,
)
@pytest.mark.parametrize("how", ["full", "closed"])
def test_full_or_closed_stdout_is_an_error_that_keeps_a_refusal(args: list[str | Path], code: int, how: str) -> None:
    if how == "full":
        with full_device() as device:
            proc = pmpoolctl(args, stdout=device)
        reason = "No space left on device"
    else:
        proc = pmpoolctl(args, stdout=None, close=[1])
        reason = "standard output is closed"
    assert proc.returncode == code
    one_error_line(proc, "standard output: cannot write", reason)


# --- an edit that reports failure has changed nothing; one that changed the blob succeeds ----------------------


def _ranges(path: Path) -> list[tuple[int, int]]:
    document = json.loads(run_cli(["dump", str(path), "--json"]).stdout)
    return [(r["base"], r["size"]) for r in document["pool"]["ranges"]]


ADDED = (0x180000000, 0x4000000)


@pytest.mark.parametrize("how", ["full", "closed", "pipe"])
@pytest.mark.parametrize("command", ["add-range", "create"])
def test_an_edit_whose_summary_is_lost_still_succeeds(tmp_path: Path, how: str, command: str) -> None:
    blob = tmp_path / "pool.dtb"
    if command == "add-range":
        shutil.copy(GOOD, blob)
        args: list[str | Path] = ["add-range", blob, hex(ADDED[0]), "64M"]
    else:
        args = ["create", blob, "--range", hex(ADDED[0]), "64M"]
    if how == "full":
        with full_device() as device:
            proc = pmpoolctl(args, stdout=device)
    elif how == "closed":
        proc = pmpoolctl(args, stdout=None, close=[1])
    else:
        with closed_pipe() as write_end:
            proc = pmpoolctl(args, stdout=write_end)
    assert proc.returncode == 0, proc.stderr
    assert ADDED in _ranges(blob) or (ADDED[0] - 0x40000000, 0x40000000 + ADDED[1]) in _ranges(blob)
    stderr = proc.stderr.decode()
    if how == "pipe":
        assert stderr == ""
    else:  # said, as a warning: the edit was made
        assert stderr.startswith("warning: standard output: cannot write") and "the edit was made" in stderr
        assert len(stderr.splitlines()) == 1


def test_a_bug_after_the_commit_is_a_warning_and_exit_0(pool_blob: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the summary could not be made")

    monkeypatch.setattr("pmpoolctl.output.edit.render_change", broken)
    run = run_cli(["add-range", str(pool_blob), hex(ADDED[0]), "64M"])
    assert run.exit_code == 0
    assert run.stderr.startswith("warning: internal error: RuntimeError") and "the edit was made" in run.stderr
    assert (0x140000000, 0x44000000) in _ranges(pool_blob)


def test_sigint_right_after_the_rename_still_reports_the_edit(pool_blob: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C that lands once the new blob is in place cannot make the run say it failed."""
    real_replace = os.replace

    def replace_then_interrupt(source: str, target: str, **dir_fds: int) -> None:
        real_replace(source, target, **dir_fds)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr("pmpoolctl.files.inputs.os.replace", replace_then_interrupt)
    run = run_cli(["add-range", str(pool_blob), hex(ADDED[0]), "64M"])
    assert (run.exit_code, run.stderr) == (0, "")
    assert (0x140000000, 0x44000000) in _ranges(pool_blob)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # in-process: the caller's handler is back


def test_sigint_while_writing_changes_nothing(pool_blob: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = pool_blob.read_bytes()

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("pmpoolctl.files.inputs.os.fsync", interrupted)
    run = run_cli(["add-range", str(pool_blob), hex(ADDED[0]), "64M"])
    assert run.exit_code == 130 and run.stderr == "error: interrupted\n"
    assert pool_blob.read_bytes() == before
    assert [p.name for p in pool_blob.parent.iterdir() if p.name.endswith(".pmpoolctl-tmp")] == []


# --- --junit never keeps an older passing report -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["validate", GOOD, "--memmap", "/nonexistent/iomem"], 3, "cannot read"),
        (["validate", GOOD, "--memmap", IOMEM, "--phys-bits", "99"], 2, "--phys-bits"),
        (["validate", GOOD, "--memmap", IOMEM, "--pool", "missing"], 3, "no pool node"),
        (["validate", "/nonexistent.dtb"], 3, "cannot read"),
        (["kho", "validate", KHO / "fdt", "--memmap", IOMEM], 3, "not here"),
        (["kho", "validate", KHO], 2, "give a memory map"),
    ],
)
def test_a_run_that_cannot_check_replaces_the_old_passing_report(
    tmp_path: Path, args: list[str | Path], code: int, needle: str
) -> None:
    report = tmp_path / "report.xml"
    assert run_cli(["validate", str(GOOD), "--memmap", str(IOMEM), "--junit", str(report)]).exit_code == 0
    assert junit_passes(report)
    run = run_cli([*map(str, args), "--junit", str(report)])
    assert run.exit_code == code, run.stderr
    assert needle in run.stderr
    errors = list(junit_root(report).iter("error"))
    assert [e.get("type") for e in errors] == [f"exit-{code}"]
    assert needle in (errors[0].get("message") or "")
    assert [case.get("name") for case in junit_root(report).iter("testcase")] == ["run"]


def test_while_the_check_runs_the_report_says_it_did_not_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed mid-check (SIGKILL, the OOM killer) leaves a report in error, never the last PASS."""
    report = tmp_path / "report.xml"
    run_cli(["validate", str(GOOD), "--memmap", str(IOMEM), "--junit", str(report)])
    seen: list[str | None] = []
    import pmpoolctl.check.validate

    real = pmpoolctl.check.validate.validate

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.extend(e.get("type") for e in junit_root(report).iter("error"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pmpoolctl.check.validate, "validate", spy)
    assert run_cli(["validate", str(GOOD), "--memmap", str(IOMEM), "--junit", str(report)]).exit_code == 0
    assert seen == ["did-not-finish"]
    assert junit_passes(report)


def test_sigkill_mid_check_leaves_no_pass(tmp_path: Path) -> None:
    blob = many_bad_ranges(tmp_path, 300_000)
    report = tmp_path / "report.xml"
    assert run_cli(["validate", str(GOOD), "--memmap", str(IOMEM), "--junit", str(report)]).exit_code == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "pmpoolctl", "validate", str(blob), "--memmap", str(IOMEM), "--junit", str(report)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 60
        while b"did-not-finish" not in report.read_bytes():  # until the stand-in replaces the PASS
            assert proc.poll() is None, "the check ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.002)
    finally:
        proc.kill()
        proc.wait()
    assert not junit_passes(report)


def test_strict_warnings_fail_in_the_report_too(tmp_path: Path) -> None:
    base = parse_blob(build_minimal_blob([("#address-cells", b"\0\0\0\2"), ("#size-cells", b"\0\0\0\2")]), "new")
    touching = RangeArray.from_ranges([Range(0x100000000, PAGE), Range(0x100000000 + PAGE, PAGE)])
    blob = tmp_path / "touching.dtb"
    blob.write_bytes(with_new_pool(base, "default_pmpool", touching, PAGE))
    report = tmp_path / "r.xml"
    assert run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--junit", str(report)]).exit_code == 0
    assert junit_passes(report)
    (case,) = (c for c in junit_root(report).iter("testcase") if c.get("name") == "ranges-not-coalesced")
    assert "touches" in (case.findtext("system-out") or "")  # the warning is visible, not a failure
    assert run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--junit", str(report), "--strict"]).exit_code == 1
    assert [f.get("type") for f in junit_root(report).iter("failure")] == ["ranges-not-coalesced"]


# --- kho validate never passes having checked nothing ----------------------------------------------------------------


def test_kho_root_alone_is_refused() -> None:
    assert_input_error(run_cli(["kho", "validate", str(KHO / "fdt"), "--memmap", str(IOMEM)]), "'memblock'", "kho/out")


def test_kho_directory_without_the_memblock_sub_fdt_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "out"
    shutil.copytree(KHO, copy)
    (copy / "sub_fdts" / "memblock").unlink()
    assert_input_error(run_cli(["kho", "validate", str(copy), "--memmap", str(IOMEM)]), "sub_fdts/memblock", "0x")
    shutil.rmtree(copy / "sub_fdts")
    assert_input_error(run_cli(["kho", "validate", str(copy), "--memmap", str(IOMEM)]), "'memblock'")
    # dump still shows what there is: it only reads
    assert run_cli(["kho", "dump", str(copy)]).exit_code == 0


# --- input and environment problems are exit 2 or 3, never 70 -------------------------------------------------------

HUGE = "1" + "0" * 5000  # past Python's 4300-digit limit for int()


@pytest.mark.parametrize(
    "args",
    [
        ["add-range", "{blob}", HUGE, "4096"],
        ["create", "{tmp}/new.dtb", "--range", HUGE, "4096"],
        ["create", "{tmp}/new.dtb", "--page-size", HUGE],
        ["create", "{tmp}/new.dtb", "--page-size", "4G"],
        ["create", "{tmp}/new.dtb", "--page-size", "0x100000000"],
        ["kho", "validate", "{kho}", "--memmap", "{iomem}", "--page-size", "8G"],
    ],
)
def test_usage_errors_not_bugs(tmp_path: Path, pool_blob: Path, args: list[str]) -> None:
    names = {"blob": str(pool_blob), "tmp": str(tmp_path), "kho": str(KHO), "iomem": str(IOMEM)}
    run = run_cli([a.format(**names) for a in args])
    assert run.exit_code == 2, run.stderr
    assert run.stderr.startswith("error: ") and len(run.stderr.splitlines()) == 1
    assert len(run.stderr) < 400  # a 5000-digit number is not repeated whole
    assert not (tmp_path / "new.dtb").exists()


@pytest.mark.parametrize(
    ("name", "text", "args"),
    [
        ("batch.txt", f"{HUGE} 4096\n", ["add-range", "{blob}", "--from", "{file}"]),
        ("batch.json", f'[{{"base": "{HUGE}", "size": 4096}}]', ["add-range", "{blob}", "--from", "{file}"]),
        ("batch2.json", f'[{{"base": {HUGE}, "size": 4096}}]', ["add-range", "{blob}", "--from", "{file}"]),
        ("map.json", f'[{{"start": "{HUGE}", "end": 4096, "type": "System RAM"}}]', ["memmap", "{file}"]),
        (
            "map2.json",
            f'[{{"start": 0, "end": {HUGE}, "type": "System RAM"}}]',
            ["validate", "{blob}", "--memmap", "{file}"],
        ),
        ("surrogate.json", '[{"start": 0, "end": 4096, "type": "\\ud800"}]', ["memmap", "{file}"]),
        (
            "surrogate2.json",
            '[{"start": 0, "end": 4096, "type": "\\ud800"}]',
            ["validate", "{blob}", "--memmap", "{file}"],
        ),
    ],
)
def test_input_errors_not_bugs(tmp_path: Path, pool_blob: Path, name: str, text: str, args: list[str]) -> None:
    path = tmp_path / name
    path.write_text(text)
    before = pool_blob.read_bytes()
    run = run_cli([a.format(blob=pool_blob, file=path) for a in args])
    assert_input_error(run, name)
    assert len(run.stderr) < 400
    assert pool_blob.read_bytes() == before


@pytest.mark.parametrize(
    "args",
    [["dump", "-"], ["memmap", "-"], ["add-range", "{blob}", "--from", "-"], ["diff", "-", "{blob}"]],
)
def test_dash_with_stdin_closed_is_an_input_error(pool_blob: Path, args: list[str]) -> None:
    proc = pmpoolctl([a.format(blob=pool_blob) for a in args], stdin=None, close=[0])
    assert proc.returncode == 3
    one_error_line(proc, "<stdin>", "standard input is closed")


def test_file_names_that_are_not_utf8(tmp_path: Path) -> None:
    """A name's bytes as \\xNN wherever it is shown, under a UTF-8 locale whose stdout is strict."""
    name = os.fsdecode(b"pool-\xff\x1b[2J.dtb")
    shutil.copy(GOOD, tmp_path / name)
    env = {**ENV, "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8:strict"}
    shown = "pool-\\xff\\x1b[2J.dtb"
    for args in (["dump", name], ["validate", name], ["add-range", name, "8G", "4K"]):
        proc = pmpoolctl(args, env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert shown.encode() in proc.stdout and b"\x1b" not in proc.stdout and b"\xff" not in proc.stdout
    proc = pmpoolctl(["dump", name, "--json"], env=env, cwd=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout)["file"] == shown
    report = tmp_path / os.fsdecode(b"r\xfe.xml")
    proc = pmpoolctl(["validate", name, "--memmap", IOMEM, "--junit", report], env=env, cwd=tmp_path)
    assert proc.returncode == 0 and junit_passes(report)
    missing = os.fsdecode(b"missing-\xff.dtb")
    proc = pmpoolctl(["dump", missing], env=env, cwd=tmp_path)
    assert proc.returncode == 3
    one_error_line(proc, "missing-\\xff.dtb")


def test_sigint_during_start_up_is_exit_130_without_a_traceback() -> None:
    """The import of the command line is interrupted (deterministically: the import itself sends SIGINT)."""
    code = (
        "import builtins, os, signal\n"
        "real = builtins.__import__\n"
        "def hooked(name, *args, **kwargs):\n"
        "    if name == 'click':\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = hooked\n"
        "from pmpoolctl.__main__ import main\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "dump", str(GOOD)], capture_output=True, env=ENV, cwd=REPO, timeout=60, check=False
    )
    assert (proc.returncode, proc.stderr, proc.stdout) == (130, b"error: interrupted\n", b"")


def test_sigint_at_any_moment_of_a_run_never_shows_a_traceback(tmp_path: Path) -> None:
    # From 60 ms on: the interpreter's own start-up (before any pmpoolctl code runs) is not ours to handle.
    codes: set[int] = set()
    for delay in (0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3):
        proc = subprocess.Popen(
            [sys.executable, "-m", "pmpoolctl", "validate", str(GOOD), "--memmap", str(IOMEM)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=ENV,
            cwd=REPO,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert b"Traceback" not in err, (delay, err)
        assert proc.returncode in (0, 130), (delay, proc.returncode, err)
        if proc.returncode == 130:
            assert err == b"error: interrupted\n" and out == b""
        codes.add(proc.returncode)
    assert 130 in codes


# --- - means standard output for a blob that is written ------------------------------------------------------------


def test_create_and_edit_to_dash_write_the_blob_to_stdout(tmp_path: Path, pool_blob: Path) -> None:
    proc = pmpoolctl(["create", "-", "--range", "4G", "2M"], cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == b""
    assert parse_blob(proc.stdout, "stdout").header.totalsize == len(proc.stdout)
    proc = pmpoolctl(["add-range", pool_blob, hex(ADDED[0]), "64M", "-o", "-"], cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == b""
    out = tmp_path / "out.dtb"
    out.write_bytes(proc.stdout)
    assert (0x140000000, 0x44000000) in _ranges(out)
    with open(pool_blob, "rb") as blob:  # a filter: stdin to stdout
        proc = pmpoolctl(["remove-range", "-", "0x100000000", "2M", "-o", "-"], stdin=blob, cwd=tmp_path)
    assert proc.returncode == 0
    out.write_bytes(proc.stdout)
    assert _ranges(out) == [(0x140000000, 0x40000000)]
    assert not (tmp_path / "-").exists()


def test_a_blob_is_not_written_to_a_terminal(tmp_path: Path, pool_blob: Path) -> None:
    import pty

    primary, secondary = pty.openpty()
    try:
        for args in (["create", "-"], ["add-range", str(pool_blob), "8G", "4K", "-o", "-"]):
            proc = pmpoolctl(args, stdout=secondary, cwd=tmp_path)
            assert proc.returncode == 2
            one_error_line(proc, "terminal")
    finally:
        os.close(primary)
        os.close(secondary)
    assert not (tmp_path / "-").exists()


# --- findings: in the table, once per range and rule --------------------------------------------------------------


def test_findings_are_never_error_lines_on_stdout(tmp_path: Path) -> None:
    base = parse_blob(build_minimal_blob([("#address-cells", b"\0\0\0\2"), ("#size-cells", b"\0\0\0\2")]), "new")
    ranges = RangeArray.from_ranges([Range(0x140000000, PAGE), Range(0x100000000, PAGE + 0x800)])
    blob = tmp_path / "broken.dtb"
    blob.write_bytes(with_new_pool(base, "default_pmpool", ranges, PAGE))
    for args in (["validate", str(blob), "--memmap", str(IOMEM), "--phys-bits", "32"], ["dump", str(blob)]):
        run = run_cli(args)
        lines = run.stdout.splitlines()
        assert not any(line.startswith(("error", "warning")) and ":" in line.split()[0] for line in lines), lines
        for rule in ("ranges-unsorted", "range-unaligned"):
            assert any(rule in line for line in lines), (rule, lines)
    table = run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--phys-bits", "32"]).stdout
    assert "range-above-phys-limit" in table and "ends above 2^32" in table


def test_one_finding_per_range_and_rule_naming_every_map(tmp_path: Path) -> None:
    """Eight ranges outside RAM, checked against two maps that both refuse them: eight findings."""
    base = parse_blob(build_minimal_blob([("#address-cells", b"\0\0\0\2"), ("#size-cells", b"\0\0\0\2")]), "new")
    ranges = RangeArray.from_ranges(Range(0xC0000000 + i * 2 * PAGE, PAGE) for i in range(8))
    blob = tmp_path / "eight.dtb"
    blob.write_bytes(with_new_pool(base, "default_pmpool", ranges, PAGE))
    copy = tmp_path / "iomem-copy.txt"
    shutil.copy(IOMEM, copy)
    document = json.loads(
        run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--memmap", str(copy), "--json"]).stdout
    )
    assert document["summary"]["errors"] == 8
    for finding in document["findings"]:
        assert finding["rule"] == "range-outside-ram"
        assert {c["source"].split(":")[0] for c in finding["conflicts"]} == {str(IOMEM), str(copy)}
    text = run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--memmap", str(copy)]).stdout
    assert text.count("range-outside-ram") == 8 and "FAIL: 8 errors" in text


def test_a_reversed_pool_is_summarised(tmp_path: Path) -> None:
    count = 200_000
    base = parse_blob(build_minimal_blob([("#address-cells", b"\0\0\0\2"), ("#size-cells", b"\0\0\0\2")]), "new")
    ranges = RangeArray.from_ranges(Range(0x100000000 + (count - i) * 2 * PAGE, PAGE) for i in range(count))
    blob = tmp_path / "reversed.dtb"
    blob.write_bytes(with_new_pool(base, "default_pmpool", ranges, PAGE))
    run = run_cli(["validate", str(blob), "--memmap", str(IOMEM)])
    assert run.exit_code == 1
    assert run.stdout.count("ranges-unsorted") == 6
    assert f"{count - 1 - 5} more ranges come after a range that starts higher ({count - 1} in all)" in run.stdout
    document = json.loads(run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--json"]).stdout)
    unsorted = [f for f in document["findings"] if f["rule"] == "ranges-unsorted"]
    assert [f.get("count", 1) for f in unsorted] == [1, 1, 1, 1, 1, count - 1 - 5]


# --- an audit: every command, every hostile stream: never 70, never a traceback ---------------------------------------


def _with_stream(how: str, args: list[str | Path]) -> subprocess.CompletedProcess[bytes]:
    if how == "closed-stdout":
        return pmpoolctl(args, stdout=None, close=[1])
    if how == "closed-stdin":
        return pmpoolctl(args, stdin=None, close=[0])
    if how == "closed-both":
        return pmpoolctl(args, stdout=None, stdin=None, close=[0, 1])
    if how == "full":
        with full_device() as device:
            return pmpoolctl(args, stdout=device)
    with closed_pipe() as write_end:
        return pmpoolctl(args, stdout=write_end)


AUDIT_COMMANDS: list[list[str]] = [
    ["dump", "{good}"],
    ["dump", "{good}", "--json"],
    ["dump", "{good}", "--dts"],
    ["dump", "-"],
    ["validate", "{bad}", "--memmap", "{iomem}", "--json", "--junit", "{tmp}/r.xml"],
    ["validate", "{good}"],
    ["validate", "-", "--memmap", "-"],
    ["diff", "{good}", "{bad}"],
    ["memmap", "{iomem}"],
    ["memmap", "-"],
    ["kho", "dump", "{kho}"],
    ["kho", "validate", "{kho}", "--memmap", "{iomem}"],
    ["kho", "validate", "{kho}", "--memmap", "{iomem}", "--next-cmdline", "reserve_mem=64M:4K:n1 kho=on", "--json"],
    ["validate", "{good}", "--kho", "{kho}"],
    ["add-range", "{copy}", "8G", "4K"],
    ["add-range", "{copy}", "--from", "-"],
    ["remove-range", "{copy}", "0x100000000", "4K", "-o", "-"],
    ["create", "{tmp}/new.dtb", "--force"],
    ["create", "-"],
    ["--version"],
    ["dump", "--no-such-flag"],
]


@pytest.mark.parametrize("how", ["closed-stdout", "closed-stdin", "closed-both", "full", "closed-pipe"])
def test_audit_no_command_is_a_bug_or_a_false_pass_under_any_stream(tmp_path: Path, how: str) -> None:
    for template in AUDIT_COMMANDS:
        copy = tmp_path / "copy.dtb"
        shutil.copy(GOOD, copy)
        names = {"good": GOOD, "bad": BAD, "iomem": IOMEM, "kho": KHO, "tmp": tmp_path, "copy": copy}
        args: list[str | Path] = [a.format(**names) for a in template]
        proc = _with_stream(how, args)
        stderr = proc.stderr.decode("utf-8", "replace")
        assert "Traceback" not in stderr and "internal error" not in stderr, (how, template, stderr)
        assert proc.returncode not in (70, 120), (how, template, proc.returncode, stderr)
        assert len(stderr.splitlines()) <= 1, (how, template, stderr)
        verdict_is_refusal = template[0] in ("validate", "diff") and "{bad}" in template
        if verdict_is_refusal and "-" not in template:
            assert proc.returncode == 1, (how, template, proc.returncode, stderr)  # never a pass
        if proc.returncode == 0:  # a success is only one whose output (if any) reached its reader
            wrote_stdout = template[0] not in ("add-range", "remove-range", "create") or "-" in template
            assert not (wrote_stdout and how in ("closed-stdout", "closed-both", "full", "closed-pipe")), (
                how,
                template,
                stderr,
            )


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["validate", str(GOOD), "--memmap", "/nonexistent", "--json"], 3),
        (["validate", str(GOOD), "--json", "--phys-bits", "99"], 2),
        (["dump", "/nonexistent.dtb", "--json"], 3),
        (["diff", str(GOOD), "/nonexistent.dtb", "--json"], 3),
        (["kho", "dump", "/nonexistent", "--json"], 3),
        (["memmap", "/nonexistent", "--json"], 3),
    ],
)
def test_a_failed_json_run_prints_an_error_document(args: list[str], code: int) -> None:
    """A script that reads only stdout still learns that the run failed, and why (cli.md: pmpoolctl.error/v1)."""
    run = run_cli(args)
    assert run.exit_code == code
    document = json.loads(run.stdout)
    assert document == {
        "schema": "pmpoolctl.error/v1",
        "exit_code": code,
        "message": run.stderr[len("error: ") :].strip(),
    }
    assert run_cli(["-q", *args]).stdout == ""  # --quiet: nothing on stdout, as always


@pytest.mark.parametrize("name", ["²", "٣", "1²"])
def test_firmware_memmap_entry_that_is_no_decimal_index(tmp_path: Path, name: str) -> None:
    """`²`.isdigit() is True and int('²') raises: an entry name the kernel never writes is an input error."""
    for entry in ("0", name):
        (tmp_path / entry).mkdir()
        for field, value in (("start", "0x0"), ("end", "0xfff"), ("type", "System RAM")):
            (tmp_path / entry / field).write_text(value + "\n")
    run = run_cli(["memmap", str(tmp_path)])
    if name.isdigit():
        assert_input_error(run, name, "not an entry")
    else:  # not a digit string at all: not an entry, and the numbered ones are read
        assert run.exit_code == 0


# Arguments as a script or a confused user might give them: every command, every option, odd values.
_WORDS = [
    "{good}", "{bad}", "{copy}", "-", "{iomem}", "{kho}", "{kho}/fdt", "{tmp}/no/such", "{tmp}", "/dev/null",
    "0", "4096", "0x1000", "1" + "0" * 30, "-1", "2M", "4G", "0x", "", "\x00", "a\nb", "\ud800", "\udcff", "²",
    "9" * 5000, "16E", "little", "iomem", "e820", "json", "dtb", "default_pmpool", "bad/name",
    "--json", "--dts", "--pool", "--memmap", "--memmap-format", "--live", "--phys-bits", "--strict", "--junit",
    "--merge", "--ignore-missing", "-o", "--dry-run", "--from", "--page-size", "--range", "--force",
    "--byte-order", "-q", "--no-color", "--debug",
    "--kho", "--next-kernel", "--next-cmdline", "--booted", "@-", "@{iomem}", "reserve_mem=64M:4K:n1", "kho=on",
]  # fmt: skip
_COMMANDS = [
    ["dump"], ["validate"], ["diff"], ["memmap"], ["add-range"], ["remove-range"], ["create"], ["kho", "dump"],
    ["kho", "validate"],
]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(_COMMANDS), st.lists(st.sampled_from(_WORDS), max_size=7))
def test_no_arguments_make_a_bug_or_a_traceback(tmp_path: Path, command: list[str], words: list[str]) -> None:
    # Every file the words name is a copy in tmp_path, and so is the working directory: an edit, -o or --junit
    # aimed at a word (a bare "0", "{kho}/fdt") writes there, never into the repository or /.
    sandbox = tmp_path / "sandbox"
    shutil.rmtree(sandbox, ignore_errors=True)
    (sandbox / "cwd").mkdir(parents=True)
    names: dict[str, Path] = {"tmp": sandbox, "kho": sandbox / "kho"}
    for name, source in (("good", GOOD), ("bad", BAD), ("copy", GOOD), ("iomem", IOMEM)):
        names[name] = sandbox / f"{name}{source.suffix}"
        shutil.copy(source, names[name])
    shutil.copytree(KHO, names["kho"])
    args = [*command, *(w.format(**names) if "{" in w else w for w in words)]
    saved = os.getcwd()
    os.chdir(sandbox / "cwd")
    try:
        run = run_cli(args)
    finally:
        os.chdir(saved)
    assert run.exit_code in (0, 1, 2, 3), (args, run.exit_code, run.stderr)
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, (args, run.stderr)
    assert len(run.stderr.splitlines()) <= 1, (args, run.stderr)
