"""The outputs fleets and CI consume, through the commands: edit JSON, JUnit context, --github, --metrics,
and the terminal conventions (COLUMNS, ASCII, bare pmpoolctl, --range)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import junitparser
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pmpoolctl import __version__
from tests.cli.test_schemas import assert_valid
from tests.conftest import EXAMPLES, run_cli

MAP = str(EXAMPLES / "memmap" / "iomem.txt")
BAD = EXAMPLES / "bad-pool.dtb"
ROOT = Path(__file__).parents[2]


def json_of(args: list[str], code: int = 0) -> dict[str, Any]:
    run = run_cli(args)
    assert run.exit_code == code, (run.exit_code, run.stdout, run.stderr)
    document: dict[str, Any] = json.loads(run.stdout)
    return document


# --- edit JSON ------------------------------------------------------------------------------------


def test_add_range_json_in_place(pool_blob: Path) -> None:
    document = json_of(["add-range", str(pool_blob), "0x180000000", "64M", "--json"])
    assert_valid(document)
    assert document["changed"] is True and document["dry_run"] is False and document["written"] is True
    assert document["file"] == str(pool_blob) and document["pool"] == "/default_pmpool"
    assert document["removed"] == [{"base": 0x140000000, "size": 0x40000000, "end": 0x180000000}]
    assert document["added"] == [{"base": 0x140000000, "size": 0x44000000, "end": 0x184000000}]
    assert document["before"] == {"ranges": 2, "total_bytes": 0x40200000, "total_pages": 262656, "stored_ranges": 2}
    assert document["after"] == {"ranges": 2, "total_bytes": 0x44200000, "total_pages": 279040, "stored_ranges": 2}
    again = json_of(["add-range", str(pool_blob), "0x180000000", "64M", "--merge", "--json"])
    assert again["changed"] is False and again["written"] is False and again["added"] == []  # Ansible: ok


def test_remove_range_json_dry_run_writes_nothing(pool_blob: Path) -> None:
    before = pool_blob.read_bytes()
    document = json_of(["remove-range", str(pool_blob), "0x140100000", "1M", "--dry-run", "--json"])
    assert_valid(document)
    assert pool_blob.read_bytes() == before
    assert document["changed"] is True and document["dry_run"] is True and document["written"] is False
    assert [r["base"] for r in document["added"]] == [0x140000000, 0x140200000]


def test_create_json(tmp_path: Path) -> None:
    out = tmp_path / "new.dtb"
    document = json_of(["create", str(out), "--range", "0x100000000", "2M", "--json"])
    assert_valid(document)
    assert document["before"] == {"ranges": 0, "total_bytes": 0, "total_pages": 0, "stored_ranges": 0}
    assert document["added"] == [{"base": 0x100000000, "size": 0x200000, "end": 0x100200000}]
    assert document["written"] is True and out.exists()


def test_edit_json_failures_are_error_documents(pool_blob: Path, tmp_path: Path) -> None:
    overlap = json_of(["add-range", str(pool_blob), "0x100100000", "2M", "--json"], 3)
    assert_valid(overlap)
    assert overlap["exit_code"] == 3 and "overlaps" in str(overlap["message"])
    both = json_of(["add-range", str(pool_blob), "0x180000000", "2M", "-o", "-", "--json"], 2)
    assert_valid(both)
    created = json_of(["create", str(tmp_path / "c.dtb"), "--range", "0x1001", "4K", "--json"], 3)
    assert str(created["message"]).startswith(f"{tmp_path / 'c.dtb'}: /default_pmpool: ")


def test_a_big_batch_as_json_is_streamed(pool_blob: Path, tmp_path: Path) -> None:
    """100k added ranges: the document lists every one, as one line each (Records)."""
    count = 100_000
    batch = tmp_path / "batch.txt"
    batch.write_text("".join(f"{0x200000000 + i * 0x2000:#x} 4K\n" for i in range(count)))
    run = run_cli(["add-range", str(pool_blob), "--from", str(batch), "--json"])
    assert run.exit_code == 0, run.stderr
    document = json.loads(run.stdout)
    assert len(document["added"]) == count and document["after"]["ranges"] == 2 + count
    assert run.stdout.count("\n") > count  # one range a line


# --- JUnit context --------------------------------------------------------------------------------


def test_junit_has_context_parsed_by_junitparser(tmp_path: Path) -> None:
    report = tmp_path / "r.xml"
    run = run_cli(["validate", str(BAD), "--memmap", MAP, "--junit", str(report)])
    assert run.exit_code == 1
    document = junitparser.JUnitXml.fromfile(str(report))
    (suite,) = list(document)
    assert suite.hostname == os.uname().nodename or suite.hostname
    assert suite.timestamp and suite.timestamp.endswith("+00:00")
    assert 0 <= suite.time < 60
    properties = dict((p.name, p.value) for p in suite.properties())  # type: ignore[no-untyped-call]
    assert properties["pmpoolctl.version"] == __version__
    assert properties["kernel.release"] == os.uname().release
    assert properties["blob.sha256"] == hashlib.sha256(BAD.read_bytes()).hexdigest()
    assert properties["memmap"] == f"{MAP} (iomem, 13 entries)"
    assert suite.failures == 3


def test_kho_validate_junit_names_the_kho_roots_sha256(tmp_path: Path) -> None:
    report = tmp_path / "r.xml"
    kho_out = ROOT / "examples" / "kho" / "out"
    run = run_cli(["kho", "validate", str(kho_out), "--memmap", MAP, "--junit", str(report)])
    assert run.exit_code in (0, 1), run.stderr
    (suite,) = list(junitparser.JUnitXml.fromfile(str(report)))
    properties = dict((p.name, p.value) for p in suite.properties())  # type: ignore[no-untyped-call]
    assert properties["kho.root.sha256"] == hashlib.sha256((kho_out / "fdt").read_bytes()).hexdigest()
    assert "blob.sha256" not in properties


def test_a_failed_run_junit_error_report_has_context_too(tmp_path: Path) -> None:
    report = tmp_path / "r.xml"
    run = run_cli(["validate", str(tmp_path / "missing.dtb"), "--junit", str(report)])
    assert run.exit_code == 3
    (suite,) = list(junitparser.JUnitXml.fromfile(str(report)))
    assert suite.errors == 1 and suite.timestamp and suite.hostname is not None


# --- GitHub ---------------------------------------------------------------------------------------


def test_github_workflow_commands_and_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    run = run_cli(["validate", "examples/bad-pool.dtb", "--memmap", "examples/memmap/iomem.txt", "--github"])
    assert run.exit_code == 1
    commands = [line for line in run.stdout.splitlines() if line.startswith("::")]
    assert [c.split("::")[1] for c in commands] == [
        "error file=examples/memmap/iomem.txt,line=7,title=range-in-kernel",
        "error file=examples/bad-pool.dtb,title=range-in-memreserve",
        "error file=examples/memmap/iomem.txt,line=11,title=range-outside-ram",
    ]
    assert run.stdout.splitlines()[-1] == "FAIL: 3 errors, 0 warnings"  # the text report follows
    text = summary.read_text()
    assert text.startswith("earlier step\n### pmpoolctl validate: FAIL\n")  # appended, not replaced
    run = run_cli(["validate", "examples/pool.dtb", "--memmap", "examples/memmap/iomem.txt", "--github"])
    assert run.exit_code == 0 and not any(line.startswith("::") for line in run.stdout.splitlines())
    assert summary.read_text().count("### pmpoolctl validate:") == 2


def test_github_without_a_summary_file_and_with_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert run_cli(["validate", str(BAD), "--memmap", MAP, "--github"]).exit_code == 1
    run = run_cli(["validate", str(BAD), "--memmap", MAP, "--github", "--json"])
    assert run.exit_code == 2 and "--github and --json" in run.stderr


def test_an_unwritable_summary_is_exit_3_never_a_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(fifo))
    run = run_cli(["validate", str(EXAMPLES / "pool.dtb"), "--memmap", MAP, "--github"])
    assert run.exit_code == 3 and "not a regular file" in run.stderr


@pytest.mark.parametrize("summary_is", ["BLOB", "--memmap", "--junit"])
def test_the_summary_is_never_appended_to_what_the_run_reads_or_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, summary_is: str
) -> None:
    # $GITHUB_STEP_SUMMARY=pool.dtb: on main markdown went onto the blob (and onto a map, which then failed to
    # parse, or onto the JUnit file after its XML), exit 0.
    blob, memmap, junit = tmp_path / "pool.dtb", tmp_path / "iomem.txt", tmp_path / "report.xml"
    shutil.copy(EXAMPLES / "pool.dtb", blob)
    shutil.copy(MAP, memmap)
    junit.write_text("an older report\n")
    named = {"BLOB": blob, "--memmap": memmap, "--junit": junit}[summary_is]
    kept = {path: path.read_bytes() for path in (blob, memmap)}
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(named))
    run = run_cli(["validate", str(blob), "--memmap", str(memmap), "--github", "--junit", str(junit)])
    assert run.exit_code == 3, (run.exit_code, run.stderr)
    assert run.stderr.startswith("error: $GITHUB_STEP_SUMMARY") and run.stderr.count("\n") == 1, run.stderr
    assert summary_is in run.stderr and "refusing to append" in run.stderr
    assert {path: path.read_bytes() for path in (blob, memmap)} == kept
    (suite,) = list(junitparser.JUnitXml.fromfile(str(junit)))  # the run's error report, whole XML
    assert suite.errors == 1


# --- Prometheus -----------------------------------------------------------------------------------


def metrics_of(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


POOL_LABEL = (("pool", "/default_pmpool"),)


def test_metrics_of_a_failing_and_a_passing_validation(tmp_path: Path) -> None:
    prom = tmp_path / "pmpool.prom"
    assert run_cli(["validate", str(BAD), "--memmap", MAP, "--metrics", str(prom)]).exit_code == 1
    found = metrics_of(prom)
    assert found[("pmpool_validate_ok", POOL_LABEL)] == 0
    assert found[("pmpool_ranges", POOL_LABEL)] == 4
    assert found[("pmpool_findings", (*POOL_LABEL, ("rule", "range-in-kernel"), ("severity", "error")))] == 1
    assert abs(found[("pmpool_validate_timestamp_seconds", POOL_LABEL)] - __import__("time").time()) < 120
    assert run_cli(["validate", str(EXAMPLES / "pool.dtb"), "--memmap", MAP, "--metrics", str(prom)]).exit_code == 0
    found = metrics_of(prom)
    assert found[("pmpool_validate_ok", POOL_LABEL)] == 1
    assert found[("pmpool_bytes", POOL_LABEL)] == 0x40200000
    assert not list(tmp_path.glob("*.pmpoolctl-tmp"))  # written atomically: no temp file left


def test_a_run_without_a_verdict_replaces_a_passing_textfile(tmp_path: Path) -> None:
    prom = tmp_path / "pmpool.prom"
    assert run_cli(["validate", str(EXAMPLES / "pool.dtb"), "--memmap", MAP, "--metrics", str(prom)]).exit_code == 0
    run = run_cli(["validate", str(tmp_path / "missing.dtb"), "--memmap", MAP, "--metrics", str(prom)])
    assert run.exit_code == 3
    found = metrics_of(prom)
    assert found[("pmpool_validate_ok", POOL_LABEL)] == 0 and found[("pmpool_validate_exit_code", POOL_LABEL)] == 3
    usage = run_cli(["validate", str(EXAMPLES / "pool.dtb"), "--metrics", str(prom), "--phys-bits", "99"])
    assert usage.exit_code == 2
    assert metrics_of(prom)[("pmpool_validate_exit_code", POOL_LABEL)] == 2


def test_kho_validate_metrics(tmp_path: Path) -> None:
    prom = tmp_path / "kho.prom"
    kho = str(EXAMPLES / "kho" / "v3-out")
    assert run_cli(["kho", "validate", kho, "--memmap", MAP, "--metrics", str(prom)]).exit_code == 0
    assert metrics_of(prom)[("pmpool_validate_ok", (("pool", "/memblock"),))] == 1


# --- terminal -------------------------------------------------------------------------------------


def pmpoolctl(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "PYTHONIOENCODING")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pmpoolctl", *args], capture_output=True, text=True, env=environment, cwd=ROOT,
        check=False,
    )  # fmt: skip


def test_columns_fits_the_validate_table() -> None:
    proc = pmpoolctl("validate", "examples/bad-pool.dtb", "--memmap", "examples/memmap/iomem.txt", COLUMNS="80")
    assert proc.returncode == 1
    table = proc.stdout.splitlines()[1:-1]
    assert max(map(len, table)) <= 80
    assert "0x2208d88)" in proc.stdout and "…/iomem.txt:7" in proc.stdout
    wide = pmpoolctl("validate", "examples/bad-pool.dtb", "--memmap", "examples/memmap/iomem.txt")
    assert max(map(len, wide.stdout.splitlines()[1:-1])) > 80  # a pipe without COLUMNS: as wide as it is


def test_an_ascii_stdout_gets_an_ascii_table() -> None:
    proc = pmpoolctl("dump", "examples/pool.dtb", PYTHONIOENCODING="ascii")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.isascii() and "\\u2500" not in proc.stdout
    assert "-" * 59 in proc.stdout.splitlines()
    forced = pmpoolctl("dump", "examples/pool.dtb", "--ascii")
    assert forced.stdout == proc.stdout
    assert "─" in pmpoolctl("dump", "examples/pool.dtb").stdout


def test_bare_pmpoolctl_prints_help_on_stdout() -> None:
    run = run_cli([])
    assert run.exit_code == 2
    assert run.stdout.startswith("Usage: pmpoolctl [OPTIONS] COMMAND [ARGS]...") and "Commands:" in run.stdout
    assert run.stderr == ""


def test_range_with_one_value_says_what_it_needs(tmp_path: Path) -> None:
    for args in (["--range", "0x1000"], ["--range"]):
        run = run_cli(["create", str(tmp_path / "x.dtb"), *args])
        assert run.exit_code == 2
        assert run.stderr == (
            "error: --range needs two values, BASE and SIZE: --range BASE SIZE (e.g. --range 0x100000000 2M) "
            "(see 'pmpoolctl create --help')\n"
        )
