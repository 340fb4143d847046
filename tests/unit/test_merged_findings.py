"""Findings of one rule and range are merged into one: it keeps the most severe."""

from __future__ import annotations

from pmpoolctl.check.findings import Conflict, Severity
from pmpoolctl.check.rules import finding
from pmpoolctl.check.validate import merged
from pmpoolctl.ranges.rangeset import Range


def test_a_warning_found_first_does_not_hide_an_error_of_the_same_rule() -> None:
    warned = finding("kho-not-requested", "maybe off", severity=Severity.WARNING)
    erred = finding("kho-not-requested", "certainly off", severity=Severity.ERROR)
    (one,) = merged([warned, erred])
    assert (one.severity, one.message) == (Severity.ERROR, "certainly off")
    (one,) = merged([erred, warned])
    assert one.severity is Severity.ERROR


def test_the_error_leads_and_every_conflict_stays() -> None:
    pages = Range(0x1000, 0x1000)
    a, b = (Conflict(0x0, 0x2000 + n, "t", f"src{n}") for n in (1, 2))
    warned = finding("range-outside-ram", "w", pages, a, severity=Severity.WARNING)
    erred = finding("range-outside-ram", "e", pages, b, severity=Severity.ERROR)
    (one,) = merged([warned, erred])
    assert one.severity is Severity.ERROR and one.conflicts == (b, a)
    assert one.message.startswith("e; also ")
