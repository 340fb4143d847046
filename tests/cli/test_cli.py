"""Every command and exit code through the CLI, with golden text and JSON output.

Regenerate the golden files after an intended output change with
`PMPOOLCTL_UPDATE_GOLDEN=1 make unit`, and review the diff.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pmpoolctl import __version__
from tests.conftest import DATA, EXAMPLES, Run, assert_input_error, check_golden, run_cli

REPO = Path(__file__).parents[2]


def ok(run: Run) -> Run:
    assert run.exit_code == 0, (run.exit_code, run.stdout, run.stderr)
    assert run.stderr == ""
    return run


def pool_ranges(path: Path) -> list[tuple[int, int]]:
    document = json.loads(ok(run_cli(["dump", str(path), "--json"])).stdout)
    return [(r["base"], r["size"]) for r in document["pool"]["ranges"]]


# --- dump -------------------------------------------------------------------


def test_dump_text_golden(pool_blob: Path) -> None:
    run = ok(run_cli(["dump", str(pool_blob)]))
    check_golden("dump-pool.txt", run.stdout.replace(str(pool_blob), "pool.dtb"))


def test_dump_free_bytes_follow_the_last_block_whichever_it_is(pool_blob: Path, tmp_path: Path) -> None:
    """A writer may put strings before the structure block: free space is what the last block leaves."""
    import struct

    data = pool_blob.read_bytes()
    fields = list(struct.unpack(">10I", data[:40]))  # magic, totalsize, off_struct, off_strings, off_rsvmap, ...
    off_struct, off_strings, size_strings, size_struct = fields[2], fields[3], fields[8], fields[9]
    assert off_struct < off_strings  # dtc's layout: structure, then strings
    strings_first = data[off_strings : off_strings + size_strings] + b"\0" * (-size_strings % 4)
    body = strings_first + data[off_struct : off_struct + size_struct] + b"\0" * 24
    fields[1], fields[3], fields[2] = off_struct + len(body), off_struct, off_struct + len(strings_first)
    swapped = tmp_path / "strings-first.dtb"
    swapped.write_bytes(struct.pack(">10I", *fields) + data[40:off_struct] + body)
    assert pool_ranges(swapped) == pool_ranges(pool_blob)
    assert ", 24 bytes free" in ok(run_cli(["dump", str(swapped)])).stdout


def test_dump_json_golden_and_schema(pool_blob: Path) -> None:
    run = ok(run_cli(["dump", str(pool_blob), "--json"]))
    check_golden("dump-pool.json", run.stdout.replace(str(pool_blob), "pool.dtb"))
    document = json.loads(run.stdout)
    # The keys cli.md promises, with their values.
    assert document["schema"] == "pmpoolctl.dump/v1"
    assert document["header"]["version"] == 17
    assert document["header"]["last_comp_version"] == 16
    assert document["header"]["boot_cpuid_phys"] == 0
    assert document["reservations"] == [{"address": 0x20000000, "size": 0x100000}]
    pool = document["pool"]
    assert pool["path"] == "/default_pmpool"
    assert pool["compatible"] == "pmpool-v1"
    assert pool["page_size"] == 4096
    assert pool["ranges"] == [
        {"base": 0x100000000, "size": 0x200000, "end": 0x100200000},
        {"base": 0x140000000, "size": 0x40000000, "end": 0x180000000},
    ]
    assert pool["total_bytes"] == 0x40200000
    assert pool["total_pages"] == 0x40200000 // 4096


def test_dump_dts_golden(pool_blob: Path) -> None:
    run = ok(run_cli(["dump", str(pool_blob), "--dts"]))
    check_golden("dump-pool.dts", run.stdout)


def test_dump_from_stdin(pool_blob: Path) -> None:
    run = ok(run_cli(["dump", "-", "--json"], stdin=pool_blob.read_bytes()))
    assert json.loads(run.stdout)["file"] == "<stdin>"
    assert json.loads(run.stdout)["pool"]["total_pages"] == 0x40200000 // 4096


def test_dump_without_pool_is_null_and_exit_0() -> None:
    run = ok(run_cli(["dump", str(DATA / "qemu-pseries.dtb"), "--json"]))
    assert json.loads(run.stdout)["pool"] is None
    text = ok(run_cli(["dump", str(DATA / "qemu-pseries.dtb")])).stdout
    assert "Pool /default_pmpool: none" in text


def test_dump_named_pool_missing_is_exit_3(pool_blob: Path) -> None:
    assert_input_error(run_cli(["dump", str(pool_blob), "--pool", "iommu_pmpool"]), str(pool_blob), "iommu_pmpool")


def test_dump_shows_broken_binding_without_failing(tmp_path: Path) -> None:
    # Ranges out of order: dump shows them as stored and says what is wrong, exit 0.
    blob = tmp_path / "b.dtb"
    ok(run_cli(["create", str(blob), "--range", "0x2000", "0x1000", "--range", "0x4000", "0x1000"]))
    data = bytearray(blob.read_bytes())
    first = data.index((0x2000).to_bytes(8, "big") + (0x1000).to_bytes(8, "big"))
    data[first : first + 8] = (0x6000).to_bytes(8, "big")
    blob.write_bytes(bytes(data))
    document = json.loads(ok(run_cli(["dump", str(blob), "--json"])).stdout)
    assert [r["base"] for r in document["pool"]["ranges"]] == [0x6000, 0x4000]
    assert [p["rule"] for p in document["pool"]["problems"]] == ["ranges-unsorted"]
    text = ok(run_cli(["dump", str(blob)])).stdout
    # The problems are a table, never a line that starts like the tool's own `error:` channel.
    assert not any(line.startswith(("error:", "warning:")) for line in text.splitlines())
    assert text.splitlines()[-4:] == [
        "The pool breaks the binding: 1 problem",
        "severity   rule              range              problem",
        "─" * 120,
        "error      ranges-unsorted   [0x4000, 0x5000)   range [0x4000, 0x5000) comes after [0x6000, 0x7000), "
        "which starts higher",
    ]


# --- create -----------------------------------------------------------------


def test_create_fresh_blob_golden(tmp_path: Path) -> None:
    out = tmp_path / "new.dtb"
    run = ok(run_cli(["create", str(out), "--range", "5G", "1G", "--range", "0x100000000", "2M"]))
    assert run.stdout == f"{out}: created with pool /default_pmpool: 2 ranges, page size 4096\n"
    check_golden("create-fresh.dts", ok(run_cli(["dump", str(out), "--dts"])).stdout)
    assert pool_ranges(out) == [(0x100000000, 0x200000), (0x140000000, 0x40000000)]


def test_create_merges_touching_ranges_and_sets_page_size(tmp_path: Path) -> None:
    out = tmp_path / "new.dtb"
    ok(run_cli(["create", str(out), "--page-size", "2M", "--range", "4G", "2M", "--range", "0x100200000", "2M"]))
    document = json.loads(ok(run_cli(["dump", str(out), "--json"])).stdout)
    assert document["pool"]["page_size"] == 2 << 20
    assert document["pool"]["ranges"] == [{"base": 4 << 30, "size": 4 << 20, "end": (4 << 30) + (4 << 20)}]


def test_create_named_pool_from_base_blob(tmp_path: Path) -> None:
    out = tmp_path / "host.dtb"
    ok(run_cli(["create", str(out), "--from", str(DATA / "qemu-pseries.dtb"), "--pool", "iommu_pmpool"]))
    document = json.loads(ok(run_cli(["dump", str(out), "--pool", "iommu_pmpool", "--json"])).stdout)
    assert document["pool"]["path"] == "/iommu_pmpool"
    assert document["pool"]["ranges"] == []
    assert json.loads(ok(run_cli(["dump", str(out), "--json"])).stdout)["pool"] is None


def test_create_refuses_existing_out_without_force(pool_blob: Path) -> None:
    before = pool_blob.read_bytes()
    assert_input_error(run_cli(["create", str(pool_blob)]), str(pool_blob), "--force")
    assert pool_blob.read_bytes() == before
    ok(run_cli(["create", str(pool_blob), "--force"]))
    assert pool_ranges(pool_blob) == []


def test_create_from_blob_that_has_the_pool_is_exit_3(pool_blob: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.dtb"
    assert_input_error(run_cli(["create", str(out), "--from", str(pool_blob)]), "already has a pool node")
    assert not out.exists()


def test_create_refuses_overlapping_ranges(tmp_path: Path) -> None:
    out = tmp_path / "out.dtb"
    assert_input_error(run_cli(["create", str(out), "--range", "4G", "8M", "--range", "0x100100000", "1M"]), "overlap")
    assert not out.exists()


# --- add-range, remove-range ------------------------------------------------


def test_add_range_edits_in_place_and_merges_adjacent(pool_blob: Path) -> None:
    run = ok(run_cli(["add-range", str(pool_blob), "0x100200000", "2M"]))
    assert run.stdout.splitlines() == [
        f"{pool_blob}: /default_pmpool changed",
        "  before: 2 ranges, 1.00 GiB, 262656 pages",
        "  after:  2 ranges, 1.00 GiB, 263168 pages",
    ]
    assert pool_ranges(pool_blob) == [(0x100000000, 0x400000), (0x140000000, 0x40000000)]


def test_add_range_dry_run_golden_and_writes_nothing(pool_blob: Path) -> None:
    before = pool_blob.read_bytes()
    run = ok(run_cli(["add-range", str(pool_blob), "0x180000000", "64M", "--dry-run"]))
    check_golden("add-range-dry-run.txt", run.stdout.replace(str(pool_blob), "pool.dtb"))
    assert pool_blob.read_bytes() == before


def test_remove_range_splits_a_range(pool_blob: Path) -> None:
    ok(run_cli(["remove-range", str(pool_blob), "0x140100000", "1M"]))
    assert pool_ranges(pool_blob) == [
        (0x100000000, 0x200000),
        (0x140000000, 0x100000),
        (0x140200000, 0x40000000 - 0x200000),
    ]


def test_remove_range_dry_run_golden(pool_blob: Path) -> None:
    run = ok(run_cli(["remove-range", str(pool_blob), "0x140100000", "1M", "--dry-run"]))
    check_golden("remove-range-dry-run.txt", run.stdout.replace(str(pool_blob), "pool.dtb"))


def test_add_range_batch_text_from_stdin(pool_blob: Path) -> None:
    batch = "# deposited pages\n0x200000000 2M\n\n0x300000000 0x400000  # second\n"
    ok(run_cli(["add-range", str(pool_blob), "--from", "-"], stdin=batch))
    assert pool_ranges(pool_blob)[2:] == [(0x200000000, 0x200000), (0x300000000, 0x400000)]


def test_remove_range_batch_json_file(pool_blob: Path, tmp_path: Path) -> None:
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps([{"base": "0x100000000", "size": "1M"}, {"base": 0x140000000, "size": 4096}]))
    ok(run_cli(["remove-range", str(pool_blob), "--from", str(batch)]))
    assert pool_ranges(pool_blob) == [(0x100100000, 0x100000), (0x140001000, 0x40000000 - 0x1000)]


def test_edit_with_output_leaves_input_alone(pool_blob: Path, tmp_path: Path) -> None:
    before = pool_blob.read_bytes()
    out = tmp_path / "out.dtb"
    ok(run_cli(["add-range", str(pool_blob), "8G", "4K", "-o", str(out)]))
    assert pool_blob.read_bytes() == before
    assert pool_ranges(out)[-1] == (8 << 30, 4096)


def test_edit_from_stdin_needs_output(pool_blob: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.dtb"
    ok(run_cli(["add-range", "-", "8G", "4K", "-o", str(out)], stdin=pool_blob.read_bytes()))
    assert pool_ranges(out)[-1] == (8 << 30, 4096)
    run = run_cli(["add-range", "-", "8G", "4K"], stdin=pool_blob.read_bytes())
    assert run.exit_code == 2 and run.stderr.startswith("error: editing standard input needs -o OUT")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["validate", "-", "--memmap", "-"], "BLOB - and --memmap - are both -"),
        (["validate", "POOL", "--memmap", "-", "--memmap", "iomem:-"], "--memmap - and --memmap iomem:- are both -"),
        (["validate", "POOL", "--memmap", "MAP", "--kho", "-", "--next-kernel", "-"], "--kho - and --next-kernel -"),
        (["map", "-", "--memmap", "-"], "and --memmap - are both -"),
        (["kho", "validate", "-", "--memmap", "-", "--next-cmdline", "@-"], "are all -"),
    ],
)
def test_standard_input_is_one_input_at_most(pool_blob: Path, args: list[str], named: str) -> None:
    # On main the second reader got nothing, and said so as a corrupt input (exit 3: "0 bytes is too short").
    args = [
        str(pool_blob) if a == "POOL" else str(EXAMPLES / "memmap" / "iomem.txt") if a == "MAP" else a for a in args
    ]
    run = run_cli(args, stdin=pool_blob.read_bytes())
    assert run.exit_code == 2, (run.exit_code, run.stderr)
    assert run.stderr.startswith("error: standard input can be read once: ") and named in run.stderr, run.stderr
    assert run.stderr.count("\n") == 1


def test_add_range_overlap_refused_naming_both_then_merged(pool_blob: Path) -> None:
    before = pool_blob.read_bytes()
    run = run_cli(["add-range", str(pool_blob), "0x100100000", "2M"])
    assert_input_error(run, str(pool_blob), "[0x100100000, 0x100300000)", "[0x100000000, 0x100200000)", "--merge")
    assert pool_blob.read_bytes() == before
    ok(run_cli(["add-range", str(pool_blob), "0x100100000", "2M", "--merge"]))
    assert pool_ranges(pool_blob)[0] == (0x100000000, 0x300000)


def test_remove_missing_pages_refused_then_ignored(pool_blob: Path) -> None:
    before = pool_blob.read_bytes()
    assert_input_error(
        run_cli(["remove-range", str(pool_blob), "0x100100000", "2M"]), str(pool_blob), "[0x100200000, 0x100300000)"
    )
    assert pool_blob.read_bytes() == before
    ok(run_cli(["remove-range", str(pool_blob), "0x100100000", "2M", "--ignore-missing"]))
    assert pool_ranges(pool_blob)[0] == (0x100000000, 0x100000)


@pytest.mark.parametrize(
    ("base", "size", "needle"),
    [("0x100000800", "4K", "not aligned"), ("4G", "0", "size 0"), ("0xfffffffffffff000", "8K", "past 2^64")],
)
def test_add_range_refuses_bad_ranges(pool_blob: Path, base: str, size: str, needle: str) -> None:
    before = pool_blob.read_bytes()
    assert_input_error(run_cli(["add-range", str(pool_blob), base, size]), str(pool_blob), needle)
    assert pool_blob.read_bytes() == before


def test_edit_without_pool_is_exit_3(tmp_path: Path) -> None:
    blob = tmp_path / "q.dtb"
    shutil.copy(DATA / "qemu-pseries.dtb", blob)
    assert_input_error(run_cli(["add-range", str(blob), "4G", "4K"]), str(blob), "no pool node /default_pmpool")


def test_edit_of_invalid_pool_is_refused(tmp_path: Path) -> None:
    blob = tmp_path / "b.dtb"
    ok(run_cli(["create", str(blob)]))
    data = blob.read_bytes().replace(b"pmpool-v1\0", b"pmpool-v2\0")
    blob.write_bytes(data)
    assert_input_error(run_cli(["add-range", str(blob), "4G", "4K"]), "binding-invalid", "pmpool-v2")
    assert blob.read_bytes() == data


def test_batch_error_names_file_and_line(pool_blob: Path, tmp_path: Path) -> None:
    batch = tmp_path / "batch.txt"
    batch.write_text("4G 4K\n8G banana\n")
    assert_input_error(run_cli(["add-range", str(pool_blob), "--from", str(batch)]), f"{batch}:2:", "banana")


# --- usage errors (exit 2) and internal errors (exit 70) --------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["add-range", "X", "banana", "4K"], "'banana' is not a number"),
        (["add-range", "X", "--", "4G", "-4K"], "'-4K' is negative"),
        (["add-range", "X", "0x10000000000000000", "4K"], "does not fit in 64 bits"),
        (["add-range", "X", "010", "4K"], "leading zero"),
        (["add-range", "X", "4G"], "give both BASE and SIZE"),
        (["add-range", "X"], "give BASE SIZE, or --from FILE"),
        (["remove-range", "X", "--frobnicate"], "--frobnicate"),
        (["dump", "X", "--json", "--dts"], "exclude each other"),
        (["dump", "X", "--pool", "bad/name"], "is not a node name"),
        (["create", "X", "--pool", "pool@1"], "has a unit address (@1): the binding forbids one"),
        (["create", "X", "--pool", "\u00e9"], "holds '\u00e9', which a node name cannot"),
        (["create", "X", "--pool", "p" * 32], "is 32 characters long; a node name is at most 31"),
        (["create", "X", "--pool", "chosen"], "/chosen is the devicetree specification's node for the boot arguments"),
        (["dump", "X", "--pool", "chosen"], "not a pool node"),
        (["validate", "X", "--pool", "pool@1@2"], "is not a node name"),
        (["create", "X", "--page-size", "3000"], "power of two"),
        (["create", "X", "--range", "4G"], "--range"),
        (["dump"], "BLOB"),
        (["nosuchcommand"], "nosuchcommand"),
    ],
)
def test_usage_errors_are_exit_2_with_one_line(
    args: list[str], needle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # X is a name there: a usage error writes nothing, not even X
    run = run_cli(args)
    assert list(tmp_path.iterdir()) == []
    assert run.exit_code == 2, (run.stdout, run.stderr)
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    assert needle in lines[0]
    if "--json" in args:  # the same error, for a script that reads stdout
        assert json.loads(run.stdout) == {"schema": "pmpoolctl.error/v1", "exit_code": 2, "message": lines[0][7:]}
    else:
        assert run.stdout == ""


def test_internal_error_is_exit_70_and_debug_shows_traceback(pool_blob: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("pmpoolctl.output.dump.render_dump", broken)
    run = run_cli(["dump", str(pool_blob)])
    assert run.exit_code == 70
    assert run.stderr.splitlines() == [
        f"error: internal error: RuntimeError: boom (a bug in pmpoolctl {__version__}; "
        "rerun with --debug for the traceback)"
    ]
    debug = run_cli(["--debug", "dump", str(pool_blob)])
    assert debug.exit_code == 70
    assert "Traceback" in debug.stderr and "RuntimeError: boom" in debug.stderr


def test_debug_shows_traceback_for_input_errors_too(tmp_path: Path) -> None:
    bad = tmp_path / "bad.dtb"
    bad.write_bytes(b"\0" * 64)
    assert_input_error(run_cli(["dump", str(bad)]), "bad magic", "offset 0x0")
    debug = run_cli(["--debug", "dump", str(bad)])
    assert debug.exit_code == 3 and "Traceback" in debug.stderr


def test_version_and_help() -> None:
    assert ok(run_cli(["--version"])).stdout == f"pmpoolctl, version {__version__}\n"
    for command in ("create", "dump", "add-range", "remove-range"):
        text = ok(run_cli([command, "--help"])).stdout
        assert "Example:" in text
        assert f"pmpoolctl {command} " in text


@pytest.mark.parametrize("group", [[], ["kho"], ["kho", "--no-color"]])
def test_a_group_without_its_command_prints_its_help_and_exits_2(group: list[str]) -> None:
    run = run_cli(group)
    assert (run.exit_code, run.stderr) == (2, "")
    assert run.stdout.startswith(f"Usage: pmpoolctl {' '.join(group[:1])}".rstrip() + " [OPTIONS] COMMAND")
    assert "Commands:" in run.stdout and "\\x0a" not in run.stdout


def test_terminal_output_is_rich_and_coloured_pipes_are_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal gets rich (colour unless NO_COLOR); a pipe gets plain lines and never imports rich."""
    import io
    import pty

    from pmpoolctl.output.console import PlainConsole, make_console

    piped = io.StringIO()
    monkeypatch.setattr("sys.stdout", piped)
    console = make_console()
    assert isinstance(console, PlainConsole)
    console.print("FAIL: 1 error", style="bold red")
    assert piped.getvalue() == "FAIL: 1 error\n"

    primary, secondary = pty.openpty()
    with os.fdopen(secondary, "w") as terminal:
        monkeypatch.setattr("sys.stdout", terminal)
        monkeypatch.delenv("NO_COLOR", raising=False)
        make_console().print("FAIL: 1 error", style="bold red")
        terminal.flush()
        make_console(no_color=True).print("OK: 0 errors", style="bold green")
        terminal.flush()
    shown = b""
    while b"OK: 0 errors" not in shown:  # a pty hands over what was written in pieces
        shown += os.read(primary, 4096)
    os.close(primary)
    assert b"\x1b[1;31mFAIL: 1 error\x1b[0m" in shown  # bold red on a terminal
    assert b"OK: 0 errors" in shown and b"\x1b[1;32m" not in shown  # --no-color: none


def test_a_piped_command_does_not_import_rich(tmp_path: Path) -> None:
    code = (
        "import sys; from pmpoolctl.cli import main; sys.argv = ['pmpoolctl', 'dump', 'examples/pool.dtb']\n"
        "try: main()\nexcept SystemExit: pass\nprint('rich' in sys.modules, file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert proc.stderr.strip() == "False", proc.stderr


def _on_a_terminal(args: list[str]) -> bytes:
    """Everything `pmpoolctl ARGS` writes to stdout and stderr when both are a terminal (a pty)."""
    import pty

    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pmpoolctl", *args], stdout=secondary, stderr=secondary, cwd=REPO)
    os.close(secondary)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(primary, 1 << 16)
        except OSError:  # the terminal closed: the command is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    shown = b"".join(chunks)
    assert proc.wait(timeout=60) == 0, shown[-2000:]
    return shown


def test_long_work_shows_a_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    """A big batch and a big validation show a rich bar on a terminal; pipes and --json never do."""
    batch = tmp_path / "batch.txt"
    batch.write_text("".join(f"{(1 << 40) + i * 0x2000:#x} 4K\n" for i in range(150_000)))
    blob = tmp_path / "pool.dtb"
    shutil.copy(EXAMPLES / "pool.dtb", blob)

    assert b"reading /" in _on_a_terminal(["add-range", str(blob), "--from", str(batch)])  # the bar and its label
    assert len(json.loads(run_cli(["dump", str(blob), "--json"]).stdout)["pool"]["ranges"]) == 150_002

    memmap = tmp_path / "iomem.txt"  # RAM under every range: the check passes, its output is short
    memmap.write_text("100000000-1ffffffffff : System RAM\n")
    check = ["validate", str(blob), "--memmap", str(memmap)]
    piped = subprocess.run([sys.executable, "-m", "pmpoolctl", *check], capture_output=True, cwd=REPO, check=True)
    assert b"checking" not in piped.stdout + piped.stderr and b"\x1b[" not in piped.stdout + piped.stderr
    assert b"checking 150002 ranges" in _on_a_terminal(check)
    as_json = _on_a_terminal([*check, "--json"])
    assert b"checking" not in as_json and b"\x1b[" not in as_json
    small = _on_a_terminal(["validate", str(EXAMPLES / "pool.dtb")])
    assert b"checking" not in small  # quick work: no bar


@pytest.mark.parametrize("where", ["before", "after"])  # `pmpoolctl -q CMD` and `pmpoolctl CMD -q`
def test_quiet_prints_nothing_and_keeps_exit_codes(pool_blob: Path, tmp_path: Path, where: str) -> None:
    iomem = str(EXAMPLES / "memmap" / "iomem.txt")
    bad = str(EXAMPLES / "bad-pool.dtb")
    cases = [
        (["dump", str(pool_blob)], 0),
        (["dump", "--json", str(pool_blob)], 0),
        (["dump", "--dts", str(pool_blob)], 0),
        (["validate", str(pool_blob), "--memmap", iomem], 0),
        (["validate", bad, "--memmap", iomem, "--json"], 1),
        (["memmap", iomem], 0),
        (["add-range", str(pool_blob), "0x180000000", "64M"], 0),
    ]
    for args, code in cases:
        argv = ["-q", *args] if where == "before" else [*args, "--quiet"]
        run = run_cli(argv)
        assert (run.exit_code, run.stdout, run.stderr) == (code, "", ""), argv
    # the quiet add-range wrote: the pool now holds 64 MiB more
    assert "before: 2 ranges, 1.06 GiB" in run_cli(["remove-range", str(pool_blob), "0x180000000", "64M", "-n"]).stdout
    corrupt = tmp_path / "corrupt.dtb"
    corrupt.write_bytes(b"\xd0\x0d\xfe\xed" + bytes(36))
    assert_input_error(run_cli(["-q", "dump", str(corrupt)]), str(corrupt))  # errors are never quiet


def test_an_overlap_hint_names_what_the_command_takes(tmp_path: Path) -> None:
    """create has no --merge: its refusal of overlapping --range says what to do instead."""
    out = tmp_path / "new.dtb"
    run = run_cli(["create", str(out), "--range", "4G", "8K", "--range", "0x100001000", "4K"])
    assert_input_error(run, str(out), "overlap each other (create has no --merge: give each page in one range only)")
    assert "use --merge" not in run.stderr and not out.exists()
    ok(run_cli(["create", str(out), "--range", "4G", "8K"]))
    edit = run_cli(["add-range", str(out), "0x100001000", "4K"])
    assert_input_error(edit, str(out), "overlaps pool range [0x100000000, 0x100002000) (use --merge to allow)")
