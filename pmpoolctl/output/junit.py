"""JUnit XML reports: one test case per rule, or one in error for a run that reached no verdict.

Each test suite says where and when it ran (`hostname`, `timestamp`, `time`) and what it
ran with (`<properties>`: pmpoolctl's version, the blob's sha256, the kernel release, the
memory maps), so that a report kept by CI or a fleet can be traced to its run.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from pmpoolctl import __version__
from pmpoolctl.check.findings import Finding, Severity
from pmpoolctl.numbers import counted

if TYPE_CHECKING:  # only for annotations: `dump` need not import the validator
    import xml.etree.ElementTree as ET

    from pmpoolctl.check.validate import Report, Zone
    from pmpoolctl.memmap.model import MemoryMap


def _hostname() -> str:
    try:
        return socket.gethostname()
    except OSError:  # pragma: no cover - gethostname does not fail on Linux
        return ""


def _kernel_release() -> str:
    return os.uname().release


@dataclass(frozen=True)
class RunContext:
    """Where, when and with what a report's run happened.

    `started` is the wall-clock time the run began (seconds since the epoch), `elapsed` how
    long it took (seconds); `properties` are (name, value) pairs after the ones every report
    has (`pmpoolctl.version`, `kernel.release`). Tests give `hostname` and `kernel_release`
    to have reports that do not depend on the machine.
    """

    started: float
    elapsed: float
    properties: Sequence[tuple[str, str]] = ()
    hostname: str = field(default_factory=_hostname)
    kernel_release: str = field(default_factory=_kernel_release)

    @property
    def timestamp(self) -> str:
        """ISO 8601 in UTC to the second, with its offset (`2026-12-02T04:45:00+00:00`)."""
        return datetime.fromtimestamp(self.started, timezone.utc).isoformat(timespec="seconds")

    def all_properties(self) -> list[tuple[str, str]]:
        return [("pmpoolctl.version", __version__), ("kernel.release", self.kernel_release), *self.properties]


def check_properties(
    pool_path: str,
    maps: Sequence[MemoryMap],
    sha256: str | None = None,
    sha256_name: str = "blob.sha256",
    zones: Sequence[Zone] = (),
) -> list[tuple[str, str]]:
    """A check's own properties: the file's sha256 (the blob's, or a KHO root's), the pool, each map read,
    and each zone the ranges were held clear of besides the maps (KHO's)."""
    properties = [] if sha256 is None else [(sha256_name, sha256)]
    properties.append(("pool", pool_path))
    for memory_map in maps:
        entries = counted(len(memory_map.entries), "entry", "entries")
        properties.append(("memmap", f"{memory_map.source} ({memory_map.format}, {entries})"))
    for zone in zones:
        properties.append(("zone", f"{zone.rule}: {zone.where} ({counted(len(zone.entries), 'entry', 'entries')})"))
    return properties


def _suite(parent: ET.Element, name: str, context: RunContext | None, **attributes: str) -> ET.Element:
    """A `testsuite` element with its context's attributes and `<properties>`."""
    import xml.etree.ElementTree as ET

    suite = ET.SubElement(parent, "testsuite", {"name": _xml_text(name), **attributes})
    if context is None:
        return suite
    suite.set("hostname", _xml_text(context.hostname))
    suite.set("timestamp", context.timestamp)
    suite.set("time", f"{max(context.elapsed, 0.0):.3f}")
    properties = ET.SubElement(suite, "properties")
    for name_, value in context.all_properties():
        ET.SubElement(properties, "property", name=_xml_text(name_), value=_xml_text(value))
    return suite


def junit_xml(
    report: Report | Sequence[Report],
    source: str,
    strict: bool,
    context: RunContext | None = None,
    unchecked: Sequence[tuple[str, str]] = (),
) -> bytes:
    """JUnit XML: one test case per rule; failures carry that rule's findings.

    Several reports (`validate --all-pools`) are one test suite per pool. A rule of `unchecked`
    ((rule, why) pairs: `Validation.skipped`, the rules that checked nothing) without findings is
    skipped, with why, not shown as passed.
    """
    import xml.etree.ElementTree as ET

    from pmpoolctl.check.rules import RULE_IDS

    suites = ET.Element("testsuites")
    reports = [report] if not isinstance(report, Sequence) else list(report)
    for one in reports:
        name = f"pmpoolctl validate {source}" if len(reports) == 1 else f"pmpoolctl validate {source} {one.pool.path}"
        by_rule: dict[str, list[Finding]] = {rule: [] for rule in RULE_IDS}
        for finding in one.findings:
            by_rule.setdefault(finding.rule, []).append(finding)
        _rule_cases(_suite(suites, name, context, tests=str(len(by_rule))), one, by_rule, strict, dict(unchecked))
    return bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True))


def _rule_cases(
    suite: ET.Element, report: Report, by_rule: dict[str, list[Finding]], strict: bool, unchecked: dict[str, str]
) -> None:
    """One test case per rule in `suite`; failures carry that rule's findings, and a rule that
    could not run is skipped."""
    import xml.etree.ElementTree as ET

    failures = skipped = 0
    for rule, findings in by_rule.items():
        case = ET.SubElement(suite, "testcase", classname=f"pmpoolctl.check.validate.{report.pool.path}", name=rule)
        failing = [f for f in findings if f.severity is Severity.ERROR or strict]
        text = _xml_text("\n".join(f"{f.severity.value}: {f.message}" for f in findings))
        if failing:
            failures += 1
            message = _xml_text(f"{len(findings)} finding(s): {findings[0].message}")
            failure = ET.SubElement(case, "failure", message=message)
            failure.set("type", rule)
            failure.text = text
        elif findings:
            ET.SubElement(case, "system-out").text = text
        elif rule in unchecked:
            skipped += 1
            ET.SubElement(case, "skipped", message=_xml_text(unchecked[rule]))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))


def junit_error_xml(
    command: str, subject: str | None, message: str, code: int | None, context: RunContext | None = None
) -> bytes:
    """JUnit XML for a check that did not reach a verdict: one test case in error, never a pass.

    `code` is the run's exit code, or None for the stand-in written while the check runs.
    """
    import xml.etree.ElementTree as ET

    name = f"{command} {subject}" if subject is not None else command
    suites = ET.Element("testsuites")
    suite = _suite(suites, name, context, tests="1", failures="0", errors="1")
    case = ET.SubElement(suite, "testcase", classname=_xml_text(command.replace(" ", ".")), name="run")
    error = ET.SubElement(case, "error", message=_xml_text(message))
    error.set("type", "did-not-finish" if code is None else f"exit-{code}")
    error.text = _xml_text(message if code is None else f"exit {code}: {message}")
    return bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True))


def _xml_text(text: str) -> str:
    """Text XML 1.0 can hold: other characters (controls, lone surrogates) as \\xNN escapes."""
    if all(_xml_char(c) for c in text):
        return text
    return "".join(c if _xml_char(c) else f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}" for c in text)


def _xml_char(char: str) -> bool:
    code = ord(char)
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code >= 0x10000
