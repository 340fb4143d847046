"""Findings: what a check found, as data to report, never as exceptions."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pmpoolctl.ranges.rangeset import Range


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)  # slots: a report can hold a million findings
class Conflict:
    """What a range ran into: a memory-map entry (or a hole in the map) and where it was read."""

    start: int
    end: int
    type: str
    source: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One broken rule: its id (cli.md's rule table), severity, the range it is about.

    A range that several maps (or several entries of one map) refuse for the same rule
    is one finding: `conflict` is the first of them, `also` the rest. A finding that
    stands for many of the same fault (ranges out of order past the first few) has a
    `count` above 1.
    """

    rule: str
    severity: Severity
    message: str
    range: Range | None = None
    conflict: Conflict | None = None
    also: tuple[Conflict, ...] = ()
    count: int = 1

    @property
    def conflicts(self) -> tuple[Conflict, ...]:
        """Every conflict, the first one first (none for a finding about the pool's own shape)."""
        return () if self.conflict is None else (self.conflict, *self.also)
