"""`dump`: a blob's header, reservation block and pool, as text and as pmpoolctl.dump/v1 JSON."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from operator import add, attrgetter, floordiv
from typing import TYPE_CHECKING, Any

from pmpoolctl.check.findings import Finding
from pmpoolctl.dtb.dts import format_value
from pmpoolctl.dtb.format import HEADER_SHOWN
from pmpoolctl.dtb.model import Blob
from pmpoolctl.numbers import counted, human_size, plural
from pmpoolctl.output.common import RANGE_FIELDS, finding_cells, print_table, range_columns
from pmpoolctl.output.console import Console
from pmpoolctl.output.jsonwriter import INTEGER, Records
from pmpoolctl.output.tables import Column, Fast, hex_column, index_column, int_column, size_column
from pmpoolctl.pool.binding import Pool
from pmpoolctl.ranges.rangearray import RangeArray

if TYPE_CHECKING:  # only for annotations: `dump` need not import the validator
    pass

DUMP_SCHEMA = "pmpoolctl.dump/v1"


def _print_problems(console: Console, problems: Sequence[Finding]) -> None:
    """A pool's binding problems as a table (never `error:` lines, which read as the tool's own errors)."""
    cells = finding_cells(problems)
    columns = [
        Column("severity", cells(lambda f: f.severity.value)),
        Column("rule", cells(attrgetter("rule"))),
        Column("range", cells(lambda f: str(f.range) if f.range else ""), wrap=True),
        Column("problem", cells(attrgetter("message")), wrap=True),
    ]
    print_table(console, columns, len(problems))


def _bytes(size: int) -> str:
    """`N bytes`, with binary units beside it once they say something."""
    return counted(size, "byte") if size < 1024 else f"{size} bytes ({human_size(size)})"


def dump_json(blob: Blob, pool: Pool | None, source: str, pools: Sequence[Pool] = ()) -> dict[str, Any]:
    """The `dump --json` document (schema pmpoolctl.dump/v1); `pools` lists every pool of the blob."""
    header = blob.header
    document: dict[str, Any] = {
        "schema": DUMP_SCHEMA,
        "file": source,
        "header": {name: getattr(header, name) for name in HEADER_SHOWN},
        "reservations": Records(
            [("address", INTEGER), ("size", INTEGER)],
            len(blob.reservations),
            lambda start, stop: (
                blob.reservations.addresses[start:stop].tolist(),
                blob.reservations.sizes[start:stop].tolist(),
            ),
        ),
        "pool": None,
    }
    if pool is not None:
        ranges = pool.ranges
        document["pool"] = {
            "path": pool.path,
            "compatible": pool.compatible,
            "page_size": pool.page_size,
            "ranges": Records(RANGE_FIELDS, len(ranges), range_columns(ranges)),
            "total_bytes": pool.total_bytes,
            "total_pages": pool.total_pages,
            "other_properties": [
                {"name": n, "value": format_value(v) if v else None} for n, v in pool.extra_properties()
            ],
            "problems": [{"rule": p.rule, "severity": p.severity.value, "message": p.message} for p in pool.problems],
        }
    document["pools"] = [_pool_summary(p) for p in pools]
    return document


def _pool_summary(pool: Pool) -> dict[str, Any]:
    return {
        "path": pool.path,
        "ranges": len(pool.ranges),
        "total_bytes": pool.total_bytes,
        "page_size": pool.page_size,
        "valid": not any(p.severity.value == "error" for p in pool.problems),
    }


def _pool_line(pool: Pool) -> str:
    count = len(pool.ranges)
    broken = "" if not pool.problems else f", {len(pool.problems)} {plural(len(pool.problems), 'problem', 'problems')}"
    return f"{pool.path} ({count} {plural(count, 'range', 'ranges')}, {_bytes(pool.total_bytes)}{broken})"


def _print_pools(console: Console, pool: Pool | None, pool_name: str, pools: Sequence[Pool]) -> None:
    """Every pool of the blob, when there is more than the one shown; a hint when only others exist."""
    others = [p for p in pools if p.name != pool_name]
    if pool is None and others:
        console.print(f"  the blob has other pools: dump one with --pool {others[0].path}")
    if others:
        console.print()
        console.print(f"Pools in this blob: {len(pools)}")
        for one in pools:
            console.print(f"  {_pool_line(one)}{'  (shown above)' if one.name == pool_name else ''}")


def _print_ranges(console: Console, ranges: RangeArray, page_size: int, ordered: bool) -> None:
    """The pool's ranges as a table; `ordered` (a canonical pool) means the last range ends highest."""
    bases, sizes = ranges.bases, ranges.sizes
    rows = len(ranges)
    distinct_sizes = set(sizes)  # for the widths and the size column's cells
    largest_size = max(distinct_sizes, default=0)
    columns = [
        index_column("#", rows),
        hex_column("base", bases, largest=bases[-1] if ordered and rows else None, ascending=ordered),
        _end_column(bases, sizes, ordered),
        int_column("bytes", sizes, largest=largest_size),
        size_column("size", sizes, distinct_sizes),
        Column(
            "pages",
            lambda start, stop: map(str, map(floordiv, sizes[start:stop], repeat(page_size))),
            right=True,
            fast=Fast(
                lambda start, stop: map(floordiv, sizes[start:stop], repeat(page_size)),
                "d",
                lambda: len(str(largest_size // page_size)) if rows else 0,
                key=sizes,
                cell_of=lambda size: str(size // page_size),
            ),
        ),
    ]
    print_table(console, columns, rows)


def _end_column(bases: Sequence[int], sizes: Sequence[int], ordered: bool) -> Column:
    """Hex ends (base + size), computed per chunk; the widest from the last range when `ordered`."""

    def width() -> int:
        if not bases:
            return 0
        largest = bases[-1] + sizes[-1] if ordered else max(map(add, bases, sizes))
        return len(f"{largest:#x}")

    return Column(
        "end",
        lambda start, stop: map("{:#x}".format, map(add, bases[start:stop], sizes[start:stop])),
        fast=Fast(lambda start, stop: map(add, bases[start:stop], sizes[start:stop]), "#x", width, ascending=ordered),
    )


def render_dump(
    console: Console, blob: Blob, pool: Pool | None, source: str, pool_name: str, pools: Sequence[Pool] = ()
) -> None:
    header = blob.header
    # Free is what follows the last block, whichever it is: dtc puts strings last, other writers need not.
    rsvmap_end = header.off_mem_rsvmap + 16 * (len(blob.reservations) + 1)  # and its terminating entry
    used = max(rsvmap_end, header.off_dt_struct + header.size_dt_struct, header.off_dt_strings + header.size_dt_strings)
    console.print(f"{source}: FDT version {header.version} (last compatible {header.last_comp_version})")
    console.print(f"  totalsize {_bytes(header.totalsize)}, boot CPU {header.boot_cpuid_phys:#x}")
    console.print(
        f"  structure block {header.size_dt_struct} bytes at {header.off_dt_struct:#x}, "
        f"strings block {header.size_dt_strings} bytes at {header.off_dt_strings:#x}, "
        f"{max(header.totalsize - used, 0)} bytes free"
    )
    console.print()
    if blob.reservations:
        count = len(blob.reservations)
        console.print(
            f"Memory reservation block at {header.off_mem_rsvmap:#x}: {count} {plural(count, 'entry', 'entries')}"
        )
        addresses, sizes = blob.reservations.addresses, blob.reservations.sizes
        columns = [
            index_column("#", count),
            hex_column("address", addresses),
            _end_column(addresses, sizes, ordered=False),
            size_column("size", sizes),
        ]
        print_table(console, columns, count)
    else:
        console.print(f"Memory reservation block at {header.off_mem_rsvmap:#x}: empty")
    console.print()
    if pool is None:
        console.print(f"Pool /{pool_name}: none")
        _print_pools(console, pool, pool_name, pools)
        return
    compatible = "no compatible" if pool.compatible is None else f'compatible "{pool.compatible}"'
    console.print(f"Pool {pool.path}: {compatible}, page size {pool.page_size} ({human_size(pool.page_size)})")
    for name, value in pool.extra_properties():
        console.print(f"  {name} = {format_value(value)};" if value else f"  {name};")
    if pool.ranges:
        _print_ranges(console, pool.ranges, pool.page_size, pool.canonical)
    else:
        console.print()
    console.print(
        f"Total: {counted(len(pool.ranges), 'range')}, {_bytes(pool.total_bytes)}, {counted(pool.total_pages, 'page')}"
    )
    if pool.problems:
        count = len(pool.problems)
        console.print()
        console.print(f"The pool breaks the binding: {count} {plural(count, 'problem', 'problems')}")
        _print_problems(console, pool.problems)
    _print_pools(console, pool, pool_name, pools)
