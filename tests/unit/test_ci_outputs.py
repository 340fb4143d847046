"""validate's outputs for CI and fleets: GitHub workflow commands and summary, Prometheus textfiles."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pmpoolctl.check.findings import Conflict
from pmpoolctl.check.rules import RULE_IDS, RULES, finding
from pmpoolctl.check.validate import Report, validate
from pmpoolctl.dtb.reader import parse_blob
from pmpoolctl.errors import WriteError
from pmpoolctl.files.safewrite import append_file
from pmpoolctl.memmap.blobmap import blob_reservations
from pmpoolctl.memmap.sources import load_memory_map
from pmpoolctl.output.github import (
    SUMMARY_ROWS,
    escape_data,
    escape_property,
    location,
    markdown_text,
    summary_markdown,
    workflow_command,
)
from pmpoolctl.output.metrics import label_value, metrics_error_text, metrics_text
from pmpoolctl.pool.poolfile import require_pool
from pmpoolctl.ranges.rangeset import Range
from tests.conftest import EXAMPLES

BAD = "examples/bad-pool.dtb"
MAP = "examples/memmap/iomem.txt"


@pytest.fixture
def bad_report(monkeypatch: pytest.MonkeyPatch) -> Report:
    monkeypatch.chdir(EXAMPLES.parent)
    blob = parse_blob(Path(BAD).read_bytes(), BAD)
    return validate(require_pool(blob, "default_pmpool"), [load_memory_map(MAP, None)], blob_reservations(blob), None)


# --- GitHub workflow commands ------------------------------------------------------------------


def test_escaping_follows_the_runner() -> None:
    assert escape_data("50% a\r\nb: c, d") == "50%25 a%0D%0Ab: c, d"
    assert escape_property("50% a\r\nb: c, d") == "50%25 a%0D%0Ab%3A c%2C d"
    assert escape_data("%0A") == "%250A"  # an escape in input stays text, never becomes a newline


def test_findings_point_at_the_map_line_or_the_blob(bad_report: Report) -> None:
    lines = [workflow_command(f, BAD) for f in bad_report.findings]
    assert lines[0].startswith("::error file=examples/memmap/iomem.txt,line=7,title=range-in-kernel::range [0x1000000")
    assert lines[1].startswith("::error file=examples/bad-pool.dtb,title=range-in-memreserve::")  # memreserve[0]
    assert lines[2].startswith("::error file=examples/memmap/iomem.txt,line=11,title=range-outside-ram::")
    assert all("\n" not in line for line in lines)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("dmesg.txt:612", ("dmesg.txt", 612)),
        ("a:b.txt:3", ("a:b.txt", 3)),
        ("pool.dtb:/reserved-memory/fb@0", ("pool.dtb", None)),
        ("pool.dtb:memreserve[2]", ("pool.dtb", None)),
        ("weird", ("weird", None)),
        ("x.txt:0", ("x.txt:0", None)),
    ],
)
def test_where_a_conflict_was_read(source: str, expected: tuple[str, int | None]) -> None:
    found = finding("range-in-reserved", "m", Range(0, 4096), Conflict(0, 4096, "reserved", source))
    assert location(found, "blob.dtb") == expected


def test_a_finding_without_a_conflict_is_on_the_blob_and_a_warning_is_a_warning() -> None:
    touching = finding("ranges-not-coalesced", "a\nb, c: 100%", Range(0, 4096))
    assert workflow_command(touching, "b,1.dtb") == (
        "::warning file=b%2C1.dtb,title=ranges-not-coalesced::a%0Ab, c: 100%25"
    )


def test_a_hostile_source_cannot_forge_a_command() -> None:
    source = "x\n::error file=evil::pwned:5"
    forged = finding("range-in-kernel", "m\n::error::forged", Range(0, 4096), Conflict(0, 4096, "k", source))
    line = workflow_command(forged, "b")
    # One line; the properties hold no `::`, so the runner's first `::` after them starts the message.
    assert "\n" not in line
    command, properties, message = line.split("::", 3)[1].partition(" ")[0], *line[2:].split("::", 1)
    assert command == "error" and message == "m%0A::error::forged"
    assert properties == "error file=x%0A%3A%3Aerror file=evil%3A%3Apwned,line=5,title=range-in-kernel"


def test_summary_markdown(bad_report: Report) -> None:
    text = summary_markdown(bad_report, BAD, False)
    lines = text.splitlines()
    assert lines[0] == "### pmpoolctl validate: FAIL"
    assert lines[2] == "examples/bad-pool.dtb: /default\\_pmpool: 4 ranges checked, 3 errors, 0 warnings"
    assert lines[4] == "- memory map examples/memmap/iomem.txt (iomem, 13 entries)"
    assert lines[6] == "| severity | rule | range | where | message |"
    assert lines[8].startswith("| error | range-in-kernel | \\[0x1000000, 0x1200000) | examples/memmap/iomem.txt:7 |")
    assert len([line for line in lines if line.startswith("| error")]) == 3
    assert text.endswith("\n")


def test_summary_cells_hold_no_markup_and_the_table_is_cut() -> None:
    assert markdown_text("a|b <script> `c` *d*\ne") == "a\\|b &lt;script&gt; \\`c\\` \\*d\\* e"
    many = [finding("range-in-kernel", f"m{i}", Range(i * 4096, 4096)) for i in range(SUMMARY_ROWS + 5)]

    class Pool:
        path = "/p"
        ranges = (Range(0, 4096),)

    report = Report(Pool(), [], many)  # type: ignore[arg-type]
    text = summary_markdown(report, "b", False)
    assert text.count("| error |") == SUMMARY_ROWS
    assert "... and 5 more findings (`--json` lists every one)" in text


def test_append_file_appends_and_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("before\n")
    append_file(str(summary), b"one\n")
    append_file(str(summary), b"two\n")
    assert summary.read_text() == "before\none\ntwo\n"
    new = tmp_path / "new.md"
    append_file(str(new), b"x")
    assert new.read_bytes() == b"x" and stat.S_IMODE(new.stat().st_mode) == 0o666 & ~_umask()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(WriteError, match="not a regular file"):
        append_file(str(fifo), b"x")  # opened non-blocking: no reader, no hang
    with pytest.raises(WriteError, match="missing: No such file or directory"):
        append_file(str(tmp_path / "missing" / "s.md"), b"x")


def test_append_file_does_not_follow_a_final_symlink_in_a_sticky_directory(tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to own a link as another user")  # test_other_users covers root in CI
    sticky = tmp_path / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    link = sticky / "summary.md"
    link.symlink_to(victim)
    os.lchown(link, 12345, 12345)
    with pytest.raises(WriteError):
        append_file(str(link), b"x")
    assert victim.read_text() == "keep\n"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# --- Prometheus textfile -----------------------------------------------------------------------


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text.decode("utf-8")):
        assert family.type == "gauge" and family.documentation
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_parse_as_prometheus_reads_them(bad_report: Report) -> None:
    text = metrics_text(bad_report, False, 1, 1796185800.5, [("range-in-kexec-segment", "no kexec segment list")])
    found = samples(text)
    pool = (("pool", "/default_pmpool"),)
    assert found[("pmpool_validate_ok", pool)] == 0
    assert found[("pmpool_validate_exit_code", pool)] == 1
    assert found[("pmpool_ranges", pool)] == 4
    assert found[("pmpool_bytes", pool)] == 1076891648
    assert found[("pmpool_validate_timestamp_seconds", pool)] == 1796185800.5

    def findings(rule: str, severity: str) -> float:
        return found[("pmpool_findings", (("pool", "/default_pmpool"), ("rule", rule), ("severity", severity)))]

    assert findings("range-in-kernel", "error") == 1
    assert findings("range-outside-ram", "error") == 1
    assert findings("ranges-not-coalesced", "warning") == 0  # every rule has a series, 0 when quiet
    assert sum(1 for name, _ in found if name == "pmpool_findings") == len(RULES)
    checked = {dict(labels)["rule"]: v for (name, labels), v in found.items() if name == "pmpool_rule_checked"}
    assert checked == {rule: 0 if rule == "range-in-kexec-segment" else 1 for rule in RULE_IDS}
    for name in ("pmpool_validate_ok", "pmpool_findings", "pmpool_ranges", "pmpool_bytes"):
        assert f"# HELP {name} ".encode() in text and f"# TYPE {name} gauge\n".encode() in text


def test_counted_findings_count_every_fault_and_label_values_are_escaped() -> None:
    counted = finding("ranges-unsorted", "m", Range(0, 4096), count=7)

    class Pool:
        path = '/a"b\\c\nd'
        ranges = type("R", (), {"__len__": lambda self: 1, "total_size": 4096})()

    report = Report(Pool(), [], [counted])  # type: ignore[arg-type]
    text = metrics_text(report, False, 1, 0.0)
    assert b'pool="/a\\"b\\\\c\\nd"' in text
    found = samples(text)
    key = ("pmpool_findings", (("pool", '/a"b\\c\nd'), ("rule", "ranges-unsorted"), ("severity", "error")))
    assert found[key] == 7
    assert label_value('\\"\n') == '\\\\\\"\\n'


def test_a_run_without_a_verdict_is_not_ok() -> None:
    found = samples(metrics_error_text("/default_pmpool", 3, 5.0))
    pool = (("pool", "/default_pmpool"),)
    assert found == {
        ("pmpool_validate_ok", pool): 0,
        ("pmpool_validate_exit_code", pool): 3,
        ("pmpool_validate_timestamp_seconds", pool): 5.0,
    }
