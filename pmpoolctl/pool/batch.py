"""Batches of ranges for add-range/remove-range `--from FILE`, read into u64 arrays.

Text: one `BASE SIZE` pair per line, numbers as on the command line, `#` starts
a comment (`batchtext`). JSON: a list of `{"base": …, "size": …}` with integers or
number strings (`batchjson`). Errors name the file and the line (text) or the entry
(JSON). Ten million ranges are two arrays of 80 MB, never ten million objects.
"""

from __future__ import annotations

from collections.abc import Callable

from pmpoolctl.files.sniff import starts_like_json
from pmpoolctl.pool.batchjson import parse_json_batch
from pmpoolctl.pool.batchtext import parse_text_batch
from pmpoolctl.ranges.rangearray import RangeArray


def batch_lines(text: str) -> int:
    """How many lines `parse_batch` reports progress over (JSON batches report none)."""
    return 0 if starts_like_json(text) else text.count("\n") + 1


def parse_batch(text: str, source: str, advance: Callable[[int], None] | None = None) -> RangeArray:
    """The ranges listed in `text` (the contents of `source`), in its order; `advance(lines)` reports progress."""
    if starts_like_json(text):
        return parse_json_batch(text, source)
    return parse_text_batch(text, source, advance)
