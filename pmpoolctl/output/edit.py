"""How `create`, `add-range` and `remove-range` report an edit (apart from the other reports:
an edit imports neither the tables nor the JSON writers)."""

from __future__ import annotations

from collections.abc import Iterator

from pmpoolctl.numbers import human_size, plural
from pmpoolctl.output.console import Console, write_lines
from pmpoolctl.pool.change import Change
from pmpoolctl.ranges.rangearray import RangeArray


def _range_lines(sign: str, ranges: RangeArray) -> Iterator[str]:
    """`  - [base, end)  size` lines; a batch repeats a few sizes, so each is put in words once."""
    words: dict[int, str] = {}
    for base, size in zip(ranges.bases, ranges.sizes):
        shown = words.get(size) or words.setdefault(size, human_size(size))
        yield f"  {sign} [{base:#x}, {base + size:#x})  {shown}\n"  # the range as Range.__str__ writes it


def _totals(totals: tuple[int, int], page_size: int) -> str:
    count, size = totals
    return f"{count} {plural(count, 'range', 'ranges')}, {human_size(size)}, {size // page_size} pages"


def render_change(
    console: Console, source: str, pool_path: str, change: Change, page_size: int, *, dry_run: bool
) -> None:
    """What an edit changes: canonical ranges that go (-) and come (+) on a dry run, and the totals."""
    verb = "would change" if dry_run else "changed"
    if change.same:
        console.print(f"{source}: {pool_path}: no change" + (" (dry run)" if dry_run else ""))
        return
    console.print(f"{source}: {pool_path} {verb}" + (" (dry run, nothing written)" if dry_run else ""))
    for sign, ranges in (("-", change.removed), ("+", change.added)):
        if ranges is not None:
            write_lines(console, _range_lines(sign, ranges))
    console.print(f"  before: {_totals(change.before, page_size)}")
    console.print(f"  after:  {_totals(change.after, page_size)}")
