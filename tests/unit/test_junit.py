"""JUnit reports with their context, read by a real JUnit parser (junitparser) and held to a golden file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import junitparser
import pytest

from pmpoolctl import __version__
from pmpoolctl.check.validate import Report, validate
from pmpoolctl.dtb.reader import parse_blob
from pmpoolctl.memmap.blobmap import blob_reservations
from pmpoolctl.memmap.sources import load_memory_map
from pmpoolctl.output.junit import RunContext, check_properties, junit_error_xml, junit_xml
from pmpoolctl.pool.poolfile import require_pool
from tests.conftest import EXAMPLES, check_golden

BAD = EXAMPLES / "bad-pool.dtb"
MAP = "examples/memmap/iomem.txt"  # relative, so that the golden file holds no machine's path
STARTED = 1796185800.0  # 2026-12-02T04:30:00Z


def bad_report() -> tuple[Report, str]:
    data = BAD.read_bytes()
    blob = parse_blob(data, "examples/bad-pool.dtb")
    pool = require_pool(blob, "default_pmpool")
    maps = [load_memory_map(MAP, None)]
    return validate(pool, maps, blob_reservations(blob), None), hashlib.sha256(data).hexdigest()


def context(report: Report, sha256: str) -> RunContext:
    properties = check_properties(report.pool.path, report.maps, sha256)
    return RunContext(STARTED, 0.1234, properties, hostname="host-1.example", kernel_release="6.12.0-test")


def properties_of(suite: junitparser.TestSuite) -> list[tuple[str, str]]:
    """(name, value) of each property, in order (junitparser leaves TestSuite.properties unannotated)."""
    return [(p.name, p.value) for p in suite.properties()]  # type: ignore[no-untyped-call]


def parse(xml: bytes, tmp_path: Path) -> junitparser.TestSuite:
    path = tmp_path / "report.xml"
    path.write_bytes(xml)
    document = junitparser.JUnitXml.fromfile(str(path))
    suites = list(document) if isinstance(document, junitparser.JUnitXml) else [document]
    assert len(suites) == 1
    suite: junitparser.TestSuite = suites[0]
    return suite


def test_a_report_carries_its_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES.parent)  # MAP is relative to the repository
    report, sha256 = bad_report()
    xml = junit_xml(report, "examples/bad-pool.dtb", False, context(report, sha256))
    check_golden("junit-bad-pool.xml", xml.decode("utf-8").replace(f'"{__version__}"', '"VERSION"'))
    suite = parse(xml, tmp_path)
    assert suite.hostname == "host-1.example"
    assert suite.timestamp == "2026-12-02T04:30:00+00:00"
    assert suite.time == 0.123
    properties = dict(properties_of(suite))
    assert properties == {
        "pmpoolctl.version": __version__,
        "kernel.release": "6.12.0-test",
        "blob.sha256": hashlib.sha256(BAD.read_bytes()).hexdigest(),
        "pool": "/default_pmpool",
        "memmap": f"{MAP} (iomem, 13 entries)",
    }
    assert suite.failures == 3 and suite.errors == 0
    failed = {case.name for case in suite if not case.is_passed}
    assert failed == {"range-in-kernel", "range-in-memreserve", "range-outside-ram"}
    assert all(case.classname == "pmpoolctl.check.validate./default_pmpool" for case in suite)


def test_the_context_defaults_to_this_machine(tmp_path: Path) -> None:
    here = RunContext(STARTED, 2.0)
    assert here.hostname == os_hostname() and here.kernel_release == os_release()
    suite = parse(junit_error_xml("pmpoolctl validate", "x.dtb", "boom", 3, here), tmp_path)
    assert suite.hostname == os_hostname() and suite.time == 2.0
    assert [name for name, _ in properties_of(suite)] == ["pmpoolctl.version", "kernel.release"]
    (case,) = list(suite)
    assert not case.is_passed and case.result[0].type == "exit-3" and case.result[0].message == "boom"


def test_without_a_context_a_report_is_as_before(tmp_path: Path) -> None:
    suite = parse(junit_error_xml("pmpoolctl validate", None, "did not finish", None), tmp_path)
    assert suite.hostname is None and suite.timestamp is None
    assert properties_of(suite) == []


def test_property_values_and_hostnames_are_xml_text(tmp_path: Path) -> None:
    odd = RunContext(STARTED, 0.0, [("memmap", "a\x1bb \u202e")], hostname="h\x00", kernel_release="r")
    suite = parse(junit_error_xml("c", None, "m", 3, odd), tmp_path)
    assert suite.hostname == "h\\x00"
    assert dict(properties_of(suite))["memmap"] == "a\\x1bb \u202e"


def os_hostname() -> str:
    import socket

    return socket.gethostname()


def os_release() -> str:
    import os

    return os.uname().release
