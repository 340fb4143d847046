"""What an edit changed: the totals before and after, and (for a dry run) the ranges that go and come."""

from __future__ import annotations

from dataclasses import dataclass

from pmpoolctl.ranges.rangearray import RangeArray, changed


@dataclass(frozen=True)
class Change:
    """What an edit did, kept small: the totals, and (for a dry run) the canonical ranges that go and come."""

    before: tuple[int, int]  # (ranges, bytes)
    after: tuple[int, int]
    same: bool
    removed: RangeArray | None = None
    added: RangeArray | None = None

    @classmethod
    def of(cls, before: RangeArray, after: RangeArray, *, listed: bool) -> Change:
        same = before == after
        removed, added = changed(before, after) if listed and not same else (None, None)
        return cls((len(before), before.total_size), (len(after), after.total_size), same, removed, added)
