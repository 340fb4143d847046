"""Report files (--junit, --html, --svg, --metrics) never destroy the user's data, and a usage error leaves an
honest report: FILE is refused when it is an input, an FDT blob, not a regular file, another report or -; a usage
error click finds still replaces the reports (and --json prints the error document)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, run_cli

IOMEM = EXAMPLES / "memmap" / "iomem.txt"
KHO_OUT = EXAMPLES / "kho" / "out"
REPORTS = ["--junit", "--html", "--svg", "--metrics"]
OLD_PASS = "an older report: PASS\n"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with a blob, a memory map and a KHO state of our own, as the current directory."""
    shutil.copy(EXAMPLES / "pool.dtb", tmp_path / "pool.dtb")
    shutil.copy(EXAMPLES / "pool.dtb", tmp_path / "next.dtb")
    shutil.copy(IOMEM, tmp_path / "iomem.txt")
    shutil.copytree(KHO_OUT, tmp_path / "kho-out")
    (tmp_path / "cmdline.txt").write_text("reserve_mem=64M:4K:r1 kho=on\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` and its bytes: what a refused run must leave as it was."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def assert_refused(args: list[str], work: Path, *needles: str) -> str:
    """Exit 2, one `error:` line naming `needles`, and no file changed, created or removed."""
    before = snapshot(work)
    run = run_cli(args)
    assert run.exit_code == 2, (run.exit_code, run.stdout, run.stderr)
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1, run.stderr
    assert "Traceback" not in run.stderr
    for needle in needles:
        assert needle in run.stderr, (needle, run.stderr)
    assert snapshot(work) == before
    return run.stderr


# --- item 1: a report never replaces what the run reads, nor a blob ----------------------------------------------


@pytest.mark.parametrize("option", REPORTS)
def test_a_report_named_as_the_blob_is_a_usage_error(work: Path, option: str) -> None:
    # The red team's case: exit 0 on main, the blob it had just checked replaced with an SVG.
    assert_refused(["validate", "pool.dtb", "--memmap", "iomem.txt", option, "pool.dtb"], work, option, "BLOB pool.dtb")


@pytest.mark.parametrize("option", REPORTS)
def test_swapped_arguments_never_overwrite_the_blob(work: Path, option: str) -> None:
    # `validate --live --junit next.dtb`: next.dtb is FILE, BLOB is missing (exit 2), and on main the blob was XML.
    stderr = assert_refused(["validate", "--live", option, "next.dtb"], work, "Missing argument", f"{option} next.dtb")
    assert "FDT blob" in stderr


@pytest.mark.parametrize(
    ("args", "report", "named"),
    [
        (["validate", "pool.dtb", "--memmap", "iomem.txt"], "iomem.txt", "--memmap iomem.txt"),
        (["validate", "pool.dtb", "--memmap", "iomem:iomem.txt"], "iomem.txt", "--memmap iomem:iomem.txt"),
        (["validate", "pool.dtb", "--memmap", "iomem.txt", "--next-kernel", "cmdline.txt"], "cmdline.txt",
         "--next-kernel cmdline.txt"),
        (["validate", "pool.dtb", "--memmap", "iomem.txt", "--kho", "kho-out"], "kho-out/fdt", "--kho kho-out"),
        (["validate", "pool.dtb", "--memmap", "iomem.txt", "--kho", "kho-out"], "kho-out/sub_fdts/r.xml", "kho-out"),
        (["kho", "validate", "kho-out", "--memmap", "iomem.txt"], "kho-out/sub_fdts/memblock", "PATH kho-out"),
        (["kho", "validate", "kho-out", "--memmap", "iomem.txt", "--next-cmdline", "@cmdline.txt"], "cmdline.txt",
         "--next-cmdline @cmdline.txt"),
        (["map", "pool.dtb", "--memmap", "iomem.txt"], "iomem.txt", "--memmap iomem.txt"),
        (["map", "pool.dtb"], "./pool.dtb", "pool.dtb"),
    ],
    ids=["memmap", "format-memmap", "next-kernel", "kho-fdt", "in-kho-dir", "kho-path", "cmdline-file", "map-memmap",
         "map-blob"],
)  # fmt: skip
def test_a_report_that_is_any_input_is_a_usage_error(work: Path, args: list[str], report: str, named: str) -> None:
    for option in ("--html", "--svg") if args[0] == "map" else REPORTS:
        assert_refused([*args, option, report], work, f"{option} {report} is not written", named)


def test_a_link_to_the_blob_is_the_blob(work: Path) -> None:
    os.symlink("pool.dtb", work / "link.xml")
    os.link(work / "iomem.txt", work / "hard.xml")
    args = ["validate", "pool.dtb", "--memmap", "iomem.txt"]
    assert_refused([*args, "--junit", "link.xml"], work, "--junit link.xml", "BLOB pool.dtb")
    assert_refused([*args, "--junit", "hard.xml"], work, "--junit hard.xml", "--memmap iomem.txt")


def test_a_directory_or_a_device_is_never_a_report(work: Path) -> None:
    (work / "reports").mkdir()
    args = ["validate", "pool.dtb", "--memmap", "iomem.txt"]
    assert_refused([*args, "--metrics", "reports"], work, "--metrics reports", "is a directory")
    assert_refused([*args, "--html", os.devnull], work, f"--html {os.devnull}", "not a regular file")


def test_two_reports_in_one_file_are_a_usage_error(work: Path) -> None:
    (work / "r.xml").write_text(OLD_PASS)
    run = run_cli(["validate", "pool.dtb", "--memmap", "iomem.txt", "--junit", "r.xml", "--html", "./r.xml"])
    assert run.exit_code == 2 and "--html ./r.xml is not written: it is the same file as --junit r.xml" in run.stderr
    assert "did not complete" in (work / "r.xml").read_text() or 'errors="1"' in (work / "r.xml").read_text()


def test_a_report_file_that_becomes_a_blob_during_the_run_is_not_replaced(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pmpoolctl import api

    real = api.validate
    blob = (work / "pool.dtb").read_bytes()

    def validate_then_plant(*args: object, **kwargs: object) -> api.Validation:
        (work / "r.xml").write_bytes(blob)  # someone's blob, written where the report goes, while the check runs
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(api, "validate", validate_then_plant)
    run = run_cli(["validate", "pool.dtb", "--memmap", "iomem.txt", "--junit", "r.xml"])
    assert run.exit_code == 3 and "r.xml: refusing to replace it with a report" in run.stderr, run.stderr
    assert (work / "r.xml").read_bytes() == blob


# --- item 2: a usage error click finds still replaces the reports ------------------------------------------------


def junit_records_an_error(path: Path) -> bool:
    text = path.read_text()
    return "<testsuite" in text and 'errors="1"' in text


REPLACED_BY = {
    "--junit": ("r.xml", junit_records_an_error),
    "--metrics": ("m.prom", lambda p: 'pmpool_validate_ok{pool="/default_pmpool"} 0' in p.read_text()),
    "--html": ("r.html", lambda p: "NO VERDICT" in p.read_text()),
    "--svg": ("r.svg", lambda p: "NO VERDICT" in p.read_text() and p.read_text().startswith("<svg")),
}


@pytest.mark.parametrize("option", REPORTS)
@pytest.mark.parametrize(
    "bad",
    [["--bogus"], ["--strict=1"], ["--pool"]],
    ids=["unknown-option", "flag-with-value", "missing-value"],
)
@pytest.mark.parametrize("where", ["before", "after"])
def test_a_parse_error_anywhere_replaces_an_older_report(work: Path, option: str, bad: list[str], where: str) -> None:
    name, replaced = REPLACED_BY[option]
    (work / name).write_text(OLD_PASS)
    report = [option, name]
    if bad == ["--pool"]:  # an option without its value can only be the last word
        words = [*report, *bad] if where == "before" else ["--strict", *report, *bad]
    else:
        words = [*report, *bad] if where == "before" else [*bad, *report]
    run = run_cli(["validate", "pool.dtb", "--json", "--memmap", "iomem.txt", *words])
    assert run.exit_code == 2, run
    assert (work / name).read_text() != OLD_PASS and replaced(work / name), (work / name).read_text()
    document = json.loads(run.stdout)
    assert document["schema"] == "pmpoolctl.error/v1" and document["exit_code"] == 2
    assert document["message"] in run.stderr


def test_a_parse_error_leaves_an_input_named_as_a_report_alone(work: Path) -> None:
    # On main a usage error wrote the error report over iomem.txt: the run never got to know its inputs.
    stderr = assert_refused(
        ["validate", "pool.dtb", "--memmap", "iomem.txt", "--junit", "iomem.txt", "--bogus"], work, "--bogus"
    )
    assert "--junit iomem.txt is not written: it is the same file as iomem.txt" in stderr


def test_a_usage_error_of_a_command_without_reports_writes_none(work: Path) -> None:
    (work / "r.xml").write_text(OLD_PASS)
    run = run_cli(["dump", "pool.dtb", "--junit", "r.xml"])
    assert run.exit_code == 2 and (work / "r.xml").read_text() == OLD_PASS


def test_json_after_a_parse_error_is_the_error_document(work: Path) -> None:
    run = run_cli(["kho", "validate", "kho-out", "--json", "--no-such-flag"])
    assert run.exit_code == 2
    assert json.loads(run.stdout) == {
        "schema": "pmpoolctl.error/v1",
        "exit_code": 2,
        "message": run.stderr.removeprefix("error: ").rstrip("\n"),
    }
    quiet = run_cli(["-q", "validate", "pool.dtb", "--json", "--no-such-flag"])
    assert quiet.exit_code == 2 and quiet.stdout == ""


# --- item 3: - is no report file ---------------------------------------------------------------------------------


@pytest.mark.parametrize("option", REPORTS)
def test_dash_is_a_usage_error_and_dot_slash_dash_is_a_file(work: Path, option: str) -> None:
    args = ["validate", "pool.dtb", "--memmap", "iomem.txt"]
    assert_refused([*args, option, "-"], work, f"{option} - is not written", "standard output")
    run = run_cli([*args, option, "./-"])
    assert run.exit_code == 0, run.stderr
    assert (work / "-").stat().st_size > 0


@pytest.mark.parametrize("option", REPORTS)
def test_a_nul_byte_in_a_report_path_is_one_usage_error(work: Path, option: str) -> None:
    """click refuses the name; the re-read that claims reports after a usage error meets it too (a traceback)."""
    assert_refused(["validate", "pool.dtb", "--memmap", "iomem.txt", option, "x\0y"], work, "holds a NUL byte")


@pytest.mark.parametrize("option", REPORTS)
def test_a_report_option_given_twice_is_a_usage_error(work: Path, option: str) -> None:
    """click keeps the last of several: the first FILE would keep an older run's report, read as this one's."""
    (work / "first").write_text("an older report\n")
    run = run_cli(["validate", "pool.dtb", "--memmap", "iomem.txt", option, "first", option, "second"])
    assert run.exit_code == 2 and "given 2 times (first, second): give one FILE" in run.stderr, run.stderr
    assert run.stderr.count("\n") == 1


# --- item 4: --svg says the run failed, as --html does -----------------------------------------------------------


def test_a_failed_run_replaces_the_svg_with_an_error_picture(work: Path) -> None:
    (work / "r.svg").write_text("<svg>an older picture</svg>\n")
    (work / "broken.dtb").write_bytes(b"\xd0\x0d\xfe\xed" + b"\0" * 60)
    run = run_cli(["validate", "broken.dtb", "--memmap", "iomem.txt", "--svg", "r.svg"])
    assert run.exit_code == 3, run
    picture = (work / "r.svg").read_text()
    assert picture.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and "NO VERDICT" in picture
    assert "(exit 3)" in picture and "broken.dtb" in picture


# --- item 5: create and capture never replace a file that appears under them -------------------------------------


@pytest.mark.parametrize("command", [["create"], ["capture"]])
def test_create_and_capture_refuse_a_file_planted_after_the_check(
    work: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    from pmpoolctl.files import safewrite

    real = safewrite._create_temp_file
    planted = work / "out.dtb"

    def plant_then_create(target: safewrite.Target) -> tuple[int, str]:
        planted.write_bytes(b"someone else's file\n")  # appears once the exists check has passed
        return real(target)

    monkeypatch.setattr(safewrite, "_create_temp_file", plant_then_create)
    run = run_cli([*command, "out.dtb"])
    assert run.exit_code == 3 and "out.dtb: exists; use --force to overwrite it" in run.stderr, run
    assert planted.read_bytes() == b"someone else's file\n"
    assert sorted(p.name for p in work.iterdir() if p.name.startswith(".out.dtb.")) == [".out.dtb.lock"]


def test_create_still_refuses_a_dangling_link_without_force(work: Path) -> None:
    os.symlink("nowhere.dtb", work / "out.dtb")
    run = run_cli(["create", "out.dtb"])
    assert run.exit_code == 3 and "exists" in run.stderr and not (work / "nowhere.dtb").exists()
    assert run_cli(["create", "out.dtb", "--force"]).exit_code == 0 and (work / "nowhere.dtb").is_file()


def test_create_refuses_a_dangling_link_through_a_directory_link(work: Path) -> None:
    (work / "real").mkdir()
    os.symlink("real", work / "d")
    os.symlink("d/new.dtb", work / "out.dtb")  # OUT is a link, whose target is reached through another link
    run = run_cli(["create", "out.dtb"])
    assert run.exit_code == 3 and "out.dtb: exists; use --force" in run.stderr, run
    assert not (work / "real" / "new.dtb").exists()
