"""Findings: what a check found, as data to report, never as exceptions."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pmpoolctl.ranges import Range


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One broken rule: its id (cli.md's rule table), severity, the range it is about."""

    rule: str
    severity: Severity
    message: str
    range: Range | None = None
