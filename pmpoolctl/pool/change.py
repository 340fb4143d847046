"""What an edit changed: the totals before and after, and (for a dry run) the ranges that go and come."""

from __future__ import annotations

from dataclasses import dataclass

from pmpoolctl.ranges.rangearray import RangeArray, changed


@dataclass(frozen=True)
class Change:
    """What an edit did, kept small: the totals, and (for a dry run) the canonical ranges that go and come.

    `before` and `after` are both the pool's pages in canonical form, as `diff` compares pools, so
    that after = before - removed + added for every edit (canonicalize's too: it keeps the pages).
    How many (base, size) pairs page-ranges stores before and after is `stored`: what
    canonicalize changes, and what an edit of a pool stored with touching ranges merges.
    """

    before: tuple[int, int]  # (canonical ranges, bytes)
    after: tuple[int, int]
    same: bool  # nothing changes: no page, and not the stored form
    stored: tuple[int, int]  # pairs in page-ranges before, and after (as written, or as kept when same)
    removed: RangeArray | None = None
    added: RangeArray | None = None

    @classmethod
    def of(cls, before: RangeArray, after: RangeArray, *, listed: bool, stored: int | None = None) -> Change:
        """`before` and `after` canonical; `stored`: the pairs page-ranges holds now, when not len(before)."""
        same = before == after
        removed, added = changed(before, after) if listed and not same else (None, None)
        was = len(before) if stored is None else stored
        totals = (len(before), before.total_size), (len(after), after.total_size)
        return cls(*totals, same, (was, was if same else len(after)), removed, added)

    @classmethod
    def created(cls, ranges: RangeArray) -> Change:
        """A pool that was not there and now holds `ranges`: a change even when it is empty (`create`)."""
        return cls((0, 0), (len(ranges), ranges.total_size), False, (0, len(ranges)), RangeArray(), ranges)
