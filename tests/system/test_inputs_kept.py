"""What a run reads is never what it writes, whatever name the file is reached by (a hard link, standard input);
and a command that writes its product to standard output never does so into --quiet's /dev/null with exit 0.

Standard input must be a real redirected file here (`< r.txt`), so these run the command line in its own process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, Run

REPO = Path(__file__).resolve().parents[2]
BATCH = "0x200000000 2M\n"  # clear of examples/pool.dtb's ranges
_ENV = {**os.environ, "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def pmpoolctl(args: list[str], cwd: Path, stdin_file: Path | None = None) -> Run:
    with open(stdin_file if stdin_file is not None else os.devnull, "rb") as stdin:
        proc = subprocess.run(
            [sys.executable, "-m", "pmpoolctl", *args],
            stdin=stdin,
            capture_output=True,
            text=True,
            env={**_ENV, "PYTHONPATH": str(REPO)},
            cwd=cwd,
            check=False,
            timeout=120,
        )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLES / "pool.dtb", tmp_path / "pool.dtb")
    shutil.copy(EXAMPLES / "memmap" / "iomem.txt", tmp_path / "iomem.txt")
    (tmp_path / "r.txt").write_text(BATCH)
    os.link(tmp_path / "r.txt", tmp_path / "r-link.txt")
    return tmp_path


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def assert_usage_error(run: Run, *needles: str) -> None:
    assert run.exit_code == 2, (run.exit_code, run.stdout, run.stderr)
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1, run.stderr
    for needle in needles:
        assert needle in run.stderr, (needle, run.stderr)


@pytest.mark.parametrize("command", ["add-range", "remove-range"])
@pytest.mark.parametrize(
    ("batch", "out", "stdin", "named"),
    [
        ("r.txt", "r.txt", None, "--from r.txt"),  # swapped: the batch became a blob, exit 0, on main
        ("r.txt", "r-link.txt", None, "--from r.txt"),  # the same file by a hard link
        ("-", "r.txt", "r.txt", "--from - (standard input)"),  # the file standard input was redirected from
    ],
)
def test_an_edit_never_writes_its_blob_over_its_batch(
    work: Path, command: str, batch: str, out: str, stdin: str | None, named: str
) -> None:
    before = snapshot(work)
    lenient = "--ignore-missing" if command == "remove-range" else "--merge"  # the edit itself would succeed
    run = pmpoolctl(
        [command, "pool.dtb", "--from", batch, "-o", out, lenient], work, None if stdin is None else work / stdin
    )
    assert_usage_error(run, f"-o {out}", named)
    assert snapshot(work) == before


def test_an_edit_from_a_batch_to_another_out_still_works(work: Path) -> None:
    # The refusal is of the same file only: a batch read from standard input into a new OUT is an edit.
    run = pmpoolctl(["add-range", "pool.dtb", "--from", "-", "-o", "new.dtb"], work, work / "r.txt")
    assert run.exit_code == 0, run.stderr
    assert (work / "new.dtb").read_bytes()[:4] == b"\xd0\x0d\xfe\xed"
    assert (work / "r.txt").read_text() == BATCH


@pytest.mark.parametrize("option", ["--junit", "--html", "--svg", "--metrics"])
def test_a_report_is_never_written_over_the_file_standard_input_reads(work: Path, option: str) -> None:
    # `validate pool.dtb --memmap - --junit iomem.txt < iomem.txt`: on main the map became a report, and exit 0.
    before = snapshot(work)
    run = pmpoolctl(["validate", "pool.dtb", "--memmap", "-", option, "iomem.txt"], work, work / "iomem.txt")
    assert_usage_error(run, f"{option} iomem.txt", "--memmap -")
    assert snapshot(work) == before


def test_a_report_beside_a_map_from_standard_input_is_written(work: Path) -> None:
    run = pmpoolctl(["validate", "pool.dtb", "--memmap", "-", "--junit", "report.xml"], work, work / "iomem.txt")
    assert run.exit_code == 0, run.stderr
    assert (work / "report.xml").read_text().startswith("<?xml")


@pytest.mark.parametrize("args", [["capture", "-", "-q"], ["-q", "capture", "-"]])
def test_capture_to_standard_output_under_quiet_is_a_usage_error(work: Path, args: list[str]) -> None:
    # On main: nothing captured (stdout is /dev/null under -q), exit 0, and `| gzip > host.json.gz` kept nothing.
    run = pmpoolctl(args, work)
    assert_usage_error(run, "--quiet")
    assert run.stdout == ""


@pytest.mark.parametrize("option", ["--junit", "--html", "--svg", "--metrics"])
@pytest.mark.parametrize(("path", "fd"), [("/dev/stdout", 1), ("/proc/self/fd/1", 1), ("/dev/stderr", 2)])
def test_a_report_is_never_written_over_the_file_the_run_prints_to(work: Path, option: str, path: str, fd: int) -> None:
    # `validate ... --junit /dev/stdout >> ci.log`: on main ci.log was replaced by the report (its history gone,
    # and what the run printed went to the unlinked file), exit 0.
    log = work / "ci.log"
    log.write_text("yesterday's lines\n")
    with open(log, "a") as appended:
        proc = subprocess.run(
            [sys.executable, "-m", "pmpoolctl", "validate", "pool.dtb", "--memmap", "iomem.txt", option, path],
            stdin=subprocess.DEVNULL,
            stdout=appended if fd == 1 else subprocess.PIPE,
            stderr=appended if fd == 2 else subprocess.PIPE,
            text=True,
            env={**_ENV, "PYTHONPATH": str(REPO)},
            cwd=work,
            check=False,
            timeout=120,
        )
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    text = log.read_text()
    assert text.startswith("yesterday's lines\n"), text
    said = text if fd == 2 else proc.stderr
    assert f"{option} {path} is not written" in said and ("standard output" if fd == 1 else "standard error") in said
