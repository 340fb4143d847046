"""JUnit XML reports: one test case per rule, or one in error for a run that reached no verdict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pmpoolctl.check.findings import Finding, Severity

if TYPE_CHECKING:  # only for annotations: `dump` need not import the validator
    import xml.etree.ElementTree as ET

    from pmpoolctl.check.validate import Report


def junit_xml(report: Report | Sequence[Report], source: str, strict: bool) -> bytes:
    """JUnit XML: one test case per rule; failures carry that rule's findings.

    Several reports (`validate --all-pools`) are one test suite per pool.
    """
    import xml.etree.ElementTree as ET

    suites = ET.Element("testsuites")
    reports = [report] if not isinstance(report, Sequence) else list(report)
    for one in reports:
        name = f"pmpoolctl validate {source}" if len(reports) == 1 else f"pmpoolctl validate {source} {one.pool.path}"
        _suite(suites, one, name, strict)
    return bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True))


def _suite(suites: ET.Element, report: Report, name: str, strict: bool) -> None:
    import xml.etree.ElementTree as ET

    from pmpoolctl.check.rules import RULE_IDS

    by_rule: dict[str, list[Finding]] = {rule: [] for rule in RULE_IDS}
    for finding in report.findings:
        by_rule.setdefault(finding.rule, []).append(finding)
    suite = ET.SubElement(suites, "testsuite", name=_xml_text(name), tests=str(len(by_rule)))
    failures = 0
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
    suite.set("failures", str(failures))
    suite.set("errors", "0")


def junit_error_xml(command: str, subject: str | None, message: str, code: int | None) -> bytes:
    """JUnit XML for a check that did not reach a verdict: one test case in error, never a pass.

    `code` is the run's exit code, or None for the stand-in written while the check runs.
    """
    import xml.etree.ElementTree as ET

    name = f"{command} {subject}" if subject is not None else command
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name=_xml_text(name), tests="1", failures="0", errors="1")
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
